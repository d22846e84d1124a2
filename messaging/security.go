package messaging

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/messaging/ratelog"
)

// Security selects how a [TCP] transport protects its connections (see
// docs/security.md for the threat model of each mode):
//
//   - none (every field empty): plaintext; anyone who reaches the port is
//     a member;
//   - keyring (KeyringFile): every frame sealed with AES-256-GCM under a
//     shared key, so only holders of a key take part;
//   - mutual TLS (CAFile, CertFile, KeyFile): TLS 1.3 with a certificate
//     from the CA required on both sides; every received [Packet] carries
//     the peer's [Identity], which the gossiper checks against the node ID
//     of every envelope.
//
// A transport in one mode refuses peers in another before reading anything
// they send, telling them why, and counts them ([Stats.Refusals], reason
// "security_mode"). The files are read when the transport starts and again
// when they change on disk (see [Security.KeyringFile], [Security.CertFile]).
type Security struct {
	// CAFile is the PEM bundle of the certificate authorities a peer's
	// certificate must chain to. Set with CertFile and KeyFile for mutual
	// TLS.
	CAFile string
	// CertFile is this node's PEM certificate (chain), presented on every
	// connection, dialled and accepted alike. Its DNS SANs, or URI SANs
	// "hearsay:<id>", must name the node's ID. The three files are read
	// again when one of them changes on disk (checked on new handshakes,
	// at most every 100 ms): new connections use the new certificate,
	// open ones keep theirs.
	CertFile string
	// KeyFile is the PEM private key of CertFile.
	KeyFile string
	// KeyringFile holds the keyring: one standard base64 key of 32 bytes a
	// line (`hearsay keygen`), blank lines and # comments ignored; the
	// first key seals what this node sends, every key is tried on what it
	// receives. The file is read again when it changes (checked at most
	// once a second, as it is used), so a key rotates without a restart.
	// Not with the TLS files: TLS already encrypts and authenticates.
	KeyringFile string
	// Cluster is bound into every sealed frame (keyring mode), so frames
	// of another cluster sharing a key do not open. The gossiper sets it
	// to its ClusterName.
	Cluster string
	// ID is this node's ID (mutual TLS). When set, a certificate that
	// changes on disk is used only if its names cover ID: a rotated
	// certificate naming another node would make every peer refuse this
	// node's envelopes, so the previous one stays in use and the error is
	// logged (so does a changed certificate that is expired or not yet
	// valid, ID set or not). The gossiper sets it to its ID. (At start,
	// the gossiper logs such a certificate and the agent refuses it.)
	ID string
}

// Security modes, as [Security.Mode] names them.
const (
	ModeNone    = "none"
	ModeKeyring = "keyring"
	ModeTLS     = "tls"
)

// Mode returns "none", "keyring" or "tls".
func (s Security) Mode() string {
	switch {
	case s.KeyringFile != "":
		return ModeKeyring
	case s.CAFile != "" || s.CertFile != "" || s.KeyFile != "":
		return ModeTLS
	}
	return ModeNone
}

// validate returns one error per problem, naming the field and the file.
func (s Security) validate() []error {
	var errs []error
	bad := func(field, value, rule string) {
		errs = append(errs, fmt.Errorf("messaging: TCPConfig.Security.%s = %q: %s", field, value, rule))
	}
	readable := func(field, path string) {
		f, err := os.Open(path)
		if err != nil {
			bad(field, path, fmt.Sprintf("cannot read the file: %v", err))
			return
		}
		_ = f.Close()
	}
	tlsSet := s.CAFile != "" || s.CertFile != "" || s.KeyFile != ""
	if tlsSet {
		for _, f := range []struct{ name, path string }{{"CAFile", s.CAFile}, {"CertFile", s.CertFile}, {"KeyFile", s.KeyFile}} {
			if f.path == "" {
				bad(f.name, "", "mutual TLS needs CAFile, CertFile and KeyFile together")
			} else {
				readable(f.name, f.path)
			}
		}
		if s.KeyringFile != "" {
			bad("KeyringFile", s.KeyringFile, "use either the keyring or the TLS files, not both: TLS already encrypts and authenticates")
		}
	} else if s.KeyringFile != "" {
		readable("KeyringFile", s.KeyringFile)
	}
	return errs
}

// security is a transport's loaded credentials.
type security struct {
	mode    string
	tls     *tlsFiles    // mode tls
	ring    *keyringFile // mode keyring
	cluster string
	reloads atomic.Uint64 // credentials read again after a change on disk
}

// newSecurity loads the credentials s names; the error names the file.
func newSecurity(s Security, onError func(error)) (*security, error) {
	sec := &security{mode: s.Mode(), cluster: s.Cluster}
	var err error
	switch sec.mode {
	case ModeTLS:
		sec.tls, err = newTLSFiles(s.CAFile, s.CertFile, s.KeyFile, onError, &sec.reloads)
		if sec.tls != nil {
			sec.tls.id = s.ID
		}
	case ModeKeyring:
		sec.ring, err = newKeyringFile(s.KeyringFile, onError, &sec.reloads)
	}
	if err != nil {
		return nil, fmt.Errorf("messaging: %w", err)
	}
	return sec, nil
}

// errTLS is wrapped by every failed TLS handshake, errBadKey by a keyring
// handshake whose first sealed frame does not open.
var (
	errTLS    = errors.New("TLS handshake failed")
	errBadKey = errors.New("the peer holds no key of this keyring")
)

// Refusal reasons of the secured transport, keys of [Stats.Refusals].
const (
	refuseSecurityMode = "security_mode"
	refuseTLS          = "tls_handshake"
	refuseBadKey       = "bad_key"
	refuseByPeer       = "peer_refused"
)

// securityReason returns the refusal reason of a failed secure handshake,
// "" if err is not one.
func securityReason(err error) string {
	switch {
	case errors.Is(err, ErrSecurityMode):
		return refuseSecurityMode
	case errors.Is(err, ErrRefusedByPeer):
		return refuseByPeer
	case errors.Is(err, errTLS):
		return refuseTLS
	case errors.Is(err, errBadKey):
		return refuseBadKey
	}
	return ""
}

// peekMode tells, from the first bytes a dialer sends, which mode it runs
// in: a TLS record (0x16 0x03), a keyring hello or a plaintext handshake;
// "" if none of these.
func peekMode(b []byte) string {
	if len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03 {
		return ModeTLS
	}
	if len(b) >= FrameHeaderSize+4 {
		switch string(b[FrameHeaderSize : FrameHeaderSize+4]) {
		case keyringMagic:
			return ModeKeyring
		case handshakeMagic:
			return ModeNone
		}
	}
	return ""
}

// peekHead returns the first bytes a dialer sent, without consuming them:
// enough for [peekMode], and never more than the dialer's first frame
// holds, so that a short frame is not waited on.
func peekHead(r *bufio.Reader) ([]byte, error) {
	head, err := r.Peek(FrameHeaderSize)
	if err != nil || peekMode(head) == ModeTLS {
		return head, err
	}
	if n := binary.BigEndian.Uint32(head); n >= 4 {
		return r.Peek(FrameHeaderSize + 4)
	}
	return head, nil
}

// modeWords describes a mode for the peer's and the operator's logs.
var modeWords = map[string]string{
	ModeNone:    "no encryption",
	ModeKeyring: "a keyring (--keyring)",
	ModeTLS:     "mutual TLS (--tls-ca, --tls-cert, --tls-key)",
}

// bufConn is a net.Conn that reads through a bufio.Reader holding bytes
// already peeked, so that TLS starts from the connection's first byte.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// tlsConn is a TLS connection whose Close closes the TCP connection at
// once, without the close_notify alert, which could block (for up to 5 s
// on a peer that does not read) the caller, who holds the transport's lock.
type tlsConn struct {
	*tls.Conn
	raw net.Conn
}

func (c tlsConn) Close() error { return c.raw.Close() }

// acceptSecure runs the acceptor's side of the security handshake on a
// new connection, within the deadline already set: it refuses a dialer in
// another mode, and returns the connection and reader to use from then on
// (TLS-wrapped in TLS mode), having set c's identity, sealer and opener.
func (t *TCP) acceptSecure(c *conn, nc net.Conn, r *bufio.Reader) (net.Conn, *bufio.Reader, error) {
	head, err := peekHead(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read handshake: %w", err)
	}
	if pm := peekMode(head); pm != "" && pm != t.sec.mode {
		msg := fmt.Sprintf("this node uses %s, the peer %s: configure every node alike", modeWords[t.sec.mode], modeWords[pm])
		if pm != ModeTLS {
			// A TLS dialer would read a refusal as a broken record, so
			// it only sees the connection close.
			t.tellRefusal(nc, r, msg)
		}
		return nil, nil, fmt.Errorf("%w: %s", ErrSecurityMode, msg)
	}
	switch t.sec.mode {
	case ModeTLS:
		tc := tls.Server(bufConn{nc, r}, t.sec.tlsConfig(true))
		if err := tc.HandshakeContext(t.ctx); err != nil {
			return nil, nil, fmt.Errorf("%w with %s: %w", errTLS, nc.RemoteAddr(), err)
		}
		c.identity = identityOf(tc.ConnectionState().PeerCertificates[0])
		return tlsConn{tc, nc}, bufio.NewReaderSize(tc, readBufferSize), nil
	case ModeKeyring:
		p, err := ReadFrame(r, helloSize, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("read keyring hello: %w", err)
		}
		dialer, err := parseHello(p)
		if err != nil {
			return nil, nil, err
		}
		acceptor := make([]byte, helloNonceSize)
		_, _ = rand.Read(acceptor) // never fails (crypto/rand)
		if err := WriteFrame(nc, appendHello(nil, acceptor), helloSize); err != nil {
			return nil, nil, fmt.Errorf("write keyring hello: %w", err)
		}
		c.seal, c.open = newSession(t.sec.ring, t.sec.cluster, dialer, acceptor, false)
	}
	return nc, r, nil
}

// dialSecure runs the dialer's side of the security handshake on a
// freshly dialled connection, within HandshakeTimeout, and returns the
// connection to use (TLS-wrapped in TLS mode).
func (t *TCP) dialSecure(c *conn, nc net.Conn) (net.Conn, error) {
	if t.sec.mode == ModeNone {
		return nc, nil
	}
	if err := nc.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		return nil, err
	}
	// Close must not wait out a peer that never answers the hello.
	stop := context.AfterFunc(t.ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() { _ = nc.SetDeadline(time.Time{}) }() // an error means closed: the next I/O fails
	switch t.sec.mode {
	case ModeTLS:
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
		defer cancel()
		tc := tls.Client(nc, t.sec.tlsConfig(false))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("%w with %s: %w (does the peer use TLS, with a certificate from the same CA?)", errTLS, c.addr, err)
		}
		c.identity = identityOf(tc.ConnectionState().PeerCertificates[0])
		return tlsConn{tc, nc}, nil
	default:
		dialer := make([]byte, helloNonceSize)
		_, _ = rand.Read(dialer)
		if err := WriteFrame(nc, appendHello(nil, dialer), helloSize); err != nil {
			return nil, fmt.Errorf("write keyring hello to %s: %w", c.addr, err)
		}
		p, err := ReadFrame(nc, max(helloSize, maxRefusalSize), nil)
		if err != nil {
			return nil, fmt.Errorf("read keyring hello from %s: %w (does the peer use a keyring?)", c.addr, err)
		}
		acceptor, err := parseHello(p)
		if err != nil {
			return nil, fmt.Errorf("keyring hello from %s: %w", c.addr, err)
		}
		c.seal, c.open = newSession(t.sec.ring, t.sec.cluster, dialer, acceptor, true)
		return nc, nil
	}
}

// tlsConfig returns the TLS configuration of one new connection.
func (s *security) tlsConfig(server bool) *tls.Config {
	cfg := s.tls.config(server)
	cfg.SessionTicketsDisabled = true
	return cfg
}

// newSecurity loads the credentials c.Security names. A later reload that
// fails (a half-written file) is logged, at most once a minute per kind,
// and the previous credentials stay in use.
func (c TCPConfig) newSecurity() (*security, error) {
	log := c.Logger
	warns := ratelog.New(time.Minute, 1)
	return newSecurity(c.Security, func(err error) {
		warns.Event(&log, zerolog.WarnLevel).Err(err).Msg("cannot reload the transport's credentials; keeping the previous ones")
	})
}

// writePayload writes payload to w as one frame, sealed on a keyring
// connection. max is the largest plaintext allowed.
func (t *TCP) writePayload(c *conn, w *bufio.Writer, payload []byte, max int) error {
	if c.seal == nil {
		return WriteFrame(w, payload, max)
	}
	if err := checkFrameSize(len(payload), max); err != nil {
		return err
	}
	sealed, err := c.seal.seal(payload)
	if err != nil {
		return err
	}
	return WriteFrame(w, sealed, max+sealOverhead)
}

// readPayload reads one frame from r, of at most max bytes of plaintext,
// and returns its payload, opened on a keyring connection. A refusal
// frame (the peer says why it closes the connection) as the first frame a
// dialer reads returns an error wrapping [ErrRefusedByPeer]; a sealed
// frame that does not open, anything else included, one wrapping
// [ErrDecrypt].
func (t *TCP) readPayload(c *conn, r *bufio.Reader, max int) ([]byte, error) {
	c.frames++
	if c.open == nil {
		p, err := ReadFrame(r, max, nil)
		if err == nil && c.outbound && c.frames == 1 {
			if msg, ok := parseRefusal(p); ok {
				return nil, fmt.Errorf("%w: %s", ErrRefusedByPeer, msg)
			}
		}
		return p, err
	}
	sealed, err := ReadFrame(r, max+sealOverhead, c.rbuf)
	if err != nil {
		return nil, err
	}
	if cap(sealed) <= maxReusedReadBuffer {
		c.rbuf = sealed[:0]
	}
	p, err := c.open.open(sealed)
	if err != nil {
		// A refusal is only ever the first frame a dialer reads (the
		// acceptor's answer to a handshake that does not open); anywhere
		// else it is a frame injected on the path.
		if msg, ok := parseRefusal(sealed); ok && c.outbound && c.frames == 1 {
			return nil, fmt.Errorf("%w: %s", ErrRefusedByPeer, msg)
		}
		return nil, err
	}
	return p, nil
}

// maxReusedReadBuffer bounds the buffer a keyring connection keeps for
// sealed frames between reads, so that one large frame does not pin its
// size for the life of the connection.
const maxReusedReadBuffer = 64 << 10

// secureFailed counts and logs a dialled connection whose security
// handshake failed.
func (t *TCP) secureFailed(addr string, err error) {
	reason := securityReason(err)
	if reason == "" {
		reason = refuseHandshake
	}
	t.stats.refused(reason)
	t.warns.Event(&t.log, zerolog.WarnLevel).Err(err).Str("peer", addr).Str("reason", reason).
		Msg("cannot open a secured connection to the peer")
}

// refusalDrain bounds how long a refused connection is read after the
// refusal is sent.
const refusalDrain = 500 * time.Millisecond

// tellRefusal sends the dialer a refusal frame saying why its connection
// is refused, then reads what it sends until it closes (for at most
// refusalDrain and 64 KiB): closing a socket with unread input resets the
// connection, and the reset could destroy the refusal before the dialer
// reads it.
func (t *TCP) tellRefusal(nc net.Conn, r *bufio.Reader, msg string) {
	_ = nc.SetDeadline(time.Now().Add(refusalDrain))
	if WriteFrame(nc, appendRefusal(nil, "refused by "+t.LocalAddr()+": "+msg), maxRefusalSize) != nil {
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, r, 64<<10)
}

// Check reads the files s names and reports, naming the file, what would
// make [NewTCP] fail: a missing or unreadable file, a keyring that does not
// parse, a CA bundle without a certificate, a certificate that does not
// match its key. It returns the problems of [TCPConfig.Validate] first.
func (s Security) Check() error {
	if errs := s.validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err := newSecurity(s, nil)
	return err
}
