package seeds

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		in   string
		want string // "ip:port" for IP entries, "host:port" for hostnames
		err  string
	}{
		{in: "10.0.0.1:7001", want: "10.0.0.1:7001"},
		{in: "10.0.0.1", want: "10.0.0.1:7000"},
		{in: "::1", want: "[::1]:7000"},
		{in: "[::1]", want: "[::1]:7000"},
		{in: "[::1]:7001", want: "[::1]:7001"},
		{in: "fd00::1:7001", want: "[fd00::1:7001]:7000"}, // unbracketed: all address
		{in: "[fe80::1%eth0]:7001", want: "[fe80::1%eth0]:7001"},
		{in: "::ffff:10.0.0.1", want: "10.0.0.1:7000"},
		{in: "[10.0.0.1]:7001", want: "10.0.0.1:7001"},
		{in: "seed-1.example.com", want: "seed-1.example.com:7000"},
		{in: "Seed-1.Example.COM.:7001", want: "seed-1.example.com:7001"},
		{in: "localhost", want: "localhost:7000"},
		{in: "_gossip._tcp.x", want: "_gossip._tcp.x:7000"},
		{in: "10.0.0.1:0", err: "port 0 is out of range"},
		{in: "10.0.0.1:65536", err: `port "65536" is not a number in 1-65535`},
		{in: "host:abc", err: `port "abc"`},
		{in: "host:", err: `port ""`},
		{in: "host:1:2", err: "too many colons"},
		{in: "[::1", err: "missing ']'"},
		{in: "[localhost]:7000", err: "not an IP address"},
		{in: "a b", err: "invalid character ' '"},
		{in: "http://x:7000", err: "a URL is not a seed"},
		{in: "[fe80::1%a]b]:7000", err: "missing port"},
		{in: "fe80::1%]", err: `zone "]"`},
		{in: "seed..example", err: "empty label"},
		{in: "10.0.0", err: "not a valid IP address"},
		{in: "300.1.1.1", err: "not a valid IP address"},
		{in: "", err: "empty entry"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := parseEntry(tt.in, 7000)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, entryString(e))
		})
	}
}

func TestParseEntryWithoutDefaultPort(t *testing.T) {
	_, err := parseEntry("10.0.0.1", 0)
	require.ErrorContains(t, err, "no port, and no default port is set")
	e, err := parseEntry("10.0.0.1:7001", 0)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1:7001", entryString(e))
}

func TestParseNamePort(t *testing.T) {
	tests := []struct {
		in, name string
		port     int
		err      string
	}{
		{in: "hearsay.ns.svc.cluster.local", name: "hearsay.ns.svc.cluster.local", port: 7000},
		{in: "hearsay.ns.svc.cluster.local:7001", name: "hearsay.ns.svc.cluster.local", port: 7001},
		{in: " seeds.example. ", name: "seeds.example.", port: 7000},
		{in: "seeds.example:0", err: "port 0"},
		{in: "seeds.example:x", err: `port "x"`},
		{in: "10.0.0.1:7000", err: "is an IP address, not a DNS name"},
		{in: ":7000", err: "empty host"},
		{in: "a b:7000", err: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, port, err := ParseNamePort(tt.in, 7000)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.name, name)
			assert.Equal(t, tt.port, port)
		})
	}
	_, _, err := ParseNamePort("seeds.example", 0)
	require.ErrorContains(t, err, "no default port")
	_, _, err = ParseNamePort("seeds.example", 70000)
	require.ErrorContains(t, err, "default port 70000")
}

func TestNormalizeList(t *testing.T) {
	got := normalizeList([]string{"[::1]:7000", "10.0.0.2:7000", "zz", "10.0.0.10:7000", "10.0.0.2:7000", "[::ffff:10.0.0.2]:7000", "aa", "zz"})
	assert.Equal(t, []string{"10.0.0.2:7000", "10.0.0.10:7000", "[::1]:7000", "aa", "zz"}, got)
	assert.Empty(t, normalizeList(nil))
}

// entryString renders an entry for comparisons.
func entryString(e entry) string {
	if e.isIP() {
		return netip.AddrPortFrom(e.addr, e.port).String()
	}
	return e.key()
}

// FuzzParseEntry checks that parsing never panics, and that a parsed entry,
// written back out, parses to the same entry.
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.1:7000", "::1", "[::1]:7000", "[fe80::1%eth0]:1", "seed.example", "a:b:c", "[x]", "", "1.2.3", "_a._b.c:65535"} {
		f.Add(s, 7000)
	}
	f.Fuzz(func(t *testing.T, s string, port int) {
		e, err := parseEntry(s, port%65536)
		if err != nil {
			return
		}
		require.NotZero(t, e.port)
		again, err := parseEntry(entryString(e), 0)
		require.NoError(t, err, "%q rendered as %q", s, entryString(e))
		assert.Equal(t, e, again)
	})
}

func TestPortRange(t *testing.T) {
	for _, p := range []int{-1, 65536} {
		assert.Error(t, checkPortRange("port", p, true), strconv.Itoa(p))
	}
	assert.NoError(t, checkPortRange("port", 0, true))
	assert.Error(t, checkPortRange("port", 0, false))
}
