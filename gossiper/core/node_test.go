package core

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// selectionNode builds a running node that knows live and unreachable
// peers, without any network: peers are installed directly.
func selectionNode(t *testing.T, live, unreachable int, seeds []string, seed uint64) *Node {
	cfg := coreConfig("self", seeds...)
	n, err := NewNode(cfg, "10.0.0.1:7000", epoch.Unix(), rand.New(rand.NewPCG(seed, 1)))
	require.NoError(t, err)
	n.Start(epoch)
	n.phase = phaseRunning
	for i := range live + unreachable {
		id := fmt.Sprintf("p%d", i)
		s := endpointstate.NewEndpointState(epoch.Unix())
		s.Set(endpointstate.KeyAddress, addrFor(10+i), 1)
		s.Set(endpointstate.KeyStatus, endpointstate.StatusNormal, 2)
		n.states.Put(id, s)
		p := n.peers.track(id)
		p.setAlive(i < live)
		n.detector.ReportTracker(&p.fd, id, epoch)
	}
	return n
}

// TestPeerSelectionProbabilities checks Cassandra's target choice (§2.2 of
// the reference): one live peer always; an unreachable one with
// probability U/(L+1); a seed when the live target was not a seed (or L <
// seeds) with probability seeds/(L+U), and always when none is live.
func TestPeerSelectionProbabilities(t *testing.T) {
	const rounds = 40000
	cases := []struct {
		name              string
		live, unreachable int
		seeds             []string
		wantUnreachable   float64
		wantSeed          float64
	}{
		{"seed outside the live set", 3, 2, []string{"10.9.9.9:7000"}, 2.0 / 4, 1.0 / 5},
		// The seed is live peer p0: the live pick hits it with p=1/3, and
		// then no extra seed gossip happens (L >= seeds).
		{"seed is a live peer", 3, 2, []string{addrFor(10)}, 2.0 / 4, 2.0 / 3 * 1.0 / 5},
		{"nobody live", 0, 4, []string{"10.9.9.9:7000", "10.9.9.8:7000"}, 4.0 / 1, 1},
		{"no seeds", 4, 1, nil, 1.0 / 5, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := selectionNode(t, tc.live, tc.unreachable, tc.seeds, 42)
			unreachableAddrs := map[string]bool{}
			for i := tc.live; i < tc.live+tc.unreachable; i++ {
				unreachableAddrs[addrFor(10+i)] = true
			}
			var toUnreachable, toExtraSeed, toLive int
			for range rounds {
				var out Output
				n.gossip(epoch, &out)
				for i, m := range out.Messages {
					_, isSyn := m.Message.(*messaging.Syn)
					require.True(t, isSyn)
					switch {
					case i == 0 && tc.live > 0:
						toLive++
					case unreachableAddrs[m.To]:
						toUnreachable++
					default:
						toExtraSeed++
					}
				}
			}
			if tc.live > 0 {
				assert.Equal(t, rounds, toLive, "one live peer every round")
			}
			assert.InDelta(t, math.Min(tc.wantUnreachable, 1), float64(toUnreachable)/rounds, 0.01, "unreachable")
			assert.InDelta(t, tc.wantSeed, float64(toExtraSeed)/rounds, 0.01, "seed")
		})
	}
}

func TestForeignClusterRejected(t *testing.T) {
	h := newHarness(t)
	a := h.add(coreConfig("a"))
	before := a.Digests()
	out := a.Step(h.now, &messaging.Envelope{Version: 1, Cluster: "other", From: "x", Addr: "10.9.9.9:7000",
		Message: &messaging.Ack2{Deltas: []endpointstate.Delta{{Endpoint: "x", Generation: 5, Reset: true}}}})
	assert.Empty(t, out.Messages)
	require.Len(t, out.Warnings, 1)
	assert.Contains(t, out.Warnings[0].Error(), `cluster "other"`)
	assert.EqualValues(t, 1, a.Counters().ClusterMismatch)
	assert.Equal(t, before, a.Digests(), "nothing applied")

	// A Syn from a foreign cluster gets no answer either.
	out = a.Step(h.now, &messaging.Envelope{Version: 1, Cluster: "other", From: "x", Addr: "10.9.9.9:7000", Message: &messaging.Syn{}})
	assert.Empty(t, out.Messages)
}

func TestJoinConvergeAndStateSpread(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	for i := 1; i < 5; i++ {
		h.add(coreConfig(fmt.Sprintf("n%d", i), addrFor(1)))
	}
	require.Positive(t, h.until(30, h.converged), "5 nodes converge")
	out, err := h.node("n2").SetState(h.now, "role", "db")
	require.NoError(t, err)
	h.deliver(h.node("n2"), out)
	require.Positive(t, h.until(30, h.converged))
	for _, a := range h.addrs {
		v, ok := h.nodes[a].State("n2").Get("role")
		assert.True(t, ok)
		assert.Equal(t, "db", v)
	}
	// Events on n0 about n2: join, then alive (after the echo), then the
	// change.
	kinds := []EventKind{}
	for _, e := range h.events["n0"] {
		if e.Endpoint == "n2" && (e.Kind != EventChange || e.Key == "role") {
			kinds = append(kinds, e.Kind)
		}
	}
	assert.Equal(t, []EventKind{EventJoin, EventAlive, EventChange}, kinds)
}

func TestCrashConvictedAndRestart(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	for i := 1; i < 4; i++ {
		h.add(coreConfig(fmt.Sprintf("n%d", i), addrFor(1)))
	}
	require.Positive(t, h.until(30, h.converged))
	h.until(20, func() bool { return false }) // let the detectors learn
	h.down[addrFor(3)] = true                 // n2 crashes
	rounds := h.until(60, func() bool {
		return h.node("n0").member("n2", h.now).Status == StatusDown && h.node("n1").member("n2", h.now).Status == StatusDown
	})
	require.Positive(t, rounds, "crashed node convicted")
	// Exponential model, threshold 8: conviction after about 18.4 mean
	// intervals of silence; heartbeats arrive about once a round.
	assert.InDelta(t, 19, rounds, 6)
	dead := h.eventsOf("n0", EventDead, "n2")
	require.Len(t, dead, 1)
	assert.Equal(t, "convicted", dead[0].Reason)
	assert.Greater(t, dead[0].Phi, 8.0)

	// Restart with a higher generation: restart event, then alive again.
	h.addAt(addrFor(3), coreConfig("n2", addrFor(1)), h.now.Unix())
	require.Positive(t, h.until(30, h.converged))
	restarts := h.eventsOf("n0", EventRestart, "n2")
	require.Len(t, restarts, 1)
	assert.Greater(t, restarts[0].Generation, restarts[0].OldGeneration)
	alive := h.eventsOf("n0", EventAlive, "n2")
	require.Len(t, alive, 2, "%v", h.events["n0"])
	assert.False(t, alive[1].Time.Before(restarts[0].Time), "%v %v", alive, restarts)
}

func TestGracefulShutdownSeenAtOnce(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	n1 := h.node("n1")
	h.deliver(n1, n1.Shutdown(h.now))
	// No round needed: the Shutdown messages were delivered.
	for _, id := range []string{"n0", "n2"} {
		assert.Equal(t, StatusDown, h.node(id).member("n1", h.now).Status, id)
		dead := h.eventsOf(id, EventDead, "n1")
		require.Len(t, dead, 1)
		assert.Equal(t, "shutdown", dead[0].Reason)
	}
	// Stale gossip of the same generation never brings it back up.
	h.down[addrFor(2)] = true
	h.until(30, func() bool { return false })
	assert.Equal(t, StatusDown, h.node("n0").member("n1", h.now).Status)
	assert.Len(t, h.eventsOf("n0", EventAlive, "n1"), 1, "only the first alive")
	assert.Equal(t, endpointstate.StatusShutdown, h.node("n2").State("n1").Status())
}

func TestRemovalAndQuarantine(t *testing.T) {
	h := newHarness(t)
	cfg := configWith(func(c *NodeConfig) {
		c.RemoveDownAfter = 30 * time.Second
		c.LeftExpiry = 20 * time.Second
		c.QuarantineDuration = 20 * time.Second
	})
	h.cluster(3, cfg)
	h.down[addrFor(3)] = true
	crash := h.now
	require.Positive(t, h.until(120, func() bool { return h.node("n0").State("n2") == nil }), "removed after being down")
	removed := h.eventsOf("n0", EventRemove, "n2")
	require.Len(t, removed, 1)
	dead := h.eventsOf("n0", EventDead, "n2")
	require.Len(t, dead, 1)
	assert.GreaterOrEqual(t, removed[0].Time.Sub(crash), 50*time.Second, "silent for RemoveDownAfter, then left for LeftExpiry")
	assert.Equal(t, "expired", removed[0].Reason)

	// While quarantined, gossip about n2 is ignored: feed n0 n2's last
	// state directly.
	n0 := h.node("n0")
	stale := h.nodes[addrFor(3)]
	deltas, _ := stale.states.BuildDeltas([]endpointstate.Want{{Endpoint: "n2"}}, 1<<20)
	out := n0.Step(h.now, &messaging.Envelope{Version: 1, Cluster: "hearsay", From: "n1", Addr: addrFor(2), Message: &messaging.Ack2{Deltas: deltas}})
	assert.Empty(t, out.Events)
	assert.Nil(t, n0.State("n2"), "quarantine keeps it out")
	// A restart (a newer generation) is welcome at once.
	h.addAt(addrFor(3), cfg("n2", addrFor(1)), h.now.Unix())
	require.Positive(t, h.until(30, h.converged))
}

func TestRemoveAndAssassinate(t *testing.T) {
	h := newHarness(t)
	cfg := configWith(func(c *NodeConfig) {
		c.LeftExpiry = 40 * time.Second
	})
	h.add(cfg("n0"))
	for i := 1; i < 5; i++ {
		h.add(cfg(fmt.Sprintf("n%d", i), addrFor(1)))
	}
	require.Positive(t, h.until(30, h.converged))
	n0 := h.node("n0")

	_, err := n0.Remove(h.now, "n2")
	assert.ErrorIs(t, err, ErrMemberAlive, "remove refuses a live member")
	_, err = n0.Remove(h.now, "n0")
	assert.ErrorIs(t, err, ErrSelf)
	_, err = n0.Remove(h.now, "nobody")
	assert.ErrorIs(t, err, ErrUnknownMember)

	// Assassinate a member that is gone but not yet convicted: announced
	// left everywhere, removed by everyone at the announced expiry.
	h.down[addrFor(3)] = true
	out, err := n0.Assassinate(h.now, "n2")
	require.NoError(t, err)
	h.deliver(n0, out)
	require.Positive(t, h.until(20, func() bool {
		return h.node("n1").member("n2", h.now).Status == StatusLeft && h.node("n3").member("n2", h.now).Status == StatusLeft
	}))
	assert.Equal(t, "assassinated", h.eventsOf("n0", EventDead, "n2")[0].Reason)
	require.Positive(t, h.until(60, func() bool { return h.node("n1").State("n2") == nil && n0.State("n2") == nil }))
	assert.Equal(t, "expired", h.eventsOf("n1", EventRemove, "n2")[0].Reason)

	// Remove a crashed member.
	h.down[addrFor(4)] = true
	require.Positive(t, h.until(60, func() bool { return n0.member("n3", h.now).Status == StatusDown }))
	out, err = n0.Remove(h.now, "n3")
	require.NoError(t, err)
	h.deliver(n0, out)
	require.Positive(t, h.until(20, func() bool { return h.node("n1").member("n3", h.now).Status == StatusLeft }))

	// Assassinate a member that is in fact running: it refutes the
	// announcement with a newer generation and is back up everywhere.
	gen := h.node("n4").Generation()
	out, err = n0.Assassinate(h.now, "n4")
	require.NoError(t, err)
	h.deliver(n0, out)
	require.Positive(t, h.until(20, func() bool {
		return n0.member("n4", h.now).Status == StatusUp && h.node("n1").member("n4", h.now).Status == StatusUp
	}))
	assert.Greater(t, h.node("n4").Generation(), gen+1)
	assert.Equal(t, h.node("n4").Generation(), n0.State("n4").HeartBeat.Generation)
}

// TestShadowRound: a starting node reads the cluster from its seed before
// it announces itself, and starts with the full view.
func TestShadowRound(t *testing.T) {
	h := newHarness(t)
	h.cluster(2, coreConfig)
	out, err := h.node("n1").SetState(h.now, "k", "v")
	require.NoError(t, err)
	h.deliver(h.node("n1"), out)
	h.until(5, func() bool { return false })

	cfg := coreConfig("n2", addrFor(1))
	n2 := h.add(cfg)
	assert.True(t, n2.Running(), "the seed answered at once")
	v, ok := n2.State("n1").Get("k")
	assert.True(t, ok, "full view before the first round")
	assert.Equal(t, "v", v)
	assert.Nil(t, h.node("n0").State("n2"), "not announced by the shadow round")
}

func TestShadowRoundDetectsIDInUse(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("twin", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	// Another process starts with the same ID on another address.
	imposter := h.addAt("10.0.0.99:7000", coreConfig("twin", addrFor(1)), h.now.Unix()+5)
	require.False(t, imposter.Running())
	h.round()
	require.ErrorIs(t, h.fatal["twin"], ErrIDInUse)
	assert.True(t, errors.Is(h.fatal["twin"], ErrIDInUse))
	assert.False(t, imposter.Running())
	assert.True(t, imposter.Stopped())
}

func TestShadowRoundTimesOutAlone(t *testing.T) {
	h := newHarness(t)
	cfg := coreConfig("lonely", "10.9.9.9:7000")
	cfg.ShadowTimeout = 5 * time.Second
	n := h.add(cfg)
	require.False(t, n.Running())
	rounds := h.until(10, n.Running)
	assert.Equal(t, 5, rounds)
	require.NotEmpty(t, h.warns["lonely"])
	assert.Contains(t, h.warns["lonely"][0].Error(), "no seed")
}

// TestAckPagingTinyFrames: with a frame limit far below the cluster's
// state, every Ack stays under the limit and rounds carry the rest.
func TestAckPagingTinyFrames(t *testing.T) {
	h := newHarness(t)
	limits := endpointstate.Limits{MaxKeyLength: 16, MaxValueSize: 64, MaxKeys: 8, MaxBytes: 512}
	cfg := configWith(func(c *NodeConfig) {
		c.Limits = limits
		c.MaxFrameSize = limits.StateSizeBound() + messaging.EnvelopeOverhead(c.ClusterName, c.ID, addrFor(9)) + 64
	})
	frame := cfg("n0").MaxFrameSize
	codec, err := messaging.NewCodec(frame, limits)
	require.NoError(t, err)
	h.codec = codec
	h.add(cfg("n0"))
	for i := 1; i < 8; i++ {
		n := h.add(cfg(fmt.Sprintf("n%d", i), addrFor(1)))
		for k := range 6 {
			out, err := n.SetState(h.now, fmt.Sprintf("key%d", k), fmt.Sprintf("%060d", k))
			require.NoError(t, err)
			h.deliver(n, out)
		}
	}
	require.Positive(t, h.until(60, h.converged), "converges despite paging")
	assert.LessOrEqual(t, h.maxSize, frame)
	truncated := uint64(0)
	for _, a := range h.addrs {
		truncated += h.nodes[a].Counters().AcksTruncated
	}
	assert.Positive(t, truncated, "the limit really forced paging")
}

// TestPartitionAndHeal: two halves that cannot reach each other diverge,
// then converge within a bounded number of rounds after the heal.
func TestPartitionAndHeal(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("n1", addrFor(1)))
	h.add(coreConfig("n2", addrFor(1)))
	h.add(coreConfig("n3", addrFor(1), addrFor(2)))
	h.add(coreConfig("n4", addrFor(1), addrFor(2)))
	h.add(coreConfig("n5", addrFor(1), addrFor(2)))
	require.Positive(t, h.until(30, h.converged))
	left := map[string]bool{addrFor(1): true, addrFor(2): true, addrFor(3): true}
	h.cut = func(from, to string) bool { return left[from] != left[to] }

	// Each side convicts the other, and states diverge.
	require.Positive(t, h.until(60, func() bool {
		return h.node("n0").member("n4", h.now).Status == StatusDown && h.node("n4").member("n0", h.now).Status == StatusDown
	}))
	out, err := h.node("n1").SetState(h.now, "side", "left")
	require.NoError(t, err)
	h.deliver(h.node("n1"), out)
	out, err = h.node("n4").SetState(h.now, "side", "right")
	require.NoError(t, err)
	h.deliver(h.node("n4"), out)
	h.until(10, func() bool { return false })
	_, ok := h.node("n4").State("n1").Get("side")
	assert.False(t, ok, "no news crosses the partition")
	assert.False(t, h.converged())

	h.cut = nil
	rounds := h.until(30, h.converged)
	require.Positive(t, rounds, "converges after the heal")
	t.Logf("converged %d rounds after the partition healed", rounds)
	assert.LessOrEqual(t, rounds, 15)
}

// TestConvergenceRounds measures rounds to full convergence (everyone up
// everywhere, same states) for 10 nodes joining through one seed, over
// several seeds of randomness: with the shadow round (each joiner starts
// with the seed's view) and without it (each joiner knows only the seed).
func TestConvergenceRounds(t *testing.T) {
	for _, shadow := range []bool{true, false} {
		worst, total := 0, 0
		const trials = 20
		for trial := range trials {
			h := newHarness(t)
			cfg0 := coreConfig("n0")
			h.add(cfg0)
			for i := 1; i < 10; i++ {
				cfg := coreConfig(fmt.Sprintf("n%d", i), addrFor(1))
				if !shadow {
					cfg.ShadowTimeout = 0
				}
				n := h.addAt(addrFor(i+1), cfg, h.now.Unix())
				n.rng = rand.New(rand.NewPCG(uint64(trial), uint64(i)))
			}
			r := h.until(50, h.converged)
			require.Positive(t, r)
			worst, total = max(worst, r), total+r
		}
		t.Logf("10 nodes, shadow round %v: full convergence in %.2f rounds on average, %d at worst (%d trials)",
			shadow, float64(total)/trials, worst, trials)
		assert.LessOrEqual(t, worst, 12)
	}
}

// TestLossTolerance: with 20 % of messages lost, a 10-node cluster stays
// converged without false convictions at phi 8, and a crash is still
// convicted by everyone.
func TestLossTolerance(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	for i := 1; i < 10; i++ {
		h.add(coreConfig(fmt.Sprintf("n%d", i), addrFor(1), addrFor(2)))
	}
	require.Positive(t, h.until(60, h.converged))
	rng := rand.New(rand.NewPCG(7, 8))
	h.cut = func(string, string) bool { return rng.Float64() < 0.2 }
	notConverged := 0
	for range 600 {
		h.round()
		if !h.converged() {
			notConverged++
		}
	}
	for _, a := range h.addrs {
		for _, e := range h.events[h.nodes[a].ID()] {
			assert.NotEqual(t, EventDead, e.Kind, "false conviction: %+v", e)
		}
	}
	assert.Zero(t, notConverged)

	h.down[addrFor(6)] = true // n5 crashes
	rounds := h.until(120, func() bool {
		for _, a := range h.addrs {
			if !h.down[a] && h.nodes[a].member("n5", h.now).Status == StatusUp {
				return false
			}
		}
		return true
	})
	require.Positive(t, rounds)
	t.Logf("20%% loss: 600 rounds with no false conviction; a crash convicted by all 9 peers after %d rounds", rounds)
}
