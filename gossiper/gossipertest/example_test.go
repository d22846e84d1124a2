package gossipertest_test

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/gossiper/gossipertest"
)

// Caches is the kind of code an application embeds hearsay for: it keeps
// the set of caches that are up, from membership events, and resyncs from
// Members when its callbacks fell behind.
type Caches struct {
	g  *gossiper.Gossiper
	mu sync.Mutex
	up []string
}

// WatchCaches follows g's membership; call the returned function to stop.
func WatchCaches(g *gossiper.Gossiper) (*Caches, func()) {
	c := &Caches{g: g}
	resync := func(gossiper.Event) { c.resync() }
	cancels := []func(){
		g.OnAlive(resync), g.OnDead(resync), g.OnChange(resync),
		g.OnRestart(resync), g.OnRemove(resync), g.OnOverflow(resync),
	}
	c.resync()
	return c, func() {
		for _, cancel := range cancels {
			cancel()
		}
	}
}

func (c *Caches) resync() {
	var up []string
	for _, m := range c.g.Members() {
		if m.Status == gossiper.StatusUp && m.States.Get("role").Value == "cache" {
			up = append(up, m.ID)
		}
	}
	c.mu.Lock()
	c.up = up
	c.mu.Unlock()
}

// Up returns the caches that are up, sorted by ID.
func (c *Caches) Up() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.up)
}

// TestCachesFollowFailures is the example of testing one's own code with
// gossipertest: five nodes in virtual time, a crash, a restart and a
// partition, in a few milliseconds of real time.
func TestCachesFollowFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := gossipertest.NewCluster(t, 5, gossipertest.WithConfig(func(i int, cfg *gossiper.Config) {
			if i > 0 {
				cfg.InitialStates = map[string]string{"role": "cache"}
			}
		}))
		require.NoError(t, c.WaitConverged(t.Context()))
		caches, stop := WatchCaches(c.Node(0))
		defer stop()
		synctest.Wait()
		assert.Equal(t, []string{"n1", "n2", "n3", "n4"}, caches.Up())

		c.Crash(2)
		time.Sleep(time.Minute) // a conviction takes about 18 intervals
		synctest.Wait()
		assert.Equal(t, []string{"n1", "n3", "n4"}, caches.Up())

		c.Restart(2)
		require.NoError(t, c.WaitConverged(t.Context()))
		synctest.Wait()
		assert.Equal(t, []string{"n1", "n2", "n3", "n4"}, caches.Up())

		c.Partition([]int{0, 1}, []int{2, 3, 4})
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, []string{"n1"}, caches.Up())
		c.Heal()
		require.NoError(t, c.WaitConverged(t.Context()))
		synctest.Wait()
		assert.Equal(t, []string{"n1", "n2", "n3", "n4"}, caches.Up())
	})
}
