package messaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// The handshake is the first frame on every TCP connection, sent by the
// dialer: it names the address the dialer listens on, so that the
// acceptor can send to the dialer on this same connection instead of
// dialling back (one connection per peer pair).
//
//	offset 0        4         5                5+n
//	       +--------+---------+------ ... ------+------------------+
//	       | "HSAY" | version |  address (n B)  | [00 offer]       |
//	       +--------+---------+------ ... ------+------------------+
//
// The address is "host:port", 1 to 255 bytes. Version 3
// ([resumeVersion], sent by a transport with a Codec) adds a codec-session
// offer after a zero byte: the new session's token and the token of the
// session offered for resumption (8 bytes each, big-endian; 0: none), and
// the frames the dialer encoded and decoded in it (uvarints); the
// acceptor's first frame answers it ("HSAY", 3, then 1 resumed or 0
// fresh: see tcp_session.go), and the dialer writes nothing else before
// it has read that answer. Version 2 ([ProtocolVersion], the lean
// encoding without sessions, and a transport without a Codec) has no
// offer and gets no answer; an acceptor of this version takes both. A
// dialer of another version is refused before any of its frames is read
// (counted as "version" in [Stats.Refusals]), so frames of another format
// are never misread. The magic cannot begin an envelope, so a peer that
// skips the handshake is told apart at once.
const (
	handshakeMagic   = "HSAY"
	handshakeVersion = ProtocolVersion
	// resumeVersion is the version of a handshake with a codec-session
	// offer.
	resumeVersion = ProtocolVersion + 1
	// maxHandshakeAddr is the longest address a handshake carries.
	maxHandshakeAddr = 255
	// offerSize bounds a codec-session offer: the zero byte, two tokens,
	// two uvarints.
	offerSize = 1 + 16 + 2*binary.MaxVarintLen64
	// maxHandshakeSize is the largest valid handshake payload.
	maxHandshakeSize = len(handshakeMagic) + 1 + maxHandshakeAddr + offerSize
)

// errHandshake is wrapped by every handshake that cannot be read.
var errHandshake = errors.New("bad handshake")

// appendHandshake appends the handshake payload naming addr to b.
func appendHandshake(b []byte, addr string) []byte {
	b = append(b, handshakeMagic...)
	b = append(b, handshakeVersion)
	return append(b, addr...)
}

// appendHandshakeOffer appends a version-3 handshake naming addr and
// carrying the codec-session offer o to b.
func appendHandshakeOffer(b []byte, addr string, o *sessionOffer) []byte {
	b = append(b, handshakeMagic...)
	b = append(b, resumeVersion)
	b = append(b, addr...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, o.token)
	b = binary.BigEndian.AppendUint64(b, o.resume)
	b = binary.AppendUvarint(b, o.sent)
	return binary.AppendUvarint(b, o.received)
}

// parseHandshakeOffer returns the address a handshake payload names and,
// for version 3, its codec-session offer (nil for version 2).
func parseHandshakeOffer(p []byte) (string, *sessionOffer, error) {
	rest, ok := bytes.CutPrefix(p, []byte(handshakeMagic))
	if !ok || len(rest) < 1 {
		return "", nil, fmt.Errorf("%w: first frame is not a handshake", errHandshake)
	}
	if rest[0] != handshakeVersion && rest[0] != resumeVersion {
		return "", nil, fmt.Errorf("%w: %w: the peer speaks protocol version %d, this node speaks %d (and %d with codec sessions): run one version across the cluster", errHandshake, ErrVersion, rest[0], handshakeVersion, resumeVersion)
	}
	version, rest := rest[0], rest[1:]
	var o *sessionOffer
	if version == resumeVersion {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return "", nil, fmt.Errorf("%w: version %d without a session offer", errHandshake, version)
		}
		var err error
		if o, err = parseOffer(rest[i+1:]); err != nil {
			return "", nil, err
		}
		rest = rest[:i]
	}
	addr := string(rest)
	if len(addr) == 0 || len(addr) > maxHandshakeAddr {
		return "", nil, fmt.Errorf("%w: address of %d bytes", errHandshake, len(addr))
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", nil, fmt.Errorf("%w: address %q: %v", errHandshake, addr, err)
	}
	return addr, o, nil
}

// parseOffer reads a codec-session offer, the bytes after the zero.
func parseOffer(p []byte) (*sessionOffer, error) {
	if len(p) < 16 {
		return nil, fmt.Errorf("%w: session offer of %d bytes", errHandshake, len(p))
	}
	o := &sessionOffer{token: binary.BigEndian.Uint64(p), resume: binary.BigEndian.Uint64(p[8:])}
	p = p[16:]
	var n int
	if o.sent, n = binary.Uvarint(p); n <= 0 {
		return nil, fmt.Errorf("%w: session offer: bad frame count", errHandshake)
	}
	p = p[n:]
	if o.received, n = binary.Uvarint(p); n <= 0 || n != len(p) {
		return nil, fmt.Errorf("%w: session offer: bad frame count", errHandshake)
	}
	if o.token == 0 {
		return nil, fmt.Errorf("%w: session offer: token 0", errHandshake)
	}
	return o, nil
}

// appendSessionReply appends the acceptor's answer to an offer to b.
func appendSessionReply(b []byte, resumed bool) []byte {
	b = append(b, handshakeMagic...)
	b = append(b, resumeVersion)
	if resumed {
		return append(b, 1)
	}
	return append(b, 0)
}

// parseSessionReply returns whether the acceptor's answer resumes the
// offered session.
func parseSessionReply(p []byte) (bool, error) {
	rest, ok := bytes.CutPrefix(p, []byte(handshakeMagic))
	if !ok || len(rest) != 2 || rest[0] != resumeVersion || rest[1] > 1 {
		return false, fmt.Errorf("%w: first frame is not an answer to the session offer (%d bytes)", errHandshake, len(p))
	}
	return rest[1] == 1, nil
}

// verifiedClaim reports whether the address a handshake claims may be
// trusted as the dialer's: its host must be an IP literal equal to the IP
// the connection comes from. A claim naming a host name, or another IP
// (NAT, a hostile peer), is not trusted: the connection still carries
// frames both ways, but Send never picks it for that address.
func verifiedClaim(claim string, remote net.Addr) bool {
	ap, err := netip.ParseAddrPort(claim)
	if err != nil {
		return false
	}
	ra, ok := remoteIP(remote)
	return ok && ap.Addr().Unmap() == ra
}

// remoteIP returns the IP of a TCP address, IPv4-mapped addresses unmapped.
func remoteIP(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(ta.IP)
		return ip.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap(), err == nil
}
