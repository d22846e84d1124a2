package gossiper

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// TestStopWaitsForAnnouncementNotASleep: on a healthy cluster Stop
// returns as soon as the shutdown announcement is written, not after a
// fixed sleep of min(2·Interval, 1 s); inside the bubble time moves only
// when every goroutine waits, so a sleep shows as exactly that much fake
// time. The peers still see "shutdown", not a conviction.
func TestStopWaitsForAnnouncementNotASleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		gs := memCluster(t, net, 3)
		for range 200 {
			if allUp(gs) {
				break
			}
			time.Sleep(gs[0].cfg.Interval)
		}
		require.True(t, allUp(gs), "cluster converged")
		dead := gs[0].Subscribe(EventDead)
		defer dead.Close()

		start := time.Now()
		require.NoError(t, gs[1].Stop(context.Background()))
		took := time.Since(start)
		oldSleep := min(2*gs[1].cfg.Interval, time.Second)
		assert.Less(t, took, oldSleep, "Stop waited for the writes, not a fixed sleep")

		e := <-dead.C
		assert.Equal(t, "node-1", e.Endpoint)
		assert.Equal(t, "shutdown", e.Reason)
		for _, g := range gs {
			require.NoError(t, g.Stop(context.Background()))
		}
	})
}
