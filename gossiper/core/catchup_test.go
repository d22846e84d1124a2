package core

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// synsIn counts the Syns out sends.
func synsIn(out Output) int {
	k := 0
	for _, m := range out.Messages {
		if _, ok := m.Message.(*messaging.Syn); ok {
			k++
		}
	}
	return k
}

// TestCatchUpRoundsAtStart (issue 10): a node that starts gossips at once
// (its first Flush sends a Syn to its seed) rather than an interval later,
// and again every Interval/4 while its exchanges teach it new endpoints,
// for its first two intervals only; a Flush with nothing new sends no
// Syn. Before, a starting node's first Syn went out at its first Tick, an
// interval after the start, so a cluster started at once took a round more
// than it needed to learn its members (peerbench's join).
func TestCatchUpRoundsAtStart(t *testing.T) {
	n, now := startingNode(t)
	n.SetSeeds([]string{"10.1.0.1:7000"})
	interval := n.cfg.Interval

	out := n.Flush(now)
	assert.Equal(t, 1, synsIn(out), "a starting node gossips at its first Flush")
	assert.Equal(t, 0, synsIn(n.Flush(now.Add(time.Millisecond))), "no news: no catch-up round")

	// An exchange teaches it new endpoints: the next catch-up round is
	// due Interval/4 after the last, not before, and the loop is told.
	var o Output
	require.NoError(t, n.applyDeltas(now.Add(10*time.Millisecond), peerDeltas(0, 5), &o))
	wait, pending := n.PushPending(now.Add(10 * time.Millisecond))
	require.True(t, pending)
	assert.LessOrEqual(t, wait, interval/4-10*time.Millisecond)
	assert.Equal(t, 0, synsIn(n.Flush(now.Add(interval/8))), "before Interval/4")
	assert.Positive(t, synsIn(n.Flush(now.Add(interval/4))), "due at Interval/4 after news")

	// After the window, news brings no extra round: the Ticks gossip.
	require.NoError(t, n.applyDeltas(now.Add(2*interval), peerDeltas(5, 10), &o))
	assert.Equal(t, 0, synsIn(n.Flush(now.Add(2*interval))), "the window is two intervals")
	assert.Equal(t, uint64(2), n.Counters().CatchUpRounds)
}

// TestNoCatchUpFromView: a node started from a known view has nothing to
// catch up on, so Flush sends no Syn.
func TestNoCatchUpFromView(t *testing.T) {
	cfg := DefaultNodeConfig()
	cfg.ID = "self"
	now := time.Unix(benchGen, 0).Add(time.Hour)
	n, err := NewNode(cfg, "10.9.9.9:7000", benchGen, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	require.NoError(t, n.StartFromView(now, nil))
	assert.Equal(t, 0, synsIn(n.Flush(now)))
}

// peerDeltas returns new-endpoint deltas for benchID(from) to benchID(to-1).
func peerDeltas(from, to int) []endpointstate.Delta {
	deltas := make([]endpointstate.Delta, 0, to-from)
	for i := from; i < to; i++ {
		deltas = append(deltas, endpointstate.Delta{Endpoint: benchID(i), Generation: benchGen, HeartBeat: 3, Reset: true,
			States: []endpointstate.KeyValue{
				{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: fmt.Sprintf("10.1.%d.%d:7000", i>>8, i&255), Version: 1}},
				{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusNormal, Version: 2}},
			}})
	}
	return deltas
}

// TestCatchUpRetriesUnansweredRound (issue 10): a catch-up round whose
// Syn has no Ack (at a cluster-wide start the seed refuses connections
// beyond its MaxConns) is sent again Interval/4 later, even without
// news, until an Ack comes. Before, a starting node whose first Syn was
// lost learnt nothing until its first Tick, an interval later.
func TestCatchUpRetriesUnansweredRound(t *testing.T) {
	n, now := startingNode(t)
	seed := "10.1.0.1:7000"
	n.SetSeeds([]string{seed})
	interval := n.cfg.Interval

	require.Equal(t, 1, synsIn(n.Flush(now)), "the first catch-up round")
	assert.Equal(t, 0, synsIn(n.Flush(now.Add(interval/8))), "not before Interval/4")
	assert.Equal(t, 1, synsIn(n.Flush(now.Add(interval/4))), "no Ack came: sent again")

	n.Step(now.Add(interval/4+time.Millisecond), &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: n.cfg.ClusterName,
		From: "seed", Addr: seed, Message: &messaging.Ack{}})
	assert.Equal(t, 0, synsIn(n.Flush(now.Add(interval/2))), "answered, nothing new: no round")
	assert.Equal(t, uint64(2), n.Counters().CatchUpRounds)
}

// startingNode returns a node named "self" just started (no shadow round)
// and the time it started at; configure, if given, adjusts its
// configuration first.
func startingNode(t *testing.T, configure ...func(*NodeConfig)) (*Node, time.Time) {
	t.Helper()
	cfg := DefaultNodeConfig()
	cfg.ID, cfg.ShadowTimeout = "self", 0
	for _, c := range configure {
		c(&cfg)
	}
	now := time.Unix(benchGen, 0).Add(time.Hour)
	n, err := NewNode(cfg, "10.9.9.9:7000", benchGen, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	n.Start(now)
	return n, now
}
