package core

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// freshTargets computes the gossip targets from scratch, as the kept
// lists must show them: live peers with an address, and down ones that
// did not leave, both by ID.
func freshTargets(n *Node) (live, unreachable []string) {
	for _, ep := range n.states.Endpoints() {
		p, s := n.peers.get(ep), n.states.Get(ep)
		if p == nil || s.Address() == "" {
			continue
		}
		switch {
		case p.alive():
			live = append(live, ep)
		case s.Status() != endpointstate.StatusLeft:
			unreachable = append(unreachable, ep)
		}
	}
	return live, unreachable
}

// TestTargetsFollowMembership checks, after every round of a cluster
// that joins, loses a node to a crash, gets it back under a new
// generation and sees another leave, that every node's kept gossip
// targets equal the ones computed from scratch.
func TestTargetsFollowMembership(t *testing.T) {
	h := newHarness(t)
	check := func(stage string) {
		t.Helper()
		for _, a := range h.addrs {
			n := h.nodes[a]
			if h.down[a] || !n.Running() {
				continue
			}
			wantLive, wantUnreachable := freshTargets(n)
			live, unreachable := n.targets()
			require.True(t, slices.Equal(wantLive, live.strings()), "%s: %s's live targets %v, want %v", stage, n.ID(), live, wantLive)
			require.True(t, slices.Equal(wantUnreachable, unreachable.strings()), "%s: %s's unreachable targets %v, want %v",
				stage, n.ID(), unreachable, wantUnreachable)
		}
	}
	stage := "join"
	h.onStep = func(n *Node) { // after every message, not only every round
		wantLive, wantUnreachable := freshTargets(n)
		live, unreachable := n.targets()
		require.True(t, slices.Equal(wantLive, live.strings()), "%s, after a step: %s's live targets %v, want %v", stage, n.ID(), live, wantLive)
		require.True(t, slices.Equal(wantUnreachable, unreachable.strings()), "%s, after a step: %s's unreachable targets %v, want %v",
			stage, n.ID(), unreachable, wantUnreachable)
	}
	rounds := func(k int, stage string) {
		for range k {
			h.round()
			check(stage)
		}
	}
	h.add(coreConfig("n0"))
	for _, id := range []string{"n1", "n2", "n3"} {
		h.add(coreConfig(id, addrFor(1)))
		rounds(3, "join "+id)
	}
	rounds(10, "joined")
	live, _ := h.node("n0").targets()
	require.Equal(t, []string{"n1", "n2", "n3"}, live.strings(), "everyone up")

	n3 := h.addrOfID("n3")
	h.down[n3] = true
	stage = "crash"
	require.Positive(t, h.until(60, func() bool {
		check("crash")
		_, unreachable := h.node("n0").targets()
		return unreachable.len() == 1
	}), "n3 convicted")

	stage = "restart"
	h.addAt(n3, coreConfig("n3", addrFor(1)), h.now.Unix()+1)
	require.Positive(t, h.until(30, func() bool {
		check("restart")
		live, _ := h.node("n0").targets()
		return live.len() == 3
	}), "n3 back up")

	stage = "leave"
	n2 := h.node("n2")
	h.deliver(n2, n2.Leave(h.now))
	h.down[h.addrOfID("n2")] = true
	rounds(5, "leave")
	live, unreachable := h.node("n0").targets()
	assert.Equal(t, []string{"n1", "n3"}, live.strings())
	assert.Zero(t, unreachable.len(), "a left node is no target")
}
