package endpointstate

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// simNode is one gossiping node in the property model: its map, its ID
// and its version counter. The exchange logic below is the SYN/ACK/ACK2
// protocol written with the package's pure functions only.
type simNode struct {
	id      string
	gen     int64
	counter VersionCounter
	m       *Map
}

func (n *simNode) self() *EndpointState { return n.m.Get(n.id) }

func (n *simNode) restart(gen int64) {
	n.gen = gen
	n.counter = VersionCounter{}
	n.m = NewMap() // a restarted node remembers nothing of others
	s := NewEndpointState(gen)
	s.HeartBeat.Version = n.counter.Next()
	n.m.Put(n.id, s)
}

type simMsg struct {
	kind     int // 0 syn, 1 ack, 2 ack2
	from, to int
	digests  []Digest
	deltas   []Delta
}

type sim struct {
	t      *rapid.T
	nodes  []*simNode
	now    time.Time
	grace  time.Duration
	budget int
}

func (s *sim) applyOpts(n *simNode) ApplyOptions {
	return ApplyOptions{Now: s.now, Limits: DefaultLimits(), Skip: func(ep string, _ int64) bool { return ep == n.id }}
}

// apply applies deltas at node n and checks the per-application
// invariants: versions never go backwards, generations never go backwards,
// and reapplying is a no-op.
func (s *sim) apply(n *simNode, deltas []Delta) {
	before := n.m.Clone()
	_, err := n.m.Apply(deltas, s.applyOpts(n))
	if err != nil {
		s.t.Fatalf("apply: %v", err)
	}
	for _, ep := range before.Endpoints() {
		old, cur := before.Get(ep), n.m.Get(ep)
		if cur == nil {
			s.t.Fatalf("endpoint %s vanished", ep)
		}
		if cur.HeartBeat.Generation < old.HeartBeat.Generation {
			s.t.Fatalf("generation of %s went back: %d -> %d", ep, old.HeartBeat.Generation, cur.HeartBeat.Generation)
		}
		if cur.HeartBeat.Generation > old.HeartBeat.Generation {
			continue
		}
		if cur.MaxVersion() < old.MaxVersion() {
			s.t.Fatalf("max version of %s went back", ep)
		}
		for k, ov := range old.States.All() {
			if nv, ok := cur.States.Get(k); ok && nv.Version < ov.Version {
				s.t.Fatalf("%s/%s: version %d overwritten by older %d", ep, k, ov.Version, nv.Version)
			}
		}
	}
	snap := n.m.Clone()
	again, err := n.m.Apply(deltas, s.applyOpts(n))
	if err != nil || len(again) != 0 || !n.m.Equal(snap) {
		s.t.Fatalf("reapplying a delta changed something: %v %v", again, err)
	}
}

// handle delivers msg and returns the reply, if any.
func (s *sim) handle(msg simMsg) *simMsg {
	n := s.nodes[msg.to]
	switch msg.kind {
	case 0:
		req, wants := n.m.Examine(msg.digests)
		deltas, _ := n.m.BuildDeltas(wants, s.budget)
		return &simMsg{kind: 1, from: msg.to, to: msg.from, digests: req, deltas: cloneDeltas(deltas)}
	case 1:
		s.apply(n, msg.deltas)
		deltas, _ := n.m.BuildDeltas(n.m.WantsFor(msg.digests), s.budget)
		return &simMsg{kind: 2, from: msg.to, to: msg.from, deltas: cloneDeltas(deltas)}
	default:
		s.apply(n, msg.deltas)
		return nil
	}
}

func cloneDeltas(ds []Delta) []Delta {
	out := make([]Delta, len(ds))
	for i := range ds {
		out[i] = ds[i].Clone()
	}
	return out
}

func (s *sim) exchange(i, j int) {
	msg := &simMsg{kind: 0, from: i, to: j, digests: s.nodes[i].m.Digests()}
	for msg != nil {
		msg = s.handle(*msg)
	}
}

// liveView is what applications observe: per endpoint, generation,
// heartbeat and live keys.
func liveView(m *Map) map[string]string {
	out := map[string]string{}
	for _, ep := range m.Endpoints() {
		s := m.Get(ep)
		v := fmt.Sprintf("g%d h%d", s.HeartBeat.Generation, s.HeartBeat.Version)
		for _, k := range s.SortedKeys() {
			if val, _ := s.States.Get(k); !val.Deleted {
				v += fmt.Sprintf(" %s=%s@%d", k, val.Value, val.Version)
			}
		}
		out[ep] = v
	}
	return out
}

// history records every update each owner made, per generation.
type history map[string]map[int64][]upd

// upd is one owner update.
type upd struct {
	key     string
	version int64
	deleted bool
}

// run shapes a randomRun.
type run struct {
	maxNodes, maxSteps int
	// keys the owners set and delete.
	keys []string
	// budgets for Acks; one is drawn per run. Convergence needs one that
	// holds a whole state, as Config.Validate ensures for real frames.
	budgets []int
	// after, if set, is called at the end of each step.
	after func(step int, s *sim, hist history)
}

// randomRun drives a random run of 2..maxNodes nodes for up to maxSteps
// steps: local sets and deletes (owners trimming their tombstones),
// heartbeats, restarts, tombstone collection and SYNs, with every message
// delivered in any order, duplicated or dropped. It records every owner
// update.
func randomRun(rt *rapid.T, r run) *sim {
	n := rapid.IntRange(2, r.maxNodes).Draw(rt, "nodes")
	s := &sim{t: rt, now: t0, grace: time.Duration(rapid.IntRange(1, 20).Draw(rt, "grace")) * time.Second,
		budget: rapid.SampledFrom(r.budgets).Draw(rt, "budget")}
	hist := history{}
	for i := range n {
		node := &simNode{id: fmt.Sprintf("n%d", i)}
		node.restart(t0.Unix())
		hist[node.id] = map[int64][]upd{}
		s.nodes = append(s.nodes, node)
	}
	keys := r.keys
	var inflight []simMsg
	steps := rapid.IntRange(0, r.maxSteps).Draw(rt, "steps")
	for st := range steps {
		s.now = s.now.Add(time.Second)
		i := rapid.IntRange(0, n-1).Draw(rt, "node")
		node := s.nodes[i]
		switch op := rapid.IntRange(0, 10).Draw(rt, "op"); op {
		case 0, 1:
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			v := node.counter.Next()
			node.self().Set(k, rapid.StringMatching(`[a-z]{0,6}`).Draw(rt, "value"), v)
			hist[node.id][node.gen] = append(hist[node.id][node.gen], upd{k, v, false})
		case 2:
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			v := node.counter.Next()
			node.self().Delete(k, v, s.now)
			hist[node.id][node.gen] = append(hist[node.id][node.gen], upd{k, v, true})
			node.self().TrimTombstones(rapid.IntRange(0, 3).Draw(rt, "keep"))
		case 3:
			node.self().HeartBeat.Version = node.counter.Next()
		case 4:
			if rapid.IntRange(0, 5).Draw(rt, "restart?") == 0 {
				node.restart(node.gen + 1)
				logf(rt, "step %d: %s restarts", st, node.id)
			}
		case 5:
			node.m.CollectGarbage(s.now, s.grace)
		case 6, 7:
			j := rapid.IntRange(0, n-1).Draw(rt, "peer")
			if j != i {
				inflight = append(inflight, simMsg{kind: 0, from: i, to: j, digests: node.m.Digests()})
			}
		default:
			if len(inflight) == 0 {
				continue
			}
			k := rapid.IntRange(0, len(inflight)-1).Draw(rt, "msg")
			msg := inflight[k]
			fate := rapid.IntRange(0, 3).Draw(rt, "fate")
			if fate != 1 { // 1: delivered, and a duplicate stays in flight
				inflight = append(inflight[:k], inflight[k+1:]...)
			}
			if fate == 0 { // dropped
				continue
			}
			logf(rt, "step %d deliver kind=%d %d->%d digests=%v deltas=%+v", st, msg.kind, msg.from, msg.to, msg.digests, msg.deltas)
			if reply := s.handle(msg); reply != nil {
				inflight = append(inflight, *reply)
			}
			logf(rt, "   receiver after: %v", dump(s.nodes[msg.to].m))
		}
		if r.after != nil {
			r.after(st, s, hist)
		}
	}
	return s
}

// TestPropertyConvergence: after any sequence of local updates, deletes,
// restarts, garbage collection and SYN/ACK/ACK2 messages delivered in any
// order, duplicated or dropped, a few rounds of complete exchanges make
// every map identical.
func TestPropertyConvergence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := randomRun(rt, run{maxNodes: 5, maxSteps: 120, keys: []string{"a", "b", "c", "d"}, budgets: []int{200, 400, 1 << 20}})
		n := len(s.nodes)
		// Quiesce: complete exchanges between every ordered pair until
		// nothing changes (bounded; the budget may need several rounds).
		for round := 0; round < 50; round++ {
			for i := range n {
				for j := range n {
					if i != j {
						s.exchange(i, j)
					}
				}
			}
			if converged(s.nodes) {
				break
			}
		}
		want := liveView(s.nodes[0].m)
		for _, node := range s.nodes[1:] {
			assert.Equal(rt, want, liveView(node.m), "node %s differs from n0", node.id)
			assert.Equal(rt, s.nodes[0].m.Digests(), node.m.Digests())
		}
		require.Len(rt, want, n, "every node knows every node")
	})
}

func converged(nodes []*simNode) bool {
	want := liveView(nodes[0].m)
	for _, n := range nodes[1:] {
		if fmt.Sprint(liveView(n.m)) != fmt.Sprint(want) {
			return false
		}
	}
	return true
}

// TestPropertyMissedDeleteAndGC: a peer that missed both a delete and the
// collection of its tombstone still converges (it is sent a reset).
func TestPropertyMissedDeleteAndGC(t *testing.T) {
	owner := &simNode{id: "owner"}
	owner.restart(t0.Unix())
	peer := &simNode{id: "peer"}
	peer.restart(t0.Unix())
	s := &sim{now: t0, budget: 1 << 20, nodes: []*simNode{owner, peer}}

	owner.self().Set("gone", "x", owner.counter.Next())
	owner.self().Set("kept", "y", owner.counter.Next())
	exchangeOnce(t, s, 1, 0)
	v, ok := peer.m.Get("owner").Get("gone")
	require.True(t, ok)
	require.Equal(t, "x", v)

	owner.self().Delete("gone", owner.counter.Next(), t0)
	owner.self().HeartBeat.Version = owner.counter.Next()
	require.Equal(t, 1, owner.m.CollectGarbage(t0.Add(time.Hour), time.Minute))

	exchangeOnce(t, s, 1, 0)
	_, ok = peer.m.Get("owner").Get("gone")
	assert.False(t, ok, "the peer learned of the delete through a reset")
	assert.Equal(t, liveView(owner.m)["owner"], liveView(peer.m)["owner"])
}

// exchangeOnce runs one SYN/ACK/ACK2 from node i to node j outside rapid.
func exchangeOnce(t *testing.T, s *sim, i, j int) {
	a, b := s.nodes[i], s.nodes[j]
	req, wants := b.m.Examine(a.m.Digests())
	deltas, _ := b.m.BuildDeltas(wants, s.budget)
	_, err := a.m.Apply(cloneDeltas(deltas), s.applyOpts(a))
	require.NoError(t, err)
	back, _ := a.m.BuildDeltas(a.m.WantsFor(req), s.budget)
	_, err = b.m.Apply(cloneDeltas(back), s.applyOpts(b))
	require.NoError(t, err)
}
