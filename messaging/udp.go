package messaging

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Datagrams: a [TCP] transport also binds a UDP socket on its listener's
// host and port, and sends every Echo, and the EchoReply answering an Echo
// that came by datagram, as one self-contained datagram, as memberlist
// sends its probes over UDP; so does the shadow round's ShadowSyn, whose
// answer comes by datagrams when it fits a few (udp_shadow.go) and on TCP
// otherwise (see [datagramRequest]); everything else stays on TCP. An
// echo then
// costs no connection: at a join, a node echoes every peer it learns, and
// over TCP those echoes opened more connections than MaxConns allows,
// which evicted connections still carrying answers (docs/performance.md,
// "Echoes over datagrams").
//
// A datagram is
//
//	offset 0        4         5      6               14
//	       +--------+---------+------+-------+-------+------ ... ------+
//	       | "HSDG" | version | mode | token (8 B, big-endian) | body  |
//	       +--------+---------+------+-------+-------+------ ... ------+
//
// version is [ProtocolVersion]; mode is 0 (plaintext: the body is the
// envelope in the plain codec, which carries the protocol version and the
// cluster name itself) or 1 (keyring: the body is a 12-byte random GCM
// nonce and the plain envelope sealed with AES-256-GCM under
// HKDF-SHA256(key, no salt, "hearsay datagram v2"), the additional data
// being the 14 header bytes and the cluster name). An Echo's token is 8
// fresh random bytes; the EchoReply to it carries the same token, and a
// reply datagram is accepted only if its token is one this transport sent
// in the last datagramTokenTTL and has not seen answered: a captured reply
// replayed later, or a forged one, is dropped (counted "unsolicited").
// The whole datagram is at most [MaxDatagramSize] bytes; an echo that
// would not fit goes on TCP.
//
// Received datagrams are checked in this order, and dropped and counted
// by the first reason that applies ([Stats.DatagramDrops]): size, magic,
// version, mode, seal, envelope, type (Echo, EchoReply, ShadowSyn or
// ShadowAck only), cluster, source (the envelope's address must name the
// datagram's source IP, as a TCP handshake's claim must: [verifiedClaim])
// and token (an EchoReply's must answer an Echo, once; a ShadowAck's a
// ShadowSyn sent to the datagram's source address, any number of times
// within datagramTokenTTL, one per datagram of the answer). None of them
// panics or changes anything but the counter.

// Datagram protocol constants.
const (
	datagramMagic      = "HSDG"
	datagramHeaderSize = len(datagramMagic) + 1 + 1 + 8
	datagramPlain      = 0
	datagramKeyring    = 1
	datagramInfo       = "hearsay datagram v2"
	// MaxDatagramSize is the largest datagram sent or accepted, header
	// and seal included: below the IPv6 minimum MTU less headers, so an
	// echo never fragments. An echo whose datagram would be larger (very
	// long cluster names or IDs) goes on TCP.
	MaxDatagramSize = 1200
	// datagramTokenTTL is how long an Echo's token waits for its reply:
	// the gossiper retries an echo after Interval/2 and Interval, and
	// accepts a reply to any echo since the last answer.
	datagramTokenTTL = 10 * time.Second
	// maxDatagramTokens bounds the outstanding tokens (a 256-node join
	// echoes 255 peers at once).
	maxDatagramTokens = 8192
	// datagramReadBuffer is the UDP socket's receive buffer asked for: a
	// join's burst of echoes from hundreds of peers at once.
	datagramReadBuffer = 1 << 20
)

// Values of [TCPConfig.Datagrams].
const (
	// DatagramsDefault ("") is on, except in mutual-TLS mode, where it is
	// off: TLS cannot protect a datagram.
	DatagramsDefault = ""
	// DatagramsOn sends echoes as datagrams (an error in mutual-TLS mode).
	DatagramsOn = "on"
	// DatagramsOff carries everything on TCP and binds no UDP socket.
	DatagramsOff = "off"
)

// datagramsEnabled reports whether a transport of c binds a UDP socket:
// datagrams on or default, not in mutual-TLS mode, and with a Codec (a
// datagram carries an envelope, which raw-payload transports do not
// have).
func (c TCPConfig) datagramsEnabled() bool {
	return c.Datagrams != DatagramsOff && c.Security.Mode() != ModeTLS && c.Codec != nil
}

// validateDatagrams returns the problems of c.Datagrams.
func (c TCPConfig) validateDatagrams() []error {
	switch c.Datagrams {
	case DatagramsDefault, DatagramsOff:
	case DatagramsOn:
		if c.Security.Mode() == ModeTLS {
			return []error{fmt.Errorf(`messaging: TCPConfig.Datagrams = "on": mutual TLS cannot protect datagrams; leave it empty or "off" with TLS (echoes then go on TCP), or use a keyring`)}
		}
	default:
		return []error{fmt.Errorf(`messaging: TCPConfig.Datagrams = %q: must be "on", "off", or empty for the default (on, off with mutual TLS)`, c.Datagrams)}
	}
	return nil
}

// datagrams is a transport's UDP side.
type datagrams struct {
	pc      *net.UDPConn
	mode    byte
	ring    *keyringFile // keyring mode
	cluster string
	keys    atomic.Pointer[datagramKeys]

	mu       sync.Mutex
	tokens   map[uint64]echoToken // outstanding Echo tokens
	lastEcho map[string]uint64    // per address, the token of the last Echo sent by datagram
	shadow   shadowBudget         // shadow answers sent by datagram (udp_shadow.go)
}

// echoToken is an Echo sent by datagram, waiting for its reply.
type echoToken struct {
	addr string
	at   time.Time
}

// datagramKeys are the datagram AEADs of one keyring version, primary
// first. cipher.AEAD (GCM) is safe for concurrent use.
type datagramKeys struct {
	set   *keySet
	aeads []cipher.AEAD
}

// listenDatagrams binds the UDP socket of a transport listening on ln.
func listenDatagrams(ln net.Listener, sec *security) (*datagrams, error) {
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("messaging: bind the datagram socket on %s (set TCPConfig.Datagrams to %q to go without): %w", ln.Addr(), DatagramsOff, err)
	}
	uc := pc.(*net.UDPConn)
	_ = uc.SetReadBuffer(datagramReadBuffer) // best effort: capped by the system's limit
	d := &datagrams{pc: uc, cluster: sec.cluster, tokens: make(map[uint64]echoToken), lastEcho: make(map[string]uint64)}
	if sec.mode == ModeKeyring {
		d.mode, d.ring = datagramKeyring, sec.ring
	}
	return d, nil
}

// listen binds the TCP listener and, when datagrams are on, the UDP socket
// on the same port. With port 0 the kernel picks a TCP port whose UDP
// twin may be taken: a few other ports are tried.
func (c TCPConfig) listen(sec *security) (net.Listener, *datagrams, error) {
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", c.BindAddr)
		if err != nil {
			return nil, nil, fmt.Errorf("messaging: listen on %s: %w", c.BindAddr, err)
		}
		if !c.datagramsEnabled() {
			return ln, nil, nil
		}
		dg, err := listenDatagrams(ln, sec)
		if err == nil {
			return ln, dg, nil
		}
		_ = ln.Close()
		if _, port, _ := net.SplitHostPort(c.BindAddr); port != "0" || try == 7 {
			return nil, nil, err
		}
	}
}

// aeadKeys returns the datagram AEADs of the keyring in use.
func (d *datagrams) aeadKeys() (*datagramKeys, error) {
	ks := d.ring.current()
	if k := d.keys.Load(); k != nil && k.set == ks {
		return k, nil
	}
	k := &datagramKeys{set: ks, aeads: make([]cipher.AEAD, len(ks.keys))}
	for i, key := range ks.keys {
		dk, err := hkdf.Key(sha256.New, key, nil, datagramInfo, KeySize)
		if err != nil {
			return nil, fmt.Errorf("derive datagram key: %w", err)
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, fmt.Errorf("derive datagram key: %w", err)
		}
		if k.aeads[i], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("derive datagram key: %w", err)
		}
	}
	d.keys.Store(k)
	return k, nil
}

// datagramAAD is the additional data of a sealed datagram.
func (d *datagrams) aad(header []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(d.cluster)), header...), d.cluster...)
}

// build returns the datagram carrying e with token, or false if it cannot
// be built within MaxDatagramSize (the caller sends e on TCP).
func (d *datagrams) build(codec *Codec, e *Envelope, token uint64) ([]byte, bool) {
	body, err := codec.Encode(e)
	if err != nil {
		return nil, false
	}
	b := make([]byte, 0, datagramHeaderSize+gcmNonceSize+len(body)+sealOverhead)
	b = append(b, datagramMagic...)
	b = append(b, ProtocolVersion, d.mode)
	b = binary.BigEndian.AppendUint64(b, token)
	if d.mode == datagramPlain {
		b = append(b, body...)
	} else {
		keys, err := d.aeadKeys()
		if err != nil {
			return nil, false
		}
		var nonce [gcmNonceSize]byte
		_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
		header := b[:datagramHeaderSize]
		b = append(b, nonce[:]...)
		b = keys.aeads[0].Seal(b, nonce[:], body, d.aad(header))
	}
	return b, len(b) <= MaxDatagramSize
}

// issue returns a fresh token for a request to key (the address, and the
// type unless an Echo), or false if the last one sent to key by datagram
// is still unanswered (a ShadowSyn's always is, its answer coming on
// TCP): this one then goes on TCP, so a peer that does not read
// datagrams (they are off there, or a firewall drops them) is still
// reached by the gossiper's retry.
func (d *datagrams) issue(addr string, now time.Time) (uint64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.lastEcho[addr]; ok {
		delete(d.lastEcho, addr)
		if tk, ok := d.tokens[last]; ok && now.Sub(tk.at) < datagramTokenTTL {
			return 0, false
		}
	}
	if len(d.tokens) >= maxDatagramTokens {
		d.pruneLocked(now)
	}
	var token uint64
	for taken := true; token == 0 || taken; _, taken = d.tokens[token] {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		token = binary.BigEndian.Uint64(b[:])
	}
	d.tokens[token] = echoToken{addr: addr, at: now}
	d.lastEcho[addr] = token
	return token, true
}

// pruneLocked drops expired tokens, and arbitrary ones while the table
// is still full.
func (d *datagrams) pruneLocked(now time.Time) {
	for token, tk := range d.tokens {
		if now.Sub(tk.at) >= datagramTokenTTL || len(d.tokens) >= maxDatagramTokens {
			d.forgetLocked(token, tk)
		}
	}
}

// forgetLocked drops token.
func (d *datagrams) forgetLocked(token uint64, tk echoToken) {
	delete(d.tokens, token)
	if d.lastEcho[tk.addr] == token {
		delete(d.lastEcho, tk.addr)
	}
}

// redeem reports whether token is outstanding, and makes it used: each
// Echo's reply is accepted once.
func (d *datagrams) redeem(token uint64, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	tk, ok := d.tokens[token]
	if !ok {
		return false
	}
	d.forgetLocked(token, tk)
	return now.Sub(tk.at) < datagramTokenTTL
}

// cancel forgets a token whose Echo could not be sent.
func (d *datagrams) cancel(token uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if tk, ok := d.tokens[token]; ok {
		d.forgetLocked(token, tk)
	}
}

// datagramType reports whether a message of type typ may come by
// datagram: the requests of [datagramRequest] and their answers.
func datagramType(typ Type) bool {
	return typ == TypeEcho || typ == TypeEchoReply || typ == TypeShadowSyn || typ == TypeShadowAck
}

// sourceMatches reports whether an envelope's address names the IP a
// datagram came from (see [verifiedClaim]).
func sourceMatches(addr string, src netip.AddrPort) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().Unmap() == src.Addr().Unmap()
}

// datagramRequest reports whether e is a request that goes by datagram
// (when datagrams are on): an Echo, or the shadow round's ShadowSyn, which
// is empty. A ShadowSyn's answer, a ShadowAck of full states, comes back
// by datagrams when it fits a few (udp_shadow.go), and otherwise on TCP,
// dialled by the seed: at a cluster-wide start every node asks the same
// seed at once, and the seed's dials wait in its dial queue for room
// under MaxConns, where the same number of connections dialled to it
// would be refused and their requests lost until the next round.
func datagramRequest(e *Envelope) bool {
	return e.Message != nil && (e.Message.Type() == TypeEcho || e.Message.Type() == TypeShadowSyn)
}

// sendEcho sends a [datagramRequest] to addr by datagram and reports
// whether it did; false sends it on TCP: datagrams are off, addr or the
// envelope's own address is not an IP literal (the receiver checks the
// source), the datagram would be too large, the last request of this type
// sent to addr by datagram is unanswered, or the write failed.
func (t *TCP) sendEcho(addr string, e *Envelope) (bool, error) {
	d := t.dg
	dst, err := netip.ParseAddrPort(addr)
	if err != nil || !sourceMatchable(e.Addr) {
		return false, nil
	}
	if t.isClosed() {
		t.stats.droppedClosed.Add(1)
		return true, ErrClosed
	}
	key := addr
	if e.Message.Type() == TypeShadowSyn {
		key = shadowKeyPrefix + addr // its answer may come on TCP: the token stays outstanding
	}
	token, ok := d.issue(key, time.Now())
	if !ok {
		return false, nil
	}
	if !t.writeDatagram(dst, e, token) {
		d.cancel(token)
		return false, nil
	}
	return true, nil
}

// sourceMatchable reports whether a receiver can check addr against a
// datagram's source: an IP literal, not unspecified.
func sourceMatchable(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && !ap.Addr().IsUnspecified()
}

// writeDatagram sends e with token to dst and counts it; false if it was
// not sent (too large, or the write failed: the caller uses TCP).
func (t *TCP) writeDatagram(dst netip.AddrPort, e *Envelope, token uint64) bool {
	b, ok := t.dg.build(t.cfg.Codec, e, token)
	if !ok || !t.writeBuilt(dst, b) {
		return false
	}
	if t.cfg.Encoded != nil {
		t.cfg.Encoded(e.Message.Type(), len(b))
	}
	return true
}

// writeBuilt writes one built datagram to dst and counts it, and reports
// whether it went (false: the caller sends on TCP).
func (t *TCP) writeBuilt(dst netip.AddrPort, b []byte) bool {
	if _, err := t.dg.pc.WriteToUDPAddrPort(b, dst); err != nil {
		t.warns.Event(&t.log, zerolog.DebugLevel).Err(err).Stringer("peer", dst).Msg("datagram write failed; using TCP")
		return false
	}
	t.stats.sent(1, len(b))
	t.stats.datagramsSent.Add(1)
	return true
}

// isClosed reports whether Close has begun.
func (t *TCP) isClosed() bool { return t.ctx.Err() != nil }

// datagramReply returns Packet.ReplyEnvelope for a datagram from src, sent
// by requester, that carried token: an EchoReply goes back by datagram
// with the token, a ShadowAck by datagrams when it may (udp_shadow.go),
// and anything else (or a reply that does not fit) on TCP to src, which
// is the peer's listening address when it binds a specific host.
func (t *TCP) datagramReply(src netip.AddrPort, token uint64, requester string) func(*Envelope) error {
	return func(e *Envelope) error {
		if e.Message == nil || token == 0 || !sourceMatchable(e.Addr) {
			return t.send(src.String(), envFrame(e))
		}
		if t.isClosed() {
			t.stats.droppedClosed.Add(1)
			return ErrClosed
		}
		switch m := e.Message.(type) {
		case *EchoReply:
			if t.writeDatagram(src, e, token) {
				return nil
			}
			t.stats.datagramFallbacks.Add(1)
		case *ShadowAck:
			if t.sendShadowAck(src, e, m, token, requester) {
				return nil
			}
		}
		return t.send(src.String(), envFrame(e))
	}
}

// readDatagrams reads the UDP socket until Close closes it.
func (t *TCP) readDatagrams() {
	buf := make([]byte, MaxDatagramSize+1)
	var delay time.Duration
	for {
		n, src, err := t.dg.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !t.retryAfter(err, &delay, "datagram read failed") {
				return
			}
			continue
		}
		delay = 0
		t.handleDatagram(buf[:n], src)
	}
}

// Datagram drop reasons, the keys of [DatagramDrops.ByReason].
const (
	dgMalformed = iota
	dgTooLarge
	dgVersion
	dgMode
	dgDecrypt
	dgCluster
	dgSource
	dgType
	dgUnsolicited
	numDatagramDrops
)

var datagramDropNames = [numDatagramDrops]string{
	"malformed", "too_large", "version", "security_mode", "decrypt", "cluster", "source", "type", "unsolicited",
}

// DatagramDrops counts received datagrams dropped, by reason (see
// docs/protocol.md, "Datagrams").
type DatagramDrops struct {
	// Malformed: shorter than the header, another magic, or an envelope
	// that does not decode.
	Malformed uint64
	// TooLarge: over [MaxDatagramSize].
	TooLarge uint64
	// Version: another protocol version, in the header or the envelope.
	Version uint64
	// SecurityMode: plaintext at a keyring node, or sealed at a
	// plaintext one.
	SecurityMode uint64
	// Decrypt: sealed under no key of the keyring, for another cluster,
	// or altered.
	Decrypt uint64
	// Cluster: a plaintext envelope of another cluster.
	Cluster uint64
	// Source: the envelope's address does not name the source IP.
	Source uint64
	// Type: a message other than Echo, EchoReply, ShadowSyn and
	// ShadowAck.
	Type uint64
	// Unsolicited: an EchoReply whose token answers no Echo this node
	// sent by datagram in the last 10 s, or one already answered (a
	// replay); a ShadowAck whose token answers no ShadowSyn this node
	// sent by datagram to its source in the last 10 s.
	Unsolicited uint64
}

// Total returns the sum of the counters.
func (d DatagramDrops) Total() uint64 {
	return d.Malformed + d.TooLarge + d.Version + d.SecurityMode + d.Decrypt + d.Cluster + d.Source + d.Type + d.Unsolicited
}

// ByReason returns the counters keyed by reason, for metrics export:
// "malformed", "too_large", "version", "security_mode", "decrypt",
// "cluster", "source", "type" and "unsolicited"; every key is present.
func (d DatagramDrops) ByReason() map[string]uint64 {
	v := [numDatagramDrops]uint64{d.Malformed, d.TooLarge, d.Version, d.SecurityMode, d.Decrypt, d.Cluster, d.Source, d.Type, d.Unsolicited}
	m := make(map[string]uint64, numDatagramDrops)
	for i, name := range datagramDropNames {
		m[name] = v[i]
	}
	return m
}

// handleDatagram checks one received datagram and delivers its envelope,
// or drops it and counts why.
func (t *TCP) handleDatagram(b []byte, src netip.AddrPort) {
	p, reason := t.openDatagram(b, src)
	if reason >= 0 {
		t.stats.datagramDrops[reason].Add(1)
		t.warns.Event(&t.log, zerolog.DebugLevel).Stringer("remote", src).Str("reason", datagramDropNames[reason]).
			Msg("dropped datagram")
		return
	}
	select {
	case t.inbox <- p:
		t.stats.received(len(b))
		t.stats.datagramsReceived.Add(1)
	default:
		t.stats.droppedInboxFull.Add(1)
	}
}

// openDatagram returns the packet a datagram carries, or the reason it
// is dropped (-1 for none). It reads nothing of b after it returns.
func (t *TCP) openDatagram(b []byte, src netip.AddrPort) (Packet, int) {
	d := t.dg
	switch {
	case len(b) > MaxDatagramSize:
		return Packet{}, dgTooLarge
	case len(b) < datagramHeaderSize || string(b[:len(datagramMagic)]) != datagramMagic:
		return Packet{}, dgMalformed
	case b[4] != ProtocolVersion:
		return Packet{}, dgVersion
	case b[5] != d.mode:
		return Packet{}, dgMode
	}
	token := binary.BigEndian.Uint64(b[6:datagramHeaderSize])
	body := b[datagramHeaderSize:]
	if d.mode == datagramKeyring {
		var ok bool
		if body, ok = d.open(b[:datagramHeaderSize], body); !ok {
			return Packet{}, dgDecrypt
		}
	} else {
		body = append([]byte(nil), body...)
	}
	e, err := t.cfg.Codec.Decode(body)
	switch {
	case errors.Is(err, ErrVersion):
		return Packet{}, dgVersion
	case err != nil:
		return Packet{}, dgMalformed
	case !datagramType(e.Message.Type()):
		return Packet{}, dgType
	case d.cluster != "" && e.Cluster != d.cluster:
		return Packet{}, dgCluster
	case !sourceMatches(e.Addr, src):
		return Packet{}, dgSource
	case e.Message.Type() == TypeEchoReply && !d.redeem(token, time.Now()),
		e.Message.Type() == TypeShadowAck && !d.shadowAnswered(token, src, time.Now()):
		return Packet{}, dgUnsolicited
	}
	remote := src.String()
	reply := t.datagramReply(src, token, e.From)
	if e.Message.Type() == TypeEchoReply || e.Message.Type() == TypeShadowAck {
		reply = t.datagramReply(src, 0, "") // nothing answers a reply by datagram
	}
	return Packet{
		Payload:       body,
		Remote:        remote,
		Envelope:      e,
		Reply:         func(payload []byte) error { return t.Send(remote, payload) },
		ReplyEnvelope: reply,
	}, -1
}

// open returns the plaintext of a sealed datagram's body, trying every
// key of the keyring.
func (d *datagrams) open(header, body []byte) ([]byte, bool) {
	if len(body) < gcmNonceSize+sealOverhead {
		return nil, false
	}
	keys, err := d.aeadKeys()
	if err != nil {
		return nil, false
	}
	aad := d.aad(header)
	for _, a := range keys.aeads {
		if p, err := a.Open(nil, body[:gcmNonceSize], body[gcmNonceSize:], aad); err == nil {
			return p, true
		}
	}
	return nil, false
}

// EchoesByDatagram reports whether the transport sends echoes as
// datagrams (it bound a UDP socket): see [DatagramEchoer]. An echo whose
// datagram would be too large still goes on TCP.
func (t *TCP) EchoesByDatagram() bool { return t.dg != nil }
