package seeds

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// entry is one parsed seed: an IP literal or a hostname, and a port.
type entry struct {
	addr netip.Addr // valid when the entry is an IP literal
	host string     // lower-case hostname without trailing dot, when addr is not valid
	port uint16
}

// isIP reports whether the entry is an IP literal, which needs no lookup.
func (e entry) isIP() bool { return e.addr.IsValid() }

// key identifies a hostname entry: the lower-case "host:port".
func (e entry) key() string { return net.JoinHostPort(e.host, strconv.Itoa(int(e.port))) }

// parseEntry parses one seed: "host", "host:port", "ip", "ip:port", "[ipv6]"
// or "[ipv6]:port". An IPv6 literal with a port must be bracketed; without
// brackets the whole string is read as an address. defaultPort (0 = none) is
// used when the entry has no port. The error does not repeat s; callers name
// the entry.
func parseEntry(s string, defaultPort int) (entry, error) {
	host, portStr, hasPort, err := splitEntry(s)
	if err != nil {
		return entry{}, err
	}
	e := entry{}
	switch {
	case hasPort:
		p, err := parsePort(portStr)
		if err != nil {
			return entry{}, err
		}
		e.port = p
	case defaultPort == 0:
		return entry{}, errors.New("no port, and no default port is set")
	default:
		e.port = uint16(defaultPort)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := checkLabel(strings.ReplaceAll(a.Zone(), ".", "-")); a.Zone() != "" && err != nil {
			return entry{}, fmt.Errorf("zone %q: %w", a.Zone(), err)
		}
		e.addr = a.Unmap()
		return e, nil
	}
	if strings.HasPrefix(s, "[") {
		return entry{}, fmt.Errorf("%q in brackets is not an IP address", host)
	}
	if err := checkHostname(host); err != nil {
		return entry{}, err
	}
	e.host = strings.ToLower(strings.TrimSuffix(host, "."))
	return e, nil
}

// splitEntry separates host and port. A bare IPv6 literal (more than one
// colon, no brackets) is a host without a port.
func splitEntry(s string) (host, port string, hasPort bool, err error) {
	if s == "" {
		return "", "", false, errors.New("empty entry")
	}
	if strings.Contains(s, "://") {
		return "", "", false, errors.New("a URL is not a seed; write host:port")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s[1 : len(s)-1], "", false, nil
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s, "", false, nil
	}
	if !strings.Contains(s, ":") {
		return s, "", false, nil
	}
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", "", false, errors.New(ae.Err)
		}
		return "", "", false, err
	}
	return host, port, true, nil
}

// parsePort parses a decimal port in 1..65535.
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number in 1-65535", s)
	}
	if n == 0 {
		return 0, errors.New("port 0 is out of range 1-65535")
	}
	return uint16(n), nil
}

// checkPortRange checks a configured port number. zeroOK allows 0 (unset).
func checkPortRange(name string, port int, zeroOK bool) error {
	if port == 0 && zeroOK {
		return nil
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s %d is out of range 1-65535", name, port)
	}
	return nil
}

// checkHostname accepts DNS names: dot-separated labels of letters, digits,
// '-' and '_' (SRV names start with '_'), each 1-63 bytes, 253 bytes in all,
// with an optional trailing dot. A name made only of digits and dots is
// rejected as a malformed IP address.
func checkHostname(h string) error {
	name := strings.TrimSuffix(h, ".")
	if name == "" {
		return errors.New("empty host")
	}
	if len(name) > 253 {
		return fmt.Errorf("host name is %d bytes long, more than 253", len(name))
	}
	numeric := true
	for label := range strings.SplitSeq(name, ".") {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("host %q: %w", h, err)
		}
		if strings.Trim(label, "0123456789") != "" {
			numeric = false
		}
	}
	if numeric {
		return fmt.Errorf("host %q is not a valid IP address", h)
	}
	return nil
}

// checkLabel checks one label of a DNS name.
func checkLabel(label string) error {
	if label == "" {
		return errors.New("empty label")
	}
	if len(label) > 63 {
		return fmt.Errorf("label %q is longer than 63 bytes", label)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("invalid character %q", c)
		}
	}
	return nil
}

// ParseNamePort splits a DNS seed argument of the form "NAME" or
// "NAME:PORT", as the agent's --seed-dns flag takes it, into a name for
// [DNSConfig.Name] and a port for [DNSConfig.Port]. defaultPort (1-65535, or 0
// for none) is used when s has no port. The name is checked like a hostname
// and returned as given (a trailing dot is kept).
func ParseNamePort(s string, defaultPort int) (name string, port int, err error) {
	s = strings.TrimSpace(s)
	if err := checkPortRange("default port", defaultPort, true); err != nil {
		return "", 0, fmt.Errorf("parse seed name %q: %w", s, err)
	}
	name, port = s, defaultPort
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p, err := parsePort(s[i+1:])
		if err != nil {
			return "", 0, fmt.Errorf("parse seed name %q: %w", s, err)
		}
		name, port = s[:i], int(p)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", 0, fmt.Errorf("parse seed name %q: %q is an IP address, not a DNS name", s, name)
	}
	if err := checkHostname(name); err != nil {
		return "", 0, fmt.Errorf("parse seed name %q: %w", s, err)
	}
	if port == 0 {
		return "", 0, fmt.Errorf("parse seed name %q: no port, and no default port is set", s)
	}
	return name, port, nil
}

// sortedStrings returns the addresses sorted (IPv4 before IPv6, numerically,
// then by port), without duplicates, as "ip:port" strings.
func sortedStrings(addrs []netip.AddrPort) []string {
	addrs = slices.Clone(addrs)
	slices.SortFunc(addrs, netip.AddrPort.Compare)
	addrs = slices.Compact(addrs)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// normalizeList sorts and deduplicates a seed list. Entries that parse as
// "ip:port" are sorted as addresses, before any others, which are sorted as
// strings.
func normalizeList(list []string) []string {
	var addrs []netip.AddrPort
	var other []string
	for _, s := range list {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			addrs = append(addrs, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			continue
		}
		other = append(other, s)
	}
	slices.Sort(other)
	return append(sortedStrings(addrs), slices.Compact(other)...)
}
