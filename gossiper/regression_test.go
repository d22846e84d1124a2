package gossiper

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// Regression tests for problems found in review.

func (h *harness) lifecycle(id, about string) []string {
	var out []string
	for _, e := range h.events[id] {
		if e.Endpoint == about && e.Kind != EventChange {
			out = append(out, e.Kind.String())
		}
	}
	return out
}

// TestRestartOfLivePeerNeedsEcho: a live peer restarts at an address n0
// cannot reach; n0 learns the new incarnation only from n1. n0 must not
// show it up before it answered an echo itself.
func TestRestartOfLivePeerNeedsEcho(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("n1", addrFor(1)))
	h.add(coreConfig("n2", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	h.until(10, func() bool { return false })
	h.down[addrFor(3)] = true
	newAddr := "10.0.0.50:7000"
	h.cut = func(from, to string) bool {
		return (from == addrFor(1) && to == newAddr) || (from == newAddr && to == addrFor(1))
	}
	h.addAt(newAddr, coreConfig("n2", addrFor(2)), h.now.Unix()+1)
	h.until(60, func() bool { return false })
	require.Len(t, h.eventsOf("n0", EventRestart, "n2"), 1)
	assert.NotEqual(t, StatusUp, h.node("n0").member("n2", h.now).Status)
	assert.Equal(t, StatusUp, h.node("n1").member("n2", h.now).Status, "n1 reaches it and saw its echo")
	assert.Equal(t, []string{"join", "alive", "restart", "alive"}, h.lifecycle("n1", "n2"))
}

func TestAssassinateReason(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("n1", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	out, err := h.node("n0").Assassinate(h.now, "n1")
	require.NoError(t, err)
	var reasons []string
	for _, e := range out.Events {
		if e.Kind == EventDead {
			reasons = append(reasons, e.Reason)
		}
	}
	assert.Equal(t, []string{"assassinated"}, reasons)
}

// TestRemovedNodeStaysRemovedDespiteLateLearner: a node that learned of a
// dead member late must not bring it back to the others after their
// quarantine: removal is announced with one absolute expiry.
func TestRemovedNodeStaysRemovedDespiteLateLearner(t *testing.T) {
	h := newHarness(t)
	cfg := func(id string, seeds ...string) Config {
		c := coreConfig(id, seeds...)
		c.RemoveDownAfter = 60 * time.Second
		c.LeftExpiry = 30 * time.Second
		c.QuarantineDuration = 20 * time.Second
		return c
	}
	h.add(cfg("n0"))
	h.add(cfg("n1", addrFor(1)))
	h.add(cfg("n2", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	h.down[addrFor(3)] = true // n2 crashes for good
	h.until(60, func() bool { return false })
	h.add(cfg("n3", addrFor(1))) // joins later and learns of n2 then
	h.until(400, func() bool { return false })
	for _, id := range []string{"n0", "n1", "n3"} {
		assert.Nil(t, h.node(id).State("n2"), id)
		assert.Len(t, h.eventsOf(id, EventRemove, "n2"), 1, "%s: %v", id, h.lifecycle(id, "n2"))
	}
	assert.Len(t, h.eventsOf("n0", EventJoin, "n2"), 1, "never re-joined")
	// Everyone removed it at the same absolute time.
	at := h.eventsOf("n0", EventRemove, "n2")[0].Time
	for _, id := range []string{"n1", "n3"} {
		assert.WithinDuration(t, at, h.eventsOf(id, EventRemove, "n2")[0].Time, 2*time.Second)
	}
}

// TestTwinOfTheOnlySeedDetected: a second process with the seed's own ID
// is refused.
func TestTwinOfTheOnlySeedDetected(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("n1", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	twin := h.addAt("10.0.0.99:7000", coreConfig("n0", addrFor(1)), h.now.Unix()+5)
	h.until(15, func() bool { return false })
	assert.ErrorIs(t, h.fatal["n0"], ErrIDInUse)
	assert.True(t, twin.Stopped())
}

func TestInitialStatesBeyondLimitsRejected(t *testing.T) {
	cfg := coreConfig("big")
	cfg.InitialStates = map[string]string{}
	for i := range cfg.Limits.MaxKeys - 1 {
		cfg.InitialStates[fmt.Sprintf("k%03d", i)] = "v"
	}
	require.Error(t, cfg.Validate(), "MaxKeys counts the node's own address and status")
	delete(cfg.InitialStates, "k000")
	require.NoError(t, cfg.Validate())
}

// TestReceiverTombstonesStayWithinLimits: an owner deleting many keys
// within the grace period must not make its state, as relayed by others,
// too big for peers to accept.
func TestReceiverTombstonesStayWithinLimits(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("n1", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	n0 := h.node("n0")
	for i := range 600 {
		k := fmt.Sprintf("job-%d", i)
		out, err := n0.SetState(h.now, k, "x")
		require.NoError(t, err)
		h.deliver(n0, out)
		out, err = n0.DeleteState(h.now, k)
		require.NoError(t, err)
		h.deliver(n0, out)
		if i%20 == 0 {
			h.round()
		}
	}
	h.until(5, func() bool { return false })
	deltas, _ := h.node("n1").states.BuildDeltas([]endpointstate.Want{{Endpoint: "n0"}}, 1<<20)
	require.Len(t, deltas, 1)
	require.NoError(t, endpointstate.DefaultLimits().CheckDelta(&deltas[0]))

	// A new node that only n1 can reach learns n0 from n1.
	h.cut = func(from, to string) bool {
		return (from == addrFor(1) && to == addrFor(3)) || (from == addrFor(3) && to == addrFor(1))
	}
	n2 := h.add(coreConfig("n2", addrFor(2)))
	h.until(10, func() bool { return false })
	assert.NotNil(t, n2.State("n0"))
	assert.NotNil(t, h.node("n1").State("n2"))
}

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
