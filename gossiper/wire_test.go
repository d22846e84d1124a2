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

// TestRuntimeLeanInMemory: gossipers on an in-memory network with the
// lean encoding (per-pair tables, as TCP keeps per connection) join,
// spread a change and see a restarted node up again, under 10 % loss;
// every frame decodes (a frame lost to the network is lost before it is
// encoded) and the steady exchanges ride on the pairs' tables.
func TestRuntimeLeanInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		codec, err := messaging.NewCodec(DefaultConfig().MaxFrameSize, DefaultConfig().Limits)
		require.NoError(t, err)
		net.SetCodec(codec)
		net.SetLossRate(0.1, 3)
		gs := memCluster(t, net, 6)
		for range 30 {
			time.Sleep(time.Second)
			if allUp(gs) {
				break
			}
		}
		require.True(t, allUp(gs), "6 nodes up everywhere within 30 rounds")

		require.NoError(t, gs[2].SetState("load", "0.5"))
		time.Sleep(10 * time.Second)
		for _, g := range gs {
			m, ok := g.Member("node-2")
			require.True(t, ok)
			assert.Equal(t, "0.5", m.States.Get("load").Value, "seen by %s", g.LocalID())
		}

		// node-5 restarts at the same address: the pairs start fresh.
		gen := gs[5].core.Generation()
		gs[5].halt(true)
		time.Sleep(2 * time.Second)
		gs[5] = memGossiper(t, net, 5, "mem-0:7000")
		for range 30 {
			time.Sleep(time.Second)
			if allUp(gs) {
				break
			}
		}
		require.True(t, allUp(gs), "the restarted node is up everywhere")
		m, _ := gs[0].Member("node-5")
		assert.Greater(t, m.Generation, gen)

		before := gs[0].Stats()
		time.Sleep(20 * time.Second)
		after := gs[0].Stats()
		for _, g := range gs {
			st := g.Stats()
			assert.Zero(t, st.DecodeErrors, g.LocalID())
			assert.Zero(t, st.Transport.DroppedMalformed, g.LocalID())
		}
		syns := after.Messages["syn"].Received - before.Messages["syn"].Received
		synBytes := after.Messages["syn"].ReceivedBytes - before.Messages["syn"].ReceivedBytes
		require.NotZero(t, syns)
		assert.Less(t, float64(synBytes)/float64(syns), 6.0*5, "a steady Syn of 6 digests costs a few bytes each")
		for _, g := range gs {
			require.NoError(t, g.Stop(context.Background()))
		}
	})
}
