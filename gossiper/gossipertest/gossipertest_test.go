package gossipertest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/gossiper/gossipertest"
)

// waitFor polls cond every second of (virtual) time, at most limit times.
func waitFor(limit int, cond func() bool) bool {
	for range limit {
		if cond() {
			return true
		}
		time.Sleep(time.Second)
	}
	return cond()
}

func statusOf(g *gossiper.Gossiper, id string) gossiper.Status {
	m, ok := g.Member(id)
	if !ok {
		return ""
	}
	return m.Status
}

// TestClusterInBubble drives a ten-node cluster through a partition, a
// heal, a crash and a restart in virtual time.
func TestClusterInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := gossipertest.NewCluster(t, 10)
		require.Equal(t, 10, c.Len())
		require.NoError(t, c.WaitConverged(t.Context()))

		require.NoError(t, c.Node(4).SetState("role", "cache"))
		require.NoError(t, c.WaitConverged(t.Context()))
		m, ok := c.Node(9).Member("n4")
		require.True(t, ok)
		assert.Equal(t, "cache", m.States.Get("role").Value)

		// A partition: each side convicts the other, and nothing converges
		// across it.
		c.Partition([]int{0, 1, 2, 3, 4}, []int{5, 6, 7, 8, 9})
		assert.True(t, waitFor(120, func() bool {
			return statusOf(c.Node(0), "n9") == gossiper.StatusDown && statusOf(c.Node(9), "n0") == gossiper.StatusDown
		}), "each side convicts the other")
		assert.Equal(t, gossiper.StatusUp, statusOf(c.Node(0), "n4"), "no false conviction within a side")
		short, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		assert.Error(t, c.WaitConverged(short), "a partitioned cluster does not converge")
		cancel()
		c.Heal()
		require.NoError(t, c.WaitConverged(t.Context()))

		// A crash: the others convict it by phi, never by a shutdown.
		dead := c.Node(0).Subscribe(gossiper.EventDead)
		old, ok := c.Node(3).Member("n3")
		require.True(t, ok)
		before := old.Generation
		c.Crash(3)
		assert.False(t, c.Running(3))
		assert.ErrorIs(t, c.Node(3).SetState("k", "v"), gossiper.ErrStopped)
		var e gossiper.Event
		require.True(t, waitFor(120, func() bool {
			for len(dead.C) > 0 {
				if e = <-dead.C; e.Endpoint == "n3" {
					return true
				}
			}
			return false
		}), "n3 convicted")
		assert.Equal(t, "convicted", e.Reason)
		require.NoError(t, c.WaitConverged(t.Context()), "the nine running nodes converge without n3")

		// A restart at once, in the same virtual second: a higher
		// generation, and everyone sees it up again.
		g := c.Restart(3)
		assert.Same(t, g, c.Node(3))
		self, ok := g.Member("n3")
		require.True(t, ok)
		assert.Greater(t, self.Generation, before)
		require.NoError(t, c.WaitConverged(t.Context()))
		m, ok = c.Node(7).Member("n3")
		require.True(t, ok)
		assert.Equal(t, self.Generation, m.Generation)
	})
}

// TestClusterOptions: WithInterval and WithConfig reach every node, and
// restarting the seed itself works.
func TestClusterOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []int
		c := gossipertest.NewCluster(t, 3, gossipertest.WithInterval(200*time.Millisecond),
			gossipertest.WithConfig(func(i int, cfg *gossiper.Config) {
				seen = append(seen, i)
				cfg.InitialStates = map[string]string{"index": gossipertest.ID(i)}
			}))
		assert.Equal(t, []int{0, 1, 2}, seen)
		start := time.Now()
		require.NoError(t, c.WaitConverged(t.Context()))
		assert.Less(t, time.Since(start), 5*time.Second, "a 200ms interval converges within 25 rounds")
		m, ok := c.Node(0).Member("n2")
		require.True(t, ok)
		assert.Equal(t, "n2", m.States.Get("index").Value)

		c.Restart(0)
		require.NoError(t, c.WaitConverged(t.Context()))
	})
}
