package messaging_test

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// timeWaitSockets counts the IPv4 sockets in TIME_WAIT from local port
// from to remote port to, as /proc/net/tcp lists them.
func timeWaitSockets(t *testing.T, from, to uint16) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	require.NoError(t, err)
	defer f.Close()
	local, remote := fmt.Sprintf(":%04X", from), fmt.Sprintf(":%04X", to)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && strings.HasSuffix(fields[1], local) && strings.HasSuffix(fields[2], remote) && fields[3] == "06" {
			n++
		}
	}
	require.NoError(t, sc.Err())
	return n
}

// TestTCPEvictionLeavesNoTimeWait (issue 10): a connection closed to make
// room under MaxConns is reset, not closed in order, so its ephemeral
// port is not held in TIME_WAIT for a minute. Before, a 128-node join on
// one host closed tens of thousands of connections in seconds, filled
// the ephemeral port range with TIME_WAIT sockets, and each dial then
// spent milliseconds of CPU in the kernel looking for a free port (63% of
// the process's CPU in one profile).
func TestTCPEvictionLeavesNoTimeWait(t *testing.T) {
	a := newTCP(t, "127.0.0.1:0", func(c *messaging.TCPConfig) { c.MaxConns = 1 })
	b, c := newTCP(t, "127.0.0.1:0"), newTCP(t, "127.0.0.1:0")
	require.NoError(t, a.Send(b.LocalAddr(), []byte("1")))
	p := receiveFrom(t, b, "1")
	src, err := netip.ParseAddrPort(p.Remote)
	require.NoError(t, err)
	dst, err := netip.ParseAddrPort(b.LocalAddr())
	require.NoError(t, err)
	// a's only connection may be evicted once it has been idle a while.
	require.Eventually(t, func() bool {
		return a.Send(c.LocalAddr(), []byte("2")) == nil && a.Stats().EvictedConns == 1
	}, waitTimeout, 50*time.Millisecond)
	receiveFrom(t, c, "2")
	require.Eventually(t, func() bool { return b.Stats().OpenConns == 0 }, waitTimeout, time.Millisecond,
		"b saw a's connection closed")
	assert.Never(t, func() bool { return timeWaitSockets(t, src.Port(), dst.Port()) > 0 },
		300*time.Millisecond, 10*time.Millisecond, "a holds the evicted connection's port %d in TIME_WAIT", src.Port())
}
