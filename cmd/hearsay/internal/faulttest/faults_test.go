package faulttest

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
)

// The namespace test's timing. The agents gossip every faultInterval with
// the default phi threshold (8), which convicts a silent peer after about
// 18 mean intervals: 9 s.
const (
	faultInterval = 500 * time.Millisecond
	partitionHold = 30 * time.Second
	lossHold      = 60 * time.Second
	lossPercent   = 20
	gossipPort    = "7946"
)

// TestNetworkFaults runs 5 agents in 5 network namespaces on a bridge and
// puts them through real network faults: a 2 | 3 partition held 30 s and
// healed, 20 % packet loss on every link for 60 s, and a SIGKILL with a
// restart on the same data directory. After each: the sides convicted
// each other, nobody convicted a peer it could reach, every state written
// before (and during) the fault is everywhere, all are up.
//
// Needs root, ip and nft: skipped otherwise, unless HEARSAY_REQUIRE_NETNS=1.
func TestNetworkFaults(t *testing.T) {
	needNetns(t)
	const n = 5
	nw := newNetnsNet(t, n)
	seeds := nw.ips[0] + ":" + gossipPort + "," + nw.ips[2] + ":" + gossipPort
	as := make([]*agent, n)
	for i := range n {
		as[i] = &agent{
			id: fmt.Sprintf("n%d", i+1), netns: nw.nodes[i], bind: nw.ips[i] + ":" + gossipPort,
			// Every namespace has its own loopback: the API is on
			// 127.0.0.1 in each, reached through nsClient.
			http: "127.0.0.1:7080", dataDir: t.TempDir(), client: nsClient(nw.nodes[i]),
			args: []string{"--seeds", seeds, "--interval", faultInterval.String()},
		}
	}
	startAll(t, as)
	want := states{}
	for _, a := range as {
		want.set(t, a, "zone", "zone-"+a.id)
	}
	d := waitConverged(t, as, want, 60*time.Second, "5 agents converge")
	t.Logf("figure: start: all 5 up with every state everywhere %.1f s after all agents answered", d.Seconds())
	w := watch(t, as, 200*time.Millisecond)

	parent := t
	if !t.Run("partition 2|3", func(t *testing.T) { testPartition(t, nw, as, want, w) }) {
		return
	}
	if !t.Run("20% loss", func(t *testing.T) { testLoss(t, nw, as, want, w) }) {
		return
	}
	t.Run("kill and restart", func(t *testing.T) { testKillRestart(t, parent, as, want, w) })
}

func testPartition(t *testing.T, nw *netnsNet, as []*agent, want states, w *watcher) {
	sides := [][]*agent{as[:2], as[2:]}
	other := func(i int) []*agent { return sides[1-i] }
	for _, a := range as {
		want.set(t, a, "before-partition", "p-"+a.id)
	}
	waitConverged(t, as, want, 30*time.Second, "states written before the partition are everywhere")
	before := convictions(t, as)

	t0 := time.Now()
	nw.partition(t, []int{0, 1}, []int{2, 3, 4})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for i, side := range sides {
			sees(c, side, other(i), gossiper.StatusDown, nil, 0)
		}
	}, partitionHold, 100*time.Millisecond, "each side convicts the other within the %s hold", partitionHold)
	convictedIn := time.Since(t0)
	// Written during the partition: each side must see its own at once,
	// and the other side's after the heal.
	for _, a := range as {
		want.set(t, a, "during-partition", "d-"+a.id)
	}
	for _, side := range sides {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			sees(c, side, side, gossiper.StatusUp, want, 0)
		}, 20*time.Second, 100*time.Millisecond, "%v converge among themselves", ids(side))
	}
	time.Sleep(time.Until(t0.Add(partitionHold)))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for i, side := range sides {
			sees(c, side, other(i), gossiper.StatusDown, nil, 0)
		}
	}, 5*time.Second, 100*time.Millisecond, "still partitioned at the end of the hold")

	t1 := time.Now()
	nw.heal(t)
	healedIn := waitConverged(t, as, want, 60*time.Second, "all converge after the heal, states from before and during the partition included")

	// Each agent convicted exactly the other side's members, once: no
	// false conviction within a side, none after the heal (given ten
	// rounds to show).
	time.Sleep(10 * faultInterval)
	after := convictions(t, as)
	for i, side := range sides {
		for _, a := range side {
			assert.Equal(t, before[a.id]+float64(len(other(i))), after[a.id], "%s's convictions", a.id)
		}
		assert.Empty(t, w.downs(ids(side), ids(side), t0, time.Now()), "no status change away from up within a side")
	}
	assert.Empty(t, w.downs(ids(as), ids(as), t1, time.Now()), "no status change away from up after the heal")
	firsts := append(durations(w.firstDowns(ids(sides[0]), ids(sides[1]), t0, t1), t0),
		durations(w.firstDowns(ids(sides[1]), ids(sides[0]), t0, t1), t0)...)
	assert.Len(t, firsts, 2*3*2, "the watcher saw every conviction across")
	t.Logf("figure: partition: all %d convictions across the partition by %.1f s (per observer and peer, as polled every 200 ms: %s); converged %.1f s after the heal",
		len(firsts), convictedIn.Seconds(), spread(firsts), healedIn.Seconds())
}

func testLoss(t *testing.T, nw *netnsNet, as []*agent, want states, w *watcher) {
	for _, a := range as {
		want.set(t, a, "before-loss", "l-"+a.id)
	}
	waitConverged(t, as, want, 30*time.Second, "states written before the loss are everywhere")
	before := convictions(t, as)
	w.resetPhi()

	t0 := time.Now()
	nw.loss(t, lossPercent)
	// Every agent updates a key every 5 s through the lossy period, the
	// last time at its end; then all must converge with the loss still on.
	for round := 0; ; round++ {
		for _, a := range as {
			want.set(t, a, "during-loss", strconv.Itoa(round))
		}
		if time.Since(t0) >= lossHold {
			break
		}
		time.Sleep(min(5*time.Second, time.Until(t0.Add(lossHold))))
	}
	underLoss := waitConverged(t, as, want, 30*time.Second, "converge with the loss still on")
	t1 := time.Now()
	nw.heal(t)
	waitConverged(t, as, want, 30*time.Second, "converge after the loss")

	after := convictions(t, as)
	var falseConvictions float64
	for _, a := range as {
		falseConvictions += after[a.id] - before[a.id]
	}
	downs := w.downs(ids(as), ids(as), t0, time.Now())
	phi, who := w.peakPhi()
	t.Logf("figure: %d%% loss for %.0f s: %.0f false convictions (hearsay_convictions_total), %d seen by polling; highest phi seen %.2f (%s of %s); the last updates everywhere %.1f s after they were written, loss still on",
		lossPercent, t1.Sub(t0).Seconds(), falseConvictions, len(downs), phi, who.observer, who.subject, underLoss.Seconds())
	assert.Zero(t, falseConvictions, "no conviction under %d%% loss", lossPercent)
	assert.Empty(t, downs, "no status change away from up under %d%% loss", lossPercent)
}

func testKillRestart(t, parent *testing.T, as []*agent, want states, w *watcher) {
	victim := as[3]
	others := slices.DeleteFunc(slices.Clone(as), func(a *agent) bool { return a == victim })
	want.set(t, victim, "own", "set-before-the-kill")
	waitConverged(t, as, want, 30*time.Second, "the victim's own key is everywhere")
	v, err := victim.view()
	require.NoError(t, err)
	oldGen := v[victim.id].Generation
	before := convictions(t, others)

	t0 := time.Now()
	victim.kill(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		sees(c, others, []*agent{victim}, gossiper.StatusDown, nil, 0)
	}, 30*time.Second, 100*time.Millisecond, "every peer convicts the killed agent")
	convictedIn := time.Since(t0)

	t1 := time.Now()
	victim.start(t, parent) // same ID, address and data directory
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, o := range as {
			v, err := o.view()
			if assert.NoError(c, err) {
				assert.Equal(c, gossiper.StatusUp, v[victim.id].Status, "%s sees %s", o.id, victim.id)
				assert.Greater(c, v[victim.id].Generation, oldGen, "%s sees %s in a new generation", o.id, victim.id)
			}
		}
	}, 30*time.Second, 100*time.Millisecond, "every peer sees the restarted agent up in a new generation")
	upIn := time.Since(t1)
	t.Logf("figure: SIGKILL: every peer convicted the killed agent by %.1f s; after the restart every peer saw it up in a new generation by %.1f s", convictedIn.Seconds(), upIn.Seconds())

	// Nothing written before the kill is lost: the others' states, and
	// the restarted agent's own, which it must have kept in its data
	// directory and brought back in its new generation.
	rest := states{}
	for id, s := range want {
		if id != victim.id {
			rest[id] = s
		}
	}
	waitConverged(t, as, rest, 30*time.Second, "all converge after the restart")
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, o := range as {
			v, err := o.view()
			if !assert.NoError(c, err) {
				continue
			}
			got := map[string]string{}
			for k := range want[victim.id] {
				got[k] = v[victim.id].States.Get(k).Value
			}
			assert.Equal(c, want[victim.id], got, "%s's view of %s's own states", o.id, victim.id)
		}
	}, 15*time.Second, 100*time.Millisecond, "%s's own states, set before the SIGKILL, are back after its restart (persisted in --data-dir)", victim.id)

	after := convictions(t, others)
	for _, o := range others {
		assert.Equal(t, before[o.id]+1, after[o.id], "%s convicted the victim once, nobody else", o.id)
	}
	assert.Empty(t, w.downs(ids(others), ids(others), t0, time.Now()), "no status change away from up among the survivors")
}

// durations returns the times in m as durations since t0, sorted.
func durations(m map[pair]time.Time, t0 time.Time) []time.Duration {
	out := make([]time.Duration, 0, len(m))
	for _, at := range m {
		out = append(out, at.Sub(t0))
	}
	slices.Sort(out)
	return out
}

// spread formats sorted durations as "min … median … max".
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	return fmt.Sprintf("min %.1f s, median %.1f s, max %.1f s", ds[0].Seconds(), ds[len(ds)/2].Seconds(), ds[len(ds)-1].Seconds())
}
