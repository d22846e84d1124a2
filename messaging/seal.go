package messaging

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// With a keyring (TCPConfig.Security.KeyringFile), every connection opens
// with a hello from each side, in the clear, before any other frame:
//
//	offset 0        4         5                37
//	       +--------+---------+------ ... ------+
//	       | "HSYK" | version |  nonce (32 B)   |
//	       +--------+---------+------ ... ------+
//
// The dialer sends its hello, the acceptor answers with its own; each nonce
// is 32 fresh bytes from crypto/rand. Every later frame, both ways, is
// sealed with AES-256-GCM under a key of its own connection and direction:
//
//	key(K, dir) = HKDF-SHA256(secret K, salt nonce_dialer ‖ nonce_acceptor,
//	                          info "hearsay keyring v2 " ‖ dir)
//
// where K is a keyring key and dir is "dialer" for frames the dialer sends
// and "acceptor" for the others. The GCM nonce of the n-th sealed frame in
// a direction (n from 0) is 4 zero bytes and n as a big-endian uint64; it
// is not sent, the receiver counts too. The additional data is "hearsay",
// the protocol version byte and the cluster name. A sealed frame is
//
//	frame = length:uint32be ciphertext tag(16 B)
//
// with the length covering ciphertext and tag. The sender seals with its
// primary key; the receiver tries the key that opened the last frame, then
// the others. A frame replayed on the same connection fails (the counter
// moved on), one replayed on another connection fails (other nonces, other
// keys), and so does a reordered, cut or altered frame: the connection
// closes and the failure is counted ([Stats.DroppedDecrypt]). The first
// sealed frame from the dialer is the ordinary handshake naming its address.
const (
	keyringMagic     = "HSYK"
	refusalMagic     = "HSNO"
	helloNonceSize   = 32
	helloSize        = len(keyringMagic) + 1 + helloNonceSize
	sealOverhead     = 16 // the GCM tag
	maxRefusalSize   = 256
	keyringInfo      = "hearsay keyring v2 "
	dirDialer        = "dialer"
	dirAcceptor      = "acceptor"
	gcmNonceSize     = 12
	gcmCounterOffset = gcmNonceSize - 8
)

// Errors of the secured transport. Callers branch on them with errors.Is;
// each names its cause in the wrapping message.
var (
	// ErrDecrypt is wrapped when a sealed frame does not open under any
	// key of the keyring: another keyring, a replayed, reordered or
	// altered frame.
	ErrDecrypt = errors.New("frame does not decrypt")
	// ErrSecurityMode is wrapped when the peer runs in another security
	// mode (plaintext, keyring or TLS) than this node.
	ErrSecurityMode = errors.New("peer uses another security mode")
	// ErrRefusedByPeer is wrapped when the peer refused this node's
	// connection and said why (a refusal frame).
	ErrRefusedByPeer = errors.New("peer refused the connection")
)

// appendHello appends a keyring hello carrying nonce to b.
func appendHello(b []byte, nonce []byte) []byte {
	b = append(b, keyringMagic...)
	b = append(b, handshakeVersion)
	return append(b, nonce...)
}

// parseHello returns the nonce of a keyring hello, or an error naming what
// the peer sent instead (a refusal, a plaintext handshake).
func parseHello(p []byte) ([]byte, error) {
	if msg, ok := parseRefusal(p); ok {
		return nil, fmt.Errorf("%w: %s", ErrRefusedByPeer, msg)
	}
	rest, ok := bytes.CutPrefix(p, []byte(keyringMagic))
	if !ok {
		if bytes.HasPrefix(p, []byte(handshakeMagic)) {
			return nil, fmt.Errorf("%w: the peer sent a plaintext handshake; this node requires its keyring", ErrSecurityMode)
		}
		return nil, fmt.Errorf("%w: first frame is not a keyring hello", errHandshake)
	}
	if len(rest) < 1 || rest[0] != handshakeVersion {
		v := -1
		if len(rest) > 0 {
			v = int(rest[0])
		}
		return nil, fmt.Errorf("%w: %w: the peer speaks protocol version %d, this node speaks %d", errHandshake, ErrVersion, v, handshakeVersion)
	}
	if len(rest) != 1+helloNonceSize {
		return nil, fmt.Errorf("%w: keyring hello of %d bytes, want %d", errHandshake, len(p), helloSize)
	}
	return rest[1:], nil
}

// appendRefusal appends a refusal frame's payload: the magic and a short
// reason in words, for the peer's log.
func appendRefusal(b []byte, msg string) []byte {
	b = append(b, refusalMagic...)
	if len(msg) > maxRefusalSize-len(refusalMagic) {
		msg = msg[:maxRefusalSize-len(refusalMagic)]
	}
	return append(b, msg...)
}

// parseRefusal returns the reason of a refusal frame.
func parseRefusal(p []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(p, []byte(refusalMagic))
	if !ok || len(p) > maxRefusalSize {
		return "", false
	}
	return printable(rest), true
}

// printable returns s with bytes outside printable ASCII replaced, so that
// a peer's words cannot forge log lines.
func printable(s []byte) string {
	out := make([]byte, len(s))
	for i, c := range s {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// frameAAD returns the additional data of every sealed frame of a cluster.
func frameAAD(cluster string) []byte {
	b := append([]byte("hearsay"), ProtocolVersion)
	return append(b, cluster...)
}

// deriveAEAD returns the AES-256-GCM of key for one direction of the
// connection whose hellos carried nonces dialer and acceptor.
func deriveAEAD(key, dialer, acceptor []byte, dir string) (cipher.AEAD, error) {
	salt := make([]byte, 0, len(dialer)+len(acceptor))
	salt = append(append(salt, dialer...), acceptor...)
	k, err := hkdf.Key(sha256.New, key, salt, keyringInfo+dir, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive frame key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("derive frame key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sessionKeys are the nonces of one connection, from which each keyring
// version's frame keys are derived.
type sessionKeys struct {
	dialer, acceptor []byte
	aad              []byte
}

// derive returns the AEADs of every key of ks for direction dir, primary
// first.
func (s *sessionKeys) derive(ks *keySet, dir string) ([]cipher.AEAD, error) {
	out := make([]cipher.AEAD, len(ks.keys))
	for i, k := range ks.keys {
		a, err := deriveAEAD(k, s.dialer, s.acceptor, dir)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// sealer seals one direction of a connection. It is owned by the
// connection's writer goroutine.
type sealer struct {
	s       *sessionKeys
	ring    *keyringFile
	dir     string
	set     *keySet // the keyring version aead was derived from
	aead    cipher.AEAD
	counter uint64
	nonce   [gcmNonceSize]byte
	buf     []byte
}

// seal returns the sealed form of payload, valid until the next call.
func (z *sealer) seal(payload []byte) ([]byte, error) {
	if ks := z.ring.current(); ks != z.set {
		a, err := deriveAEAD(ks.keys[0], z.s.dialer, z.s.acceptor, z.dir)
		if err != nil {
			return nil, err
		}
		z.set, z.aead = ks, a
	}
	binary.BigEndian.PutUint64(z.nonce[gcmCounterOffset:], z.counter)
	z.counter++
	sealed := z.aead.Seal(z.buf[:0], z.nonce[:], payload, z.s.aad)
	z.buf = sealed
	if cap(sealed) > maxReusedReadBuffer {
		z.buf = nil // do not pin one large frame's size for the connection's life
	}
	return sealed, nil
}

// opener opens one direction of a connection. It is owned by the
// connection's reader goroutine.
type opener struct {
	s       *sessionKeys
	ring    *keyringFile
	dir     string
	set     *keySet
	aeads   []cipher.AEAD
	last    int // index of the key that opened the last frame
	counter uint64
	nonce   [gcmNonceSize]byte
}

// open returns the plaintext of a sealed frame in a new slice, or an error
// wrapping [ErrDecrypt]. The counter moves on only when a frame opens.
func (o *opener) open(sealed []byte) ([]byte, error) {
	if ks := o.ring.current(); ks != o.set {
		a, err := o.s.derive(ks, o.dir)
		if err != nil {
			return nil, err
		}
		o.set, o.aeads, o.last = ks, a, 0
	}
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: frame of %d bytes is shorter than its tag", ErrDecrypt, len(sealed))
	}
	binary.BigEndian.PutUint64(o.nonce[gcmCounterOffset:], o.counter)
	out := make([]byte, 0, len(sealed)-sealOverhead)
	for i := range o.aeads {
		j := (o.last + i) % len(o.aeads)
		p, err := o.aeads[j].Open(out, o.nonce[:], sealed, o.s.aad)
		if err == nil {
			o.last = j
			o.counter++
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: frame %d under none of the %d keys of the keyring (another keyring, or a replayed or altered frame)", ErrDecrypt, o.counter, len(o.aeads))
}

// newSession returns the sealer and opener of a connection, for the side
// that sends in direction send.
func newSession(ring *keyringFile, cluster string, dialer, acceptor []byte, dialled bool) (*sealer, *opener) {
	s := &sessionKeys{dialer: dialer, acceptor: acceptor, aad: frameAAD(cluster)}
	send, recv := dirDialer, dirAcceptor
	if !dialled {
		send, recv = recv, send
	}
	return &sealer{s: s, ring: ring, dir: send}, &opener{s: s, ring: ring, dir: recv}
}
