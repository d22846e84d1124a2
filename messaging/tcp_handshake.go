package messaging

import (
	"bytes"
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
//	       +--------+---------+------ ... ------+
//	       | "HSAY" | version |  address (n B)  |
//	       +--------+---------+------ ... ------+
//
// The address is "host:port", 1 to 255 bytes; version is the protocol
// version, [ProtocolVersion] (2: the lean encoding). A dialer of another
// version is refused before any of its frames is read (counted as
// "version" in [Stats.Refusals]), so frames of another format are never
// misread. The magic cannot begin an envelope, so a peer that skips the
// handshake is told apart at once.
const (
	handshakeMagic   = "HSAY"
	handshakeVersion = ProtocolVersion
	// maxHandshakeAddr is the longest address a handshake carries.
	maxHandshakeAddr = 255
	// maxHandshakeSize is the largest valid handshake payload.
	maxHandshakeSize = len(handshakeMagic) + 1 + maxHandshakeAddr
)

// errHandshake is wrapped by every handshake that cannot be read.
var errHandshake = errors.New("bad handshake")

// appendHandshake appends the handshake payload naming addr to b.
func appendHandshake(b []byte, addr string) []byte {
	b = append(b, handshakeMagic...)
	b = append(b, handshakeVersion)
	return append(b, addr...)
}

// parseHandshake returns the address a handshake payload names.
func parseHandshake(p []byte) (string, error) {
	rest, ok := bytes.CutPrefix(p, []byte(handshakeMagic))
	if !ok || len(rest) < 1 {
		return "", fmt.Errorf("%w: first frame is not a handshake", errHandshake)
	}
	if rest[0] != handshakeVersion {
		return "", fmt.Errorf("%w: %w: the peer speaks protocol version %d, this node speaks %d: run one version across the cluster", errHandshake, ErrVersion, rest[0], handshakeVersion)
	}
	addr := string(rest[1:])
	if len(addr) == 0 || len(addr) > maxHandshakeAddr {
		return "", fmt.Errorf("%w: address of %d bytes", errHandshake, len(addr))
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%w: address %q: %v", errHandshake, addr, err)
	}
	return addr, nil
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
