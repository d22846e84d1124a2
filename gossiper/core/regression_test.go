package core

import (
	"fmt"
	"testing"
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
	h.cluster(3, coreConfig)
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
	h.cluster(2, coreConfig)
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
	cfg := configWith(func(c *NodeConfig) {
		c.RemoveDownAfter = 60 * time.Second
		c.LeftExpiry = 30 * time.Second
		c.QuarantineDuration = 20 * time.Second
	})
	h.cluster(3, cfg)
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
	h.cluster(2, coreConfig)
	twin := h.addAt("10.0.0.99:7000", coreConfig("n0", addrFor(1)), h.now.Unix()+5)
	h.until(15, func() bool { return false })
	assert.ErrorIs(t, h.fatal["n0"], ErrIDInUse)
	assert.True(t, twin.Stopped())
}

func TestInitialStatesBeyondLimitsRejected(t *testing.T) {
	cfg := coreConfig("big")
	cfg.InitialStates = map[string]string{}
	for i := range cfg.Limits.MaxKeys + 1 {
		cfg.InitialStates[fmt.Sprintf("k%03d", i)] = "v"
	}
	require.Error(t, cfg.Validate())
	delete(cfg.InitialStates, "k000")
	require.NoError(t, cfg.Validate(), "hearsay's own keys come on top of MaxKeys")
}

// TestReceiverTombstonesStayWithinLimits: an owner deleting many keys
// within the grace period must not make its state, as relayed by others,
// too big for peers to accept.
func TestReceiverTombstonesStayWithinLimits(t *testing.T) {
	h := newHarness(t)
	h.cluster(2, coreConfig)
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

// Two nodes announce the same dead endpoint left (a partition, or simply
// the same RemoveDownAfter firing on both before gossip carries the other's
// announcement). Same generation, same versions, different expiry: the
// states must still converge: the later expiry wins.
func TestConflictingLeftAnnouncementsConverge(t *testing.T) {
	h := newHarness(t)
	cfg := configWith(func(c *NodeConfig) {
		c.LeftExpiry = 10 * time.Minute
		c.QuarantineDuration = 30 * time.Second
	})
	h.cluster(4, cfg)
	h.down[addrFor(4)] = true // n3 crashes
	require.Positive(t, h.until(60, func() bool {
		return h.node("n0").member("n3", h.now).Status == StatusDown && h.node("n1").member("n3", h.now).Status == StatusDown
	}))
	// n0 and n1 cannot talk for a while; each operator removes n3.
	h.cut = func(from, to string) bool {
		return (from == addrFor(1) && to == addrFor(2)) || (from == addrFor(2) && to == addrFor(1)) ||
			from == addrFor(3) || to == addrFor(3)
	}
	out, err := h.node("n0").Remove(h.now, "n3")
	require.NoError(t, err)
	h.deliver(h.node("n0"), out)
	h.until(120, func() bool { return false })
	out, err = h.node("n1").Remove(h.now, "n3")
	require.NoError(t, err)
	h.deliver(h.node("n1"), out)
	h.cut = nil
	h.until(200, func() bool { return false })
	e0, _ := h.node("n0").State("n3").Expires()
	e1, _ := h.node("n1").State("n3").Expires()
	t.Logf("n0 expiry %v, n1 expiry %v, n2 expiry %v", e0, e1, func() time.Time { e, _ := h.node("n2").State("n3").Expires(); return e }())
	assert.Equal(t, e0, e1, "left states of n3 should converge")
	// Run past both expiries: n0 removes first, then takes n3 back from n1.
	h.until(700, func() bool { return false })
	t.Logf("n0 lifecycle of n3: %v", h.lifecycle("n0", "n3"))
	t.Logf("n2 lifecycle of n3: %v", h.lifecycle("n2", "n3"))
	assert.Len(t, h.eventsOf("n0", EventJoin, "n3"), 1, "removed member came back")
}

// A node at the live-key limit that leaves: the left state carries one more
// reserved key (hearsay.expires); reserved keys do not count against
// MaxKeys, so peers accept it.
func TestLeaveAtKeyLimit(t *testing.T) {
	h := newHarness(t)
	h.cluster(2, coreConfig)
	n1 := h.node("n1")
	for i := 0; ; i++ {
		out, err := n1.SetState(h.now, fmt.Sprintf("k%03d", i), "v")
		if err != nil {
			require.ErrorIs(t, err, endpointstate.ErrTooManyKeys)
			break
		}
		h.deliver(n1, out)
	}
	require.Positive(t, h.until(30, h.converged))
	h.deliver(n1, n1.Leave(h.now))
	h.down[addrFor(2)] = true
	t.Logf("n0 warnings: %v", h.warns["n0"])
	assert.Equal(t, StatusLeft, h.node("n0").member("n1", h.now).Status)
}

// Assassinating an ID nobody knows yet announces it left a minute ahead of
// the clock; the real node starting within that minute (without a shadow
// round that reads its own state) refutes the announcement.
func TestAssassinatedUnknownIDCanStart(t *testing.T) {
	h := newHarness(t)
	cfg := configWith(func(c *NodeConfig) {
		c.ShadowTimeout = 0
	})
	h.cluster(2, cfg)
	out, err := h.node("n0").Assassinate(h.now, "n2")
	require.NoError(t, err)
	h.deliver(h.node("n0"), out)
	h.until(5, func() bool { return false })
	h.add(cfg("n2", addrFor(1)))
	h.until(300, func() bool { return false })
	assert.Equal(t, StatusUp, h.node("n0").member("n2", h.now).Status)
	t.Logf("n0 sees n2: %+v", h.node("n0").member("n2", h.now).Status)
	t.Logf("n2 sees: %v", h.node("n2").Members(h.now))
}

// A live member assassinated is seen dead (it was announced left), not
// restarted; it then refutes the announcement and comes back up.
func TestAssassinatedLiveMemberDeadThenRefutes(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	out, err := h.node("n0").Assassinate(h.now, "n2")
	require.NoError(t, err)
	h.deliver(h.node("n0"), out)
	require.Positive(t, h.until(20, func() bool { return h.node("n1").member("n2", h.now).Status == StatusLeft }))
	t.Logf("n0: %v  n1: %v", h.lifecycle("n0", "n2"), h.lifecycle("n1", "n2"))
	assert.NotEmpty(t, h.eventsOf("n1", EventDead, "n2"), "n1 saw n2 go from up to left")
	require.Positive(t, h.until(20, func() bool { return h.node("n1").member("n2", h.now).Status == StatusUp }))
	assert.Equal(t, []string{"join", "alive", "dead", "restart", "alive"}, h.lifecycle("n1", "n2"))
}

// A running node isolated for RemoveDownAfter sees nobody up and announces
// nobody left; when the network heals every healthy member is still up.
func TestIsolatedNodeDoesNotEvictHealthyCluster(t *testing.T) {
	h := newHarness(t)
	cfg := configWith(func(c *NodeConfig) {
		c.RemoveDownAfter = 60 * time.Second
		c.LeftExpiry = 10 * time.Minute
	})
	h.cluster(4, cfg)
	iso := addrFor(4) // n3
	h.cut = func(from, to string) bool { return from == iso || to == iso }
	h.until(90, func() bool { return false }) // > RemoveDownAfter
	h.cut = nil
	h.until(30, func() bool { return false })
	for _, obs := range []string{"n0", "n1", "n2", "n3"} {
		var view []string
		for _, m := range h.node(obs).Members(h.now) {
			view = append(view, fmt.Sprintf("%s:%s", m.ID, m.Status))
		}
		t.Logf("%s sees %v", obs, view)
	}
	for _, obs := range []string{"n0", "n1", "n2"} {
		for _, id := range []string{"n0", "n1", "n2"} {
			assert.Equal(t, StatusUp, h.node(obs).member(id, h.now).Status, "%s sees healthy %s", obs, id)
			assert.Empty(t, h.eventsOf(obs, EventRestart, id), "no announcement to refute")
		}
	}
}

// Remove (or RemoveDownAfter) picks generation G+1 for its left state; a
// restart of the member that got the same generation G+1 (clock went back
// with a generation file, a restart within the same second boundary, or a
// shadow-round bump) must not leave a mixed state: the announcement wins
// (higher versions) and the live node refutes it.
func TestLeftAnnouncementCollidingWithRestart(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	g := h.node("n2").Generation()
	h.down[addrFor(3)] = true
	require.Positive(t, h.until(60, func() bool { return h.node("n0").member("n2", h.now).Status == StatusDown }))
	// n0 cannot reach n1 or n2 for a moment; n2 restarts with generation g+1.
	h.cut = func(from, to string) bool { return from == addrFor(1) || to == addrFor(1) }
	cfg := coreConfig("n2", addrFor(2))
	cfg.ShadowTimeout = 0
	h.addAt(addrFor(3), cfg, g+1)
	h.until(5, func() bool { return false })
	out, err := h.node("n0").Remove(h.now, "n2")
	require.NoError(t, err)
	h.deliver(h.node("n0"), out)
	h.cut = nil
	h.until(60, func() bool { return false })
	for _, obs := range []string{"n0", "n1"} {
		s := h.node(obs).State("n2")
		t.Logf("%s: n2 gen %d status %q hb %d -> %s", obs, s.HeartBeat.Generation, s.Status(), s.HeartBeat.Version, h.node(obs).member("n2", h.now).Status)
	}
	assert.Equal(t, h.node("n0").member("n2", h.now).Status, h.node("n1").member("n2", h.now).Status, "views converge")
}

// TestSameSecondRestartOfSeed: a seed (no shadow round: it has no seeds)
// restarts within the same second, so with the same generation, and peers
// hold higher versions of its old incarnation. It must take over: peers see
// its new state, with no dead/alive flapping.
func TestSameSecondRestartOfSeed(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	h.until(300, func() bool { return false })
	g := h.node("n0").Generation()
	h.down[addrFor(1)] = true
	n0 := h.addAt(addrFor(1), coreConfig("n0"), g)
	out, err := n0.SetState(h.now, "role", "new")
	require.NoError(t, err)
	h.deliver(n0, out)
	require.Positive(t, h.until(30, func() bool {
		v, _ := h.node("n1").State("n0").Get("role")
		return h.converged() && v == "new"
	}))
	assert.Greater(t, n0.Generation(), g)
	h.until(100, func() bool { return false })
	assert.LessOrEqual(t, len(h.eventsOf("n1", EventDead, "n0")), 1, "%v", h.lifecycle("n1", "n0"))
}

// TestRestartWithLowerGeneration: a seed whose clock went back restarts
// with a lower generation than its old incarnation's; it takes over at
// once instead of staying down until someone announces it left.
func TestRestartWithLowerGeneration(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	g := h.node("n0").Generation()
	h.down[addrFor(1)] = true
	h.until(20, func() bool { return false })
	n0 := h.addAt(addrFor(1), coreConfig("n0"), g-5)
	require.Positive(t, h.until(30, h.converged))
	assert.Greater(t, n0.Generation(), g)
}

// TestPreviousIncarnationElsewhereTakenOver: a node restarted at a new
// address (with a lower generation) probes the old address, finds nobody
// and takes over.
func TestPreviousIncarnationElsewhereTakenOver(t *testing.T) {
	h := newHarness(t)
	cfg := configWith(func(c *NodeConfig) { c.ShadowTimeout = 0 })
	h.cluster(3, cfg)
	g := h.node("n2").Generation()
	h.down[addrFor(3)] = true
	n2 := h.addAt("10.0.0.77:7000", cfg("n2", addrFor(1)), g-5)
	require.Positive(t, h.until(30, h.converged))
	assert.Greater(t, n2.Generation(), g)
	assert.Equal(t, "10.0.0.77:7000", h.node("n0").State("n2").Address())
}

// TestRefutationIgnoresUnbelievableGenerations: a "left" announcement of a
// live node with a generation far in the future (or at the int64 limit)
// does not move the node's generation there.
func TestRefutationIgnoresUnbelievableGenerations(t *testing.T) {
	for _, far := range []int64{epoch.Unix() + 2*365*86400, 1<<63 - 1} {
		h := newHarness(t)
		h.add(coreConfig("n0"))
		h.add(coreConfig("n1", addrFor(1)))
		require.Positive(t, h.until(30, h.converged))
		gen := h.node("n1").Generation()
		left := endpointstate.Delta{Endpoint: "n1", Generation: far, HeartBeat: 4, Reset: true, States: []endpointstate.KeyValue{
			{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusLeft, Version: 2}},
		}}
		h.deliver(h.node("n0"), Output{Messages: []Outgoing{{To: addrFor(2), Message: &messaging.Ack2{Deltas: []endpointstate.Delta{left}}}}})
		h.until(60, func() bool { return false })
		assert.Equal(t, gen, h.node("n1").Generation())
		assert.Equal(t, StatusUp, h.node("n0").member("n1", h.now).Status)
	}
}

// joinedPeer makes n (running) know peer id at generation gen, advertising
// addr, and see it up (it answered n's echo), all at now.
func joinedPeer(t *testing.T, n *Node, now time.Time, id, addr string, gen int64) {
	t.Helper()
	env := func(m messaging.Message) *messaging.Envelope {
		return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: n.cfg.ClusterName, From: id, Addr: addr, Message: m}
	}
	delta := endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: 1, Reset: true, States: []endpointstate.KeyValue{
		{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: addr, Version: 1}},
		{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusNormal, Version: 2}},
	}}
	out := n.Step(now, env(&messaging.Ack2{Deltas: []endpointstate.Delta{delta}}))
	require.Empty(t, out.Warnings)
	var nonce uint64
	for _, m := range out.Messages {
		if e, ok := m.Message.(*messaging.Echo); ok {
			nonce = e.Nonce
		}
	}
	require.NotZero(t, nonce, "n echoes the new peer")
	n.Step(now, env(&messaging.EchoReply{Nonce: nonce, Generation: gen}))
	require.Equal(t, StatusUp, n.member(id, now).Status)
}

// TestAssassinateRefusedFarGenerationChangesNothing: assassinating a member
// whose generation is at the edge of the acceptance window (old+1 would be
// refused everywhere) fails with ErrGenerationTooFar, and the member stays
// up: no dead event, no message, no state change.
func TestAssassinateRefusedFarGenerationChangesNothing(t *testing.T) {
	n, err := NewNode(coreConfig("n0"), "10.0.0.1:7000", 1, nil)
	require.NoError(t, err)
	n.Start(epoch)
	now := epoch.Add(time.Second)
	gen := now.Unix() + endpointstate.MaxGenerationDrift
	joinedPeer(t, n, now, "far", "10.0.0.9:7000", gen)
	before := n.member("far", now)

	out, err := n.Assassinate(now, "far")
	require.ErrorIs(t, err, endpointstate.ErrGenerationTooFar)
	assert.Empty(t, out.Events, "no dead event for a refused assassination")
	assert.Empty(t, out.Messages)
	assert.Equal(t, before, n.member("far", now), "the member is as it was: up")
}

// TestAssassinateRefusedFullTableChangesNothing: assassinating an unknown
// ID while MaxEndpoints are known fails with ErrTooManyEndpoints and leaves
// everything as it was, including the quarantine of an ID removed here.
func TestAssassinateRefusedFullTableChangesNothing(t *testing.T) {
	cfg := coreConfig("n0")
	cfg.MaxEndpoints = 2
	n, err := NewNode(cfg, "10.0.0.1:7000", 1, nil)
	require.NoError(t, err)
	n.Start(epoch)
	now := epoch.Add(time.Second)
	joinedPeer(t, n, now, "n1", "10.0.0.2:7000", 5)
	n.removed["ghost"] = removal{generation: 50, until: now.Add(time.Minute)}
	members := n.Members(now)

	out, err := n.Assassinate(now, "ghost")
	require.ErrorIs(t, err, endpointstate.ErrTooManyEndpoints)
	assert.Empty(t, out.Events)
	assert.Empty(t, out.Messages)
	assert.Equal(t, members, n.Members(now))
	assert.True(t, n.quarantined("ghost", 50, now), "the quarantine is not lifted")
}
