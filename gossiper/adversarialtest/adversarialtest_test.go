package adversarialtest_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/gossiper/adversarialtest"
	"github.com/hearsay-io/hearsay/messaging"
)

// TestMain fails the package if any goroutine outlives its tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const interval = 50 * time.Millisecond

// converge is how long honest nodes get to spread one update, during or
// after an attack, or to converge: 200 rounds, a bound for a test that
// went wrong (they take a few rounds), with room for a join through a
// flooded seed on a loaded machine under the race detector.
const converge = 200 * interval

// Bounds on what an attack may cost the process (which holds every
// honest node): the limits make each attack cost at most a few hundred
// KiB per node and no goroutine per forged thing.
const (
	maxHeapGrowth      = 16 << 20
	maxGoroutineGrowth = 150
)

// start runs an honest gossiper on a loopback port over the default TCP
// transport.
func start(t *testing.T, id string, seeds []string, tweak func(*gossiper.Config)) *gossiper.Gossiper {
	t.Helper()
	cfg := gossiper.DefaultConfig()
	cfg.ID, cfg.BindAddr, cfg.Seeds = id, "127.0.0.1:0", seeds
	cfg.Interval = interval
	cfg.FailureDetector = failuredetector.DefaultConfigFor(interval)
	cfg.ShadowTimeout = 10 * interval
	if tweak != nil {
		tweak(&cfg)
	}
	g, err := gossiper.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Start(ctx))
	t.Cleanup(func() { _ = g.Stop(context.Background()) })
	return g
}

// cluster starts n honest gossipers seeded by the first and waits until
// each sees every other up.
func cluster(t *testing.T, n int, tweak func(*gossiper.Config)) []*gossiper.Gossiper {
	t.Helper()
	gs := []*gossiper.Gossiper{start(t, "honest-0", nil, tweak)}
	for i := 1; i < n; i++ {
		gs = append(gs, start(t, fmt.Sprintf("honest-%d", i), []string{gs[0].Addr()}, tweak))
	}
	require.Eventually(t, func() bool { return allUp(gs, gs) }, converge, 10*time.Millisecond, "the honest cluster converges")
	return gs
}

// allUp reports whether every observer sees every one of nodes up.
func allUp(observers, nodes []*gossiper.Gossiper) bool {
	for _, o := range observers {
		for _, n := range nodes {
			if o == n {
				continue
			}
			if m, ok := o.Member(n.LocalID()); !ok || m.Status != gossiper.StatusUp {
				return false
			}
		}
	}
	return true
}

// spreads sets key=value on from and reports whether every other node
// sees it within converge.
func spreads(t *testing.T, from *gossiper.Gossiper, others []*gossiper.Gossiper, key, value string) bool {
	t.Helper()
	require.NoError(t, from.SetState(key, value))
	deadline := time.Now().Add(converge)
	for time.Now().Before(deadline) {
		done := true
		for _, o := range others {
			if o == from {
				continue
			}
			m, ok := o.Member(from.LocalID())
			if !ok || m.States.Get(key).Value != value {
				done = false
			}
		}
		if done {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// withinLimits asserts that every node holds id within the per-endpoint
// limits (or not at all).
func withinLimits(t *testing.T, gs []*gossiper.Gossiper, id string) {
	t.Helper()
	l := endpointstate.DefaultLimits()
	for _, g := range gs {
		m, ok := g.Member(id)
		if !ok {
			continue
		}
		keys, size := 0, 0
		for k, v := range m.States.All() {
			if !strings.HasPrefix(k, endpointstate.ReservedPrefix) {
				keys++
				size += len(k) + len(v.Value)
			}
		}
		assert.LessOrEqual(t, keys, l.MaxKeys, "%s holds %d keys of %q", g.LocalID(), keys, id)
		assert.LessOrEqual(t, size, l.MaxBytes, "%s holds %d bytes of %q", g.LocalID(), size, id)
	}
}

// bounded asserts that the process grew by less than the attack bounds
// since base, with the attacker gone.
func bounded(t *testing.T, base adversarialtest.Resources) {
	t.Helper()
	heap, goroutines := adversarialtest.Measure().Growth(base)
	t.Logf("growth: heap %d KiB, goroutines %d", heap>>10, goroutines)
	assert.Less(t, heap, uint64(maxHeapGrowth), "live heap grew by %d bytes", heap)
	assert.Less(t, goroutines, maxGoroutineGrowth, "goroutines grew by %d", goroutines)
}

// peakGoroutines samples the goroutine count every few milliseconds until
// stop is called, which returns the highest count seen.
func peakGoroutines() (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			peak.Store(max(peak.Load(), int64(adversarialtest.Measure().Goroutines)))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() int { close(done); wg.Wait(); return int(peak.Load()) }
}

// received waits until g has received at least n messages of type typ.
func received(t *testing.T, g *gossiper.Gossiper, typ string, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return g.Stats().Messages[typ].Received >= n }, 10*time.Second, 5*time.Millisecond,
		"%s never received %d %s messages", g.LocalID(), n, typ)
}

// synced waits until the node has handled everything p sent.
func synced(t *testing.T, p *adversarialtest.Peer) {
	t.Helper()
	require.NoError(t, p.Sync(10*time.Second), "the node handled the attacker's frames")
}

// TestLimitBypassAcrossDeltas: a forged endpoint grown by 100 incremental
// deltas, each within the per-delta limits (60 keys of 4,000 bytes), stays
// within MaxKeys and MaxBytes on every node; the refused deltas are
// counted; the node holding it keeps spreading its own updates (before
// the hardening it put the 6,000-key endpoint in every Ack, every peer
// refused those whole, and its updates stopped), and memory stays bounded.
func TestLimitBypassAcrossDeltas(t *testing.T) {
	gs := cluster(t, 3, nil)
	base := adversarialtest.Measure()

	p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{ID: "forger"})
	require.NoError(t, err)
	defer p.Close()
	gen := time.Now().Unix()
	require.NoError(t, p.Send(&messaging.Ack2{Deltas: []endpointstate.Delta{adversarialtest.Endpoint("bloat", "127.0.0.1:1", gen, nil)}}))
	from := int64(2)
	const frames = 100
	for i := range frames {
		d := adversarialtest.Grow("bloat", gen, from, fmt.Sprintf("k%d-", i), 60, 4000)
		require.NoError(t, p.Send(&messaging.Ack2{Deltas: []endpointstate.Delta{d}}))
		from = d.MaxVersion()
		if i == frames/2 {
			assert.True(t, spreads(t, gs[1], gs, "during", "1"), "an update made during the attack spreads")
		}
	}
	synced(t, p)
	require.NoError(t, p.Close())

	_, known := gs[0].Member("bloat")
	assert.True(t, known, "the deltas within the limits were applied")
	withinLimits(t, gs, "bloat")
	assert.NotZero(t, gs[0].Stats().Core.DeltasRefused, "over-limit deltas are counted")
	assert.True(t, spreads(t, gs[0], gs, "after", "1"), "the node holding the forged endpoint still spreads its updates")
	assert.True(t, spreads(t, gs[2], gs, "after", "2"), "and so do the others")
	bounded(t, base)
}

// TestMemberFlood: 3,000 forged endpoints with distinct addresses, each
// one a valid state, sent to one node: every node holds at most
// MaxEndpoints (here 500) endpoints, refusals are counted, no goroutine is
// spent per forged address (the node gossips and echoes to them), memory
// stays bounded, and the honest nodes keep converging.
func TestMemberFlood(t *testing.T) {
	const maxEndpoints = 500
	gs := cluster(t, 3, func(c *gossiper.Config) { c.MaxEndpoints = maxEndpoints })
	base := adversarialtest.Measure()
	peak := peakGoroutines()

	p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{ID: "flooder"})
	require.NoError(t, err)
	defer p.Close()
	gen := time.Now().Unix()
	const forged, perFrame = 3000, 500
	for f := range forged / perFrame {
		var ds []endpointstate.Delta
		for i := f * perFrame; i < (f+1)*perFrame; i++ {
			// Closed ports on distinct loopback addresses: every dial is
			// refused at once.
			addr := fmt.Sprintf("127.%d.%d.%d:9", 1+i/65536, i/256%256, i%256)
			ds = append(ds, adversarialtest.Endpoint(fmt.Sprintf("forged-%d", i), addr, gen, map[string]string{"role": "evil"}))
		}
		require.NoError(t, p.Send(&messaging.Ack2{Deltas: ds}))
	}
	synced(t, p)
	assert.True(t, spreads(t, gs[1], gs, "during", "1"), "an update made during the flood spreads")
	// Let the forged members spread and be gossiped and echoed to.
	time.Sleep(20 * interval)
	require.NoError(t, p.Close())

	for _, g := range gs {
		assert.LessOrEqual(t, len(g.Members()), maxEndpoints, "%s holds more than MaxEndpoints", g.LocalID())
		for _, h := range gs {
			_, ok := g.Member(h.LocalID())
			assert.True(t, ok, "%s still knows %s", g.LocalID(), h.LocalID())
		}
	}
	assert.NotZero(t, gs[0].Stats().Core.EndpointsRefused, "refused endpoints are counted")
	assert.True(t, spreads(t, gs[2], gs, "after", "1"), "an update made after the flood spreads")
	growth := peak() - base.Goroutines
	t.Logf("peak goroutine growth during the flood: %d", growth)
	assert.Less(t, growth, maxGoroutineGrowth, "goroutines per forged address")
	bounded(t, base)
}

// TestFarFutureGeneration: a forged delta about an honest node, with a
// generation ten years ahead, sent to that node and to another, changes
// neither the node's generation nor anyone's view of it, and the node's
// updates keep reaching everyone (before the hardening it refuted by
// adopting the forged generation plus one, which every peer then refused
// for good). New IDs with a far-future generation, 2^63-1 included, are
// not stored.
func TestFarFutureGeneration(t *testing.T) {
	gs := cluster(t, 3, nil)
	target := gs[1]
	self, ok := target.Member(target.LocalID())
	require.True(t, ok)
	base := adversarialtest.Measure()

	future := time.Now().Unix() + 10*endpointstate.MaxGenerationDrift
	forged := []endpointstate.Delta{
		adversarialtest.Endpoint(target.LocalID(), target.Addr(), future, map[string]string{"owned": "yes"}),
		adversarialtest.Endpoint("ghost", "127.0.0.1:1", future, nil),
		adversarialtest.Endpoint("ghost-max", "127.0.0.1:1", math.MaxInt64, nil),
	}
	forged[0].HeartBeat = 1 << 40
	for _, g := range gs[:2] {
		p, err := adversarialtest.Dial(g.Addr(), adversarialtest.Config{ID: "time-traveller"})
		require.NoError(t, err)
		require.NoError(t, p.Send(&messaging.Ack2{Deltas: forged}))
		// And as the Syn-Ack of an exchange, the same deltas in an Ack.
		require.NoError(t, p.Send(&messaging.Ack{Deltas: forged}))
		synced(t, p)
		require.NoError(t, p.Close())
	}

	assert.True(t, spreads(t, target, gs, "after", "1"), "the target's updates keep reaching everyone")
	for _, g := range gs {
		m, ok := g.Member(target.LocalID())
		if assert.True(t, ok) {
			assert.Equal(t, self.Generation, m.Generation, "%s's view of the target's generation", g.LocalID())
			assert.NotContains(t, m.States.Map(), "owned", "%s took forged state for the target", g.LocalID())
		}
		for _, id := range []string{"ghost", "ghost-max"} {
			_, ok := g.Member(id)
			assert.False(t, ok, "%s stored %s", g.LocalID(), id)
		}
	}
	assert.NotZero(t, gs[0].Stats().Core.DeltasRefused, "the far-future deltas are counted")

	// At the edge: a forged generation exactly MaxGenerationDrift ahead is
	// within the window, but the generation above it, which refuting it
	// would take, is not (before the hardening the target took it, and
	// every peer refused the target until the clock caught up). Sent
	// early in a second, so that the check below runs in the same second
	// as long as the node answers within a few hundred milliseconds; if
	// the second turns meanwhile, taking the generation above is within
	// the window and the check still holds.
	for i := 0; i < 200 && time.Now().Nanosecond() > 200e6; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	edge := time.Now().Unix() + endpointstate.MaxGenerationDrift
	p, err := adversarialtest.Dial(target.Addr(), adversarialtest.Config{ID: "time-traveller"})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Send(&messaging.Ack2{Deltas: []endpointstate.Delta{adversarialtest.Endpoint(target.LocalID(), target.Addr(), edge, nil)}}))
	synced(t, p)
	require.NoError(t, p.Close())
	time.Sleep(2 * interval) // the next round publishes the node's generation
	m, ok := target.Member(target.LocalID())
	require.True(t, ok)
	limit := time.Now().Unix() + endpointstate.MaxGenerationDrift
	t.Logf("edge %d: target's generation %d, window up to %d, refused %d", edge, m.Generation, limit, target.Stats().Core.GenerationsRefused)
	assert.LessOrEqual(t, m.Generation, limit, "the target took a generation its peers refuse")
	assert.True(t, spreads(t, target, gs, "edge", "1"), "the target's updates keep reaching everyone")
	bounded(t, base)
}

// TestReflection: SYNs whose envelope claims a third party's address (a
// real listener) are answered on the connection they came in on, at most
// the answer budget per interval for their sender ID, counted; the third
// party receives nothing.
func TestReflection(t *testing.T) {
	gs := cluster(t, 3, nil)
	victim, err := adversarialtest.NewVictim()
	require.NoError(t, err)
	defer victim.Close()
	base := adversarialtest.Measure()

	// Digests at generation 1, version 0 of every honest node: each Ack
	// carries their full states, the largest answer a SYN can draw.
	var digests []endpointstate.Digest
	for _, g := range gs {
		digests = append(digests, endpointstate.Digest{Endpoint: g.LocalID(), Generation: 1})
	}
	p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{ID: "reflector", Addr: victim.Addr()})
	require.NoError(t, err)
	defer p.Close()
	const syns = 400
	before := gs[0].Stats().Messages["syn"].Received
	began := time.Now()
	for range syns {
		require.NoError(t, p.Send(&messaging.Syn{Digests: digests}))
	}
	received(t, gs[0], "syn", before+syns)
	elapsed := time.Since(began)
	got := p.Drain(5 * interval)
	require.NoError(t, p.Close())

	acks := got[messaging.TypeAck]
	t.Logf("%d SYNs in %v drew %d Acks on the attacker's connection", syns, elapsed, acks)
	assert.NotZero(t, acks, "answers come back on the SYN's connection")
	// 8 answers per sender per interval: at most 8 per interval begun
	// while the SYNs arrived.
	assert.LessOrEqual(t, acks, 8*(int(elapsed/interval)+2), "answers beyond the per-sender budget")
	assert.NotZero(t, gs[0].Stats().Core.RepliesLimited, "unanswered SYNs are counted")
	time.Sleep(5 * interval)
	assert.Zero(t, victim.Conns(), "the node connected to the address the SYNs claimed")
	assert.Zero(t, victim.Bytes(), "the node sent to the address the SYNs claimed")
	assert.True(t, spreads(t, gs[0], gs, "after", "1"), "the honest nodes keep converging")
	bounded(t, base)
}

// TestReflectionRotatingIDs: SYNs on one connection, each under a new
// sender ID, draw no more answers than one ID would: the budget holds per
// connection too.
func TestReflectionRotatingIDs(t *testing.T) {
	gs := cluster(t, 3, nil)
	victim, err := adversarialtest.NewVictim()
	require.NoError(t, err)
	defer victim.Close()
	p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{ID: "rotator", Addr: victim.Addr()})
	require.NoError(t, err)
	defer p.Close()
	const syns = 400
	before := gs[0].Stats().Messages["syn"].Received
	limited := gs[0].Stats().Core.RepliesLimited
	began := time.Now()
	for i := range syns {
		require.NoError(t, p.SendAs(fmt.Sprintf("rotator-%d", i), victim.Addr(), &messaging.Syn{}))
	}
	received(t, gs[0], "syn", before+syns)
	elapsed := time.Since(began)
	got := p.Drain(5 * interval)
	require.NoError(t, p.Close())

	acks := got[messaging.TypeAck]
	t.Logf("%d SYNs under %d IDs in %v drew %d Acks", syns, syns, elapsed, acks)
	assert.NotZero(t, acks, "answers come back on the SYN's connection")
	assert.LessOrEqual(t, acks, 8*(int(elapsed/interval)+2), "answers beyond the per-connection budget")
	assert.Greater(t, gs[0].Stats().Core.RepliesLimited, limited, "unanswered SYNs are counted")
	assert.Zero(t, victim.Conns(), "the node connected to the address the SYNs claimed")
	assert.True(t, spreads(t, gs[0], gs, "after", "1"), "the honest nodes keep converging")
}

// TestConnectionExhaustion: 1,100 connections from one source that never
// send a handshake (more than the old global cap of 1,024) do not keep
// an honest node out: one started during the attack joins through the
// attacked seed, updates keep spreading, the refusals are counted, and
// neither goroutines nor memory grow with the connections held.
func TestConnectionExhaustion(t *testing.T) {
	gs := cluster(t, 3, nil)
	base := adversarialtest.Measure()
	peak := peakGoroutines()

	half, err := adversarialtest.OpenHalf(gs[0].Addr(), 1100)
	t.Cleanup(half.Close) // the connections opened, even if not all could be
	require.NoError(t, err)

	late := start(t, "late", []string{gs[0].Addr()}, nil)
	all := append(gs, late)
	assert.Eventually(t, func() bool { return allUp(all, all) }, converge, 10*time.Millisecond,
		"a node started during the attack joins through the attacked seed")
	assert.True(t, spreads(t, gs[0], all, "during", "1"), "updates spread during the attack")

	tr := gs[0].Stats().Transport
	t.Logf("refused: %v; open %d", tr.Refusals(), tr.OpenConns)
	assert.NotZero(t, tr.RefusedPerSource, "connections over the per-source cap are counted")
	assert.LessOrEqual(t, tr.OpenConns, uint64(messaging.DefaultTCPConfig().MaxConns), "open connections within MaxConns")
	// The node closes them as it accepts them and they age past the
	// grace: the last may still be young when the late node has joined
	// (with echoes and the shadow round by datagram, a join takes few
	// connections and little time).
	overCap := 1100 - messaging.DefaultTCPConfig().MaxConnsPerSource
	assert.Eventually(t, func() bool { return half.Closed(20*time.Millisecond) >= overCap }, converge, 50*time.Millisecond,
		"the node closed the half-open connections over the per-source cap")
	// Held, the 1,100 connections cost no goroutine once the node has
	// closed those over the cap (while it closes them, each one accepted
	// briefly has a reader and a writer: the peak is logged, not bounded).
	held := adversarialtest.Measure().Goroutines - base.Goroutines
	t.Logf("goroutine growth with 1,100 half-open connections held: %d (peak %d while they opened)", held, peak()-base.Goroutines)
	assert.Less(t, held, maxGoroutineGrowth, "goroutines per half-open connection (the late node's own included)")
	half.Close()
	require.NoError(t, late.Stop(context.Background()))
	bounded(t, base)
}

// TestAnswersToANonReader: SYNs that each claim a new sender ID (IDs cost
// nothing to forge) are answered at most up to the per-connection answer
// budget, every Ack carrying the honest nodes' full states (about 540 KB
// here); the attacker never reads them. What the node holds for it is
// bounded by the transport's per-connection QueueBytes, not by QueueSize
// frames of that size (before the cap, two such connections pinned about
// 140 MiB), and the honest nodes keep converging.
func TestAnswersToANonReader(t *testing.T) {
	gs := cluster(t, 3, func(c *gossiper.Config) {
		c.InitialStates = map[string]string{}
		for i := range 3 {
			c.InitialStates[fmt.Sprintf("big%d", i)] = strings.Repeat("x", 60<<10)
		}
	})
	var digests []endpointstate.Digest
	for _, g := range gs {
		digests = append(digests, endpointstate.Digest{Endpoint: g.LocalID(), Generation: 1})
	}
	base := adversarialtest.Measure()
	const conns, syns = 2, 150
	before := gs[0].Stats().Messages["syn"].Received
	for c := range conns {
		p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{})
		require.NoError(t, err)
		defer p.Close()
		for i := range syns {
			require.NoError(t, p.SendAs(fmt.Sprintf("forged-%d-%d", c, i), p.LocalAddr(), &messaging.Syn{Digests: digests}))
		}
	}
	received(t, gs[0], "syn", before+conns*syns)
	time.Sleep(5 * interval)

	heap, _ := adversarialtest.Measure().Growth(base)
	st := gs[0].Stats()
	t.Logf("%d connections × %d SYNs, never read: %d Acks written or queued, %d KiB; heap growth %d KiB; dropped (queue full) %d",
		conns, syns, st.Messages["ack"].Sent, st.Messages["ack"].SentBytes>>10, heap>>10, st.Transport.DroppedQueueFull)
	assert.Less(t, heap, uint64(maxHeapGrowth), "answers pinned for a peer that never reads")
	// Both bounds may act: the per-connection answer budget refuses most
	// SYNs (RepliesLimited, counted as of the last round) and the queue
	// cap drops Acks the attacker does not read; which one does the work
	// depends on how fast the kernel's socket buffers fill.
	assert.Less(t, st.Messages["ack"].Sent, uint64(conns*syns), "not every forged SYN is answered")
	assert.NotZero(t, st.Transport.DroppedQueueFull+st.Core.RepliesLimited,
		"answers beyond the budget or the connection's queue are refused and counted")
	assert.True(t, spreads(t, gs[0], gs, "after", "1"), "the honest nodes keep converging")
}

// TestForgedShutdown documents what an unauthenticated peer can do with a
// Shutdown: the envelope's sender ID is not authenticated, so a Shutdown
// that claims to come from an honest node, carrying that node's state
// (learnt from one Ack) with status "shutdown" at a higher version, is
// believed: the receiver marks the node down. The node hears of it
// through gossip, refutes by taking a new generation, and is back up
// everywhere within a bounded wait, its application states kept: the
// forgery costs the cluster a dead and a restart event, not the node.
func TestForgedShutdown(t *testing.T) {
	gs := cluster(t, 3, nil)
	target, observer := gs[1], gs[0]
	require.NoError(t, target.SetState("role", "db"))
	require.True(t, spreads(t, target, gs, "ready", "1"))
	before, ok := observer.Member(target.LocalID())
	require.True(t, ok)
	var dead atomic.Int64
	cancel := observer.On(gossiper.EventDead, func(e gossiper.Event) {
		if e.Endpoint == target.LocalID() && e.Reason == "shutdown" {
			dead.Add(1)
		}
	})
	defer cancel()

	// Learn the target's state as any peer can: a SYN with an old digest.
	p, err := adversarialtest.Dial(observer.Addr(), adversarialtest.Config{ID: "spy"})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Send(&messaging.Syn{Digests: []endpointstate.Digest{{Endpoint: target.LocalID(), Generation: 1}}}))
	var state endpointstate.Delta
	for state.Endpoint == "" {
		env, err := p.Receive(5 * time.Second)
		require.NoError(t, err)
		if ack, ok := env.Message.(*messaging.Ack); ok {
			for _, d := range ack.Deltas {
				if d.Endpoint == target.LocalID() {
					state = d
				}
			}
		}
	}
	forged := state.Clone()
	forged.HeartBeat += 1000
	for i := range forged.States {
		if forged.States[i].Key == endpointstate.KeyStatus {
			forged.States[i].Value = endpointstate.StatusShutdown
			forged.States[i].Version = forged.HeartBeat + 1
		}
	}
	require.NoError(t, p.SendAs(target.LocalID(), target.Addr(), &messaging.Shutdown{State: forged}))

	require.Eventually(t, func() bool { return dead.Load() > 0 }, converge, 5*time.Millisecond,
		"the forged Shutdown is believed: the observer marks the target down")
	require.Eventually(t, func() bool {
		for _, g := range gs {
			m, ok := g.Member(target.LocalID())
			if !ok || m.Status != gossiper.StatusUp || m.Generation <= before.Generation {
				return false
			}
		}
		return true
	}, converge, 10*time.Millisecond, "the target refutes with a new generation and is up everywhere")
	m, _ := observer.Member(target.LocalID())
	assert.Equal(t, "db", m.States.Get("role").Value, "the target's states survive the refutation")
	assert.True(t, spreads(t, target, gs, "after", "1"))
}

// TestHandshakedConnectionFlood: 600 connections from one source that do
// send a valid handshake (and a frame each) are within MaxConns at any
// time: each new one closes the least recently used; goroutines stay
// bounded, and a node started during the flood still joins through the
// attacked seed.
func TestHandshakedConnectionFlood(t *testing.T) {
	gs := cluster(t, 3, nil)
	base := adversarialtest.Measure()
	var peers []*adversarialtest.Peer
	defer func() {
		for _, p := range peers {
			_ = p.Close()
		}
	}()
	for i := range 600 {
		p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{ID: fmt.Sprintf("squatter-%d", i)})
		require.NoError(t, err)
		peers = append(peers, p)
		_ = p.Send(&messaging.Echo{Nonce: uint64(i + 1)}) // fails once the node has closed this one to make room
	}
	late := start(t, "late", []string{gs[0].Addr()}, nil)
	all := append(gs, late)
	assert.Eventually(t, func() bool { return allUp(all, all) }, converge, 10*time.Millisecond,
		"a node started during the flood joins through the attacked seed")
	assert.True(t, spreads(t, gs[0], all, "during", "1"), "updates spread during the flood")

	tr := gs[0].Stats().Transport
	t.Logf("open %d, accepted %d, evicted %d, refused %v", tr.OpenConns, tr.AcceptedConns, tr.EvictedConns, tr.Refusals())
	assert.LessOrEqual(t, tr.OpenConns, uint64(messaging.DefaultTCPConfig().MaxConns), "open connections within MaxConns")
	held := adversarialtest.Measure().Goroutines - base.Goroutines
	t.Logf("goroutine growth with 600 handshaked connections held by the attacker: %d", held)
	// A reader and a writer per open connection, and the late node's own.
	assert.Less(t, held, 2*messaging.DefaultTCPConfig().MaxConns+50, "goroutines beyond MaxConns connections")
	require.NoError(t, late.Stop(context.Background()))
}
