package seeds

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Exclude returns seeds without the entries that are the node itself, in
// their original order. A node that is a seed must not count itself as
// one: Cassandra drops its own broadcast address from its seed set.
//
// Entries are compared after normalisation: IP addresses numerically (an
// IPv4-mapped IPv6 address equals its IPv4 form: "[::ffff:10.0.0.1]:7000"
// equals "10.0.0.1:7000"), hostnames case-insensitively, ports as numbers.
// A self entry without a port ("10.0.0.1") excludes that host on every
// port. Strings that do not parse are compared as they are.
//
// Pass the addresses the node is reached at (its advertised or broadcast
// address), not its bind address. A wildcard bind address ("0.0.0.0:7000",
// "[::]:7000") excludes nothing, because it names no address a seed list
// can hold; a node bound to a wildcard passes [LocalAddrs] of its port
// instead.
func Exclude(seeds []string, self ...string) []string {
	var selves []selfEntry
	for _, s := range self {
		if e, ok := parseSelf(strings.TrimSpace(s)); ok {
			selves = append(selves, e)
		}
	}
	out := make([]string, 0, len(seeds))
	for _, s := range seeds {
		if !matchesSelf(s, selves) {
			out = append(out, s)
		}
	}
	return out
}

// selfEntry is one parsed self address.
type selfEntry struct {
	e       entry
	anyPort bool
	raw     string // set when s does not parse
}

// parseSelf parses a self address; ok is false for addresses that match
// nothing (wildcards, empty strings).
func parseSelf(s string) (selfEntry, bool) {
	if s == "" {
		return selfEntry{}, false
	}
	e, err := parseEntry(s, 0)
	anyPort := false
	if err != nil {
		e, err = parseEntry(s, 1)
		anyPort = true
	}
	switch {
	case err != nil:
		return selfEntry{raw: s}, true
	case e.isIP() && e.addr.IsUnspecified():
		return selfEntry{}, false
	}
	return selfEntry{e: e, anyPort: anyPort}, true
}

// matchesSelf reports whether the seed s is one of selves.
func matchesSelf(s string, selves []selfEntry) bool {
	s = strings.TrimSpace(s)
	e, err := parseEntry(s, 0)
	for _, self := range selves {
		if self.raw != "" || err != nil {
			if self.raw != "" && self.raw == s {
				return true
			}
			continue
		}
		if self.e.addr == e.addr && self.e.host == e.host && (self.anyPort || self.e.port == e.port) {
			return true
		}
	}
	return false
}

// LocalAddrs returns "ip:port" for every unicast address of this machine's
// network interfaces, loopback included and IPv6 link-local excluded,
// sorted. A node bound to "0.0.0.0" or "::" passes them to [Exclude].
func LocalAddrs(port int) ([]string, error) {
	if err := checkPortRange("port", port, false); err != nil {
		return nil, fmt.Errorf("local addresses: %w", err)
	}
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("local addresses: %w", err)
	}
	var out []netip.AddrPort
	for _, ia := range ifAddrs {
		ipn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	return sortedStrings(out), nil
}
