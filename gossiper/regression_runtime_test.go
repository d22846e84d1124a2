package gossiper

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

func shadowingGossiper(t *testing.T, net *messaging.MemNetwork) *Gossiper {
	tr, err := net.Listen("mem-1:7000", 16)
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.ID = "n1"
	cfg.Transport = tr
	cfg.Seeds = []string{"mem-0:7000"} // nobody there: the shadow round waits ShadowTimeout
	g, err := New(cfg)
	require.NoError(t, err)
	return g
}

func TestStopDuringShadowRoundEndsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := shadowingGossiper(t, messaging.NewMemNetwork())
		startErr := make(chan error, 1)
		go func() { startErr <- g.Start(context.Background()) }()
		time.Sleep(2 * time.Second)
		require.NoError(t, g.Stop(context.Background()))
		synctest.Wait()
		select {
		case err := <-startErr:
			assert.ErrorIs(t, err, ErrStopped)
		default:
			t.Fatal("Start still blocked after Stop")
		}
	})
}

func TestStopAfterFailedStartClosesSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := shadowingGossiper(t, messaging.NewMemNetwork())
		sub := g.Subscribe()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		require.Error(t, g.Start(ctx))
		require.NoError(t, g.Stop(context.Background()))
		_, ok := <-sub.C
		assert.False(t, ok)
	})
}

// TestConcurrentStopsAllWait: every Stop or Leave returns with the loop
// gone, however they race.
func TestConcurrentStopsAllWait(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			net := messaging.NewMemNetwork()
			gs := memCluster(t, net, 2)
			time.Sleep(3 * time.Second)
			var wg sync.WaitGroup
			var early atomic.Int32
			for _, f := range []func(context.Context) error{gs[0].Stop, gs[0].Leave, gs[0].Stop} {
				wg.Go(func() {
					_ = f(context.Background())
					select {
					case <-gs[0].Done():
					default:
						early.Add(1)
					}
				})
			}
			wg.Wait()
			assert.Zero(t, early.Load())
			require.NoError(t, gs[1].Stop(context.Background()))
		})
	}
}
