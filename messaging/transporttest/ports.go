package transporttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// LowestEphemeralPort is the bottom of the kernel's range for the local
// ports of outgoing connections (32768 when it cannot be read, Linux's
// default). A test that must rebind a port picks it below this.
func LowestEphemeralPort() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var lo, hi int
	if err != nil {
		return 32768
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

// FreeAddrs returns n distinct free 127.0.0.1 addresses with ports below
// the ephemeral range, for a test that binds an address, releases it and
// binds it again (a restarted peer, a restarted agent): a port picked
// with port 0 comes from the ephemeral range, and while it is released
// any outgoing connection on the machine (another test's, a browser's)
// can take it as its local port and hold it, in TIME_WAIT for a minute
// after it closes. Each candidate is drawn at random from [10000, lowest
// ephemeral port) and checked by listening on it; at most 100·n
// candidates are tried.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	const base = 10000
	span := LowestEphemeralPort() - base
	require.Greater(t, span, 1000, "ephemeral range starts too low for FreeAddrs")
	var lns []net.Listener
	var out []string
	for try := 0; try < 100*n && len(out) < n; try++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+rand.IntN(span)))
		if err != nil {
			continue // in use
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		require.NoError(t, ln.Close())
	}
	require.Len(t, out, n, "free ports below %d", base+span)
	return out
}
