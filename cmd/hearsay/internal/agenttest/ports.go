package agenttest

import (
	"testing"

	"github.com/hearsay-io/hearsay/messaging/transporttest"
)

// FreeAddrs returns n distinct free 127.0.0.1 addresses with ports below
// the ephemeral range (see [transporttest.FreeAddrs]): an agent restarted
// on its address must find it free.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	return transporttest.FreeAddrs(t, n)
}
