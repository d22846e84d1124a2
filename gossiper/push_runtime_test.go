package gossiper

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPushOverTCP: six gossipers on 127.0.0.1 with 5 s rounds. An update
// is seen by every node well within half a round, which the digest rounds
// alone could not do (the update needs at least one round per hop): it is
// pushed. A behaviour test with a bounded wait, not a performance target.
func TestPushOverTCP(t *testing.T) {
	const interval = 5 * time.Second
	const n = 6
	gs := make([]*Gossiper, n)
	gs[0] = startTCP(t, tcpConfig("push-0", nil, interval))
	for i := 1; i < n; i++ {
		gs[i] = startTCP(t, tcpConfig(fmt.Sprintf("push-%d", i), []string{gs[0].Addr()}, interval))
	}
	require.Eventually(t, func() bool {
		for i := range gs {
			if !everyone(gs, -1, fmt.Sprintf("push-%d", i), StatusUp) {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "everyone up everywhere")

	for u := range 3 {
		origin := gs[(2*u+1)%n]
		value := fmt.Sprint("v", u)
		set := time.Now()
		require.NoError(t, origin.SetState("color", value))
		require.Eventually(t, func() bool {
			for _, g := range gs {
				m, ok := g.Member(origin.LocalID())
				if !ok || m.States.Get("color").Value != value {
					return false
				}
			}
			return true
		}, interval/2, 5*time.Millisecond, "update %d seen everywhere within half a round", u)
		t.Logf("update %d from %s seen everywhere after %v (rounds every %v)", u, origin.LocalID(), time.Since(set).Round(time.Millisecond), interval)
	}
	var pushes uint64
	for _, g := range gs {
		pushes += g.Stats().Messages["push"].Sent
	}
	assert.Positive(t, pushes)
}
