package sim

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
)

// The engine steps the nodes in windows of virtual time (conservative
// parallel discrete-event simulation with a lookahead):
//
//   - The lookahead L is the smallest latency a message can have
//     (Network.minLatency), at most an interval. A message sent at s
//     arrives at s+L or later, and a node's next tick is an interval
//     away, so the events of [t, t+L) cannot cause one another across
//     nodes: only a node's own flushes land inside its window.
//   - A window is the items of [t, t+L) up to the first barrier (a round
//     boundary, a scenario event or a resume, which are carried out
//     alone, between windows). Its items are grouped by node, and the
//     groups go to the workers as they come free, the costliest first
//     (an estimate from the items' kinds and list lengths: a longest-
//     processing-time-first schedule, so no worker idles long while
//     another still has most of the window to do). A worker steps a
//     node's core in its items' (at, prio, seq) order (Tick, StepFrom,
//     Flush, PushPending, decoding, and the flushes a node schedules for
//     itself inside the window), recording the result of every core call
//     (rec) with the frames of the messages it emitted (each the first
//     frame of a fresh connection, encoded with the worker's own Encoder:
//     the bytes do not depend on the encoder), and touches nothing else:
//     the cores of the nodes it took, its own Scratch and Encoder (one
//     per worker; a core is given its worker's Scratch before it is
//     stepped), the run's IDTable (pinned: only read) and its own fields
//     of the simNodes.
//   - Then Run's goroutine carries out the window's items again, one by
//     one in (at, prio, seq) order, as the one-at-a-time engine does, but
//     takes each core call's result from the node's records instead of
//     calling the core: the sends (byte counts, the network's draws,
//     scheduling; encoding too on kept connections), the measurements,
//     the event log and core.Release happen in the same order as with
//     one worker, or none.
//   - A window of fewer than minShared items is stepped on Run's
//     goroutine alone (workers.go): only the time differs.
//   - A worker stops stepping a node before a tick of a slow node (its
//     skip is drawn from the network's generator, at its turn) and after
//     a call whose output is fatal (the node crashes at its turn); the
//     node's later items are then carried out at their turn with direct
//     core calls, as outside a window.
//
// The result does not depend on the number of workers: the cores see the
// same calls, in the same order per core, and everything shared happens
// in one order (TestWorkersChangeNothing).

// rec is the result of one core call made by a worker, for the window's
// serial pass (engine.call).
type rec struct {
	out core.Output
	// vers holds, per event of out, the version of the event's endpoint
	// right after the call, when the measurements follow it
	// (measure.follows); nil when they follow none.
	vers []core.EndpointVersion
	// traced and phi: the phi of the traced node read after a tick
	// (measure.tracing).
	traced bool
	phi    float64
	// wait and pending: PushPending after a Flush.
	wait    time.Duration
	pending bool
	// err: the frame did not decode.
	err error
	// frames are out.Messages' frames, encoded by the worker (nil: send
	// encodes them).
	frames []frame
}

// parallel is the windowed stepping's state.
type parallel struct {
	workers int
	look    time.Duration // the lookahead; 0: one item at a time
	// ids is the run's IDTable, shared by every core: it numbers every
	// node's ID, in node order, and pins them before any core starts
	// (IDTable.Pin), so no core ever writes it (the cores know only the
	// nodes' IDs) and the workers may read it at once.
	ids *endpointstate.IDTable
	// scratch is each worker's Scratch, lent to the cores it steps (a
	// Scratch is not safe for concurrent use); enc each worker's
	// encoder (network.go, frames).
	scratch []*endpointstate.Scratch
	enc     []wenc
	win     []item
	// groups are the window's items by node, the costliest first; link
	// chains a node's items in window order (link[i] is the index in
	// win of the node's item after win[i], or -1). next is the next
	// group a worker takes.
	groups []group
	link   []int32
	next   ticket
	end    time.Duration // the window ends before this time
	active bool          // in a window's serial pass
	pool   pool
	// minShared is the smallest window shared between goroutines
	// (workers.go, run); smaller ones are stepped on Run's goroutine,
	// group after group. It changes nothing but the time.
	minShared int
	// dealt deals the groups to the workers in turn, shifted by one
	// every window, rather than letting them take the next: for the
	// tests, so that nodes move between workers whatever the timing.
	dealt bool
	// running is how many workers step the window.
	running int
	stats   parStats
}

// parStats counts what the windows did, for the tests.
type parStats struct {
	windows, shared int // windows; windows stepped by more than one worker
	items           int // items in windows
	ownFlushes      int // flushes nodes scheduled inside their window
	stopped         int // nodes whose worker left the rest of a window to the serial pass
	moved           int // groups stepped by another worker than the node's last one
}

// group is one node's items in a window.
type group struct {
	n           *simNode
	first, last int32 // indexes in win of its first and last items
	cost        int   // estimated (see itemCost)
	moved       bool  // stepped by another worker than the node's last one
}

// minSharedFor is parallel.minShared for n nodes. At 1,000 nodes a
// window holds about two items of about 80 µs each, and handing one to
// another goroutine (tens of µs to wake it) cost about what it saved
// (two workers sharing every window: 6 % slower); at 3,000 an item takes
// about 300 µs and sharing every window was 6 % faster
// (docs/performance.md, "Two workers").
func minSharedFor(n int) int {
	if n >= 2000 {
		return 2
	}
	return 4
}

// MaxWorkers bounds Options.Workers.
const MaxWorkers = 256

// Validate reports options Run refuses.
func (o Options) Validate() error {
	if o.Workers < 0 || o.Workers > MaxWorkers {
		return fmt.Errorf("sim: workers %d: want 0 (one per CPU the Go runtime uses, GOMAXPROCS) or 1..%d", o.Workers, MaxWorkers)
	}
	return nil
}

// init sets up the workers' tables and buffers for e's nodes.
func (p *parallel) init(e *engine) {
	w := e.opt.Workers
	if w == 0 {
		w = defaultWorkers()
	}
	p.workers = max(1, min(w, len(e.nodes)))
	p.look = min(e.sc.Network.minLatency(), e.sc.Interval)
	p.minShared = minSharedFor(len(e.nodes))
	if e.opt.oneAtATime {
		p.look = 0
	}
	p.ids = endpointstate.NewIDTable()
	for _, n := range e.nodes {
		p.ids.Acquire(n.id)
	}
	p.ids.Pin()
	for _, n := range e.nodes {
		n.w = n.idx % p.workers
	}
	p.scratch = make([]*endpointstate.Scratch, p.workers)
	p.enc = make([]wenc, p.workers)
	for i := range p.workers {
		p.enc[i].enc = e.codec.NewEncoder()
		if !e.opt.ownBuffers {
			p.scratch[i] = endpointstate.NewScratch()
		}
	}
}

// scratchOf returns the Scratch n's core was last given, where n's
// messages' lists go back (nil: each core has buffers of its own). Any
// worker's Scratch may take them: only the serial pass hands lists back.
func (p *parallel) scratchOf(n *simNode) *endpointstate.Scratch { return p.scratch[n.w] }

// barrier reports whether it is carried out alone, between windows.
func barrier(it item) bool { return it.kind == kRound || it.kind == kScenario || it.kind == kResume }

// before reports whether a comes before b in the queue's order.
func before(a, b *item) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.seq < b.seq
}

// window carries out the items of one window, the queue's first item
// being one of them (not a barrier, at or before end).
func (e *engine) window(end time.Duration) {
	p := &e.par
	limit := e.q[0].at + p.look
	p.win = p.win[:0]
	for e.q.Len() > 0 {
		it := e.q[0]
		if it.at >= limit || it.at > end || barrier(it) {
			break
		}
		p.win = append(p.win, heap.Pop(&e.q).(item))
	}
	p.end = limit
	if e.q.Len() > 0 && barrier(e.q[0]) && e.q[0].at < p.end {
		p.end = e.q[0].at
	}
	e.split()
	p.stats.windows++
	p.stats.items += len(p.win)
	p.run(e)
	e.serialPass()
}

// split groups the window's items by node, each node with the worker's
// copy of its flush time, and orders the groups by their estimated cost,
// the costliest first.
func (e *engine) split() {
	p := &e.par
	p.link = slices.Grow(p.link[:0], len(p.win))[:len(p.win)]
	for i, it := range p.win {
		p.link[i] = -1
		n := e.nodes[it.node]
		if n.wGroup < 0 {
			n.wFlushAt, n.wGroup = n.flushAt, int32(len(p.groups))
			p.groups = append(p.groups, group{n: n, first: int32(i), last: int32(i)})
		} else {
			g := &p.groups[n.wGroup]
			p.link[g.last], g.last = int32(i), int32(i)
		}
		p.groups[n.wGroup].cost += e.itemCost(&p.win[i])
	}
	slices.SortStableFunc(p.groups, func(a, b group) int { return cmp.Compare(b.cost, a.cost) })
	p.next.reset()
}

// itemCost estimates what stepping it costs, in rough units of one
// endpoint read: a tick reads every endpoint for its Syn's digests, a
// Syn's receiver examines its digests and builds deltas for about half,
// an Ack's receiver applies its deltas and builds the deltas asked for,
// an Ack2's applies its deltas. It only orders the groups: a wrong
// estimate costs time, never a different run.
func (e *engine) itemCost(it *item) int {
	switch it.kind {
	case kTick:
		return len(e.nodes)
	case kDeliver:
		if it.msg.env == nil {
			return 1 + len(it.msg.payload)/4
		}
		m := it.msg.env.Message
		switch n := m.(type) {
		case *messaging.NumberedSyn:
			m = &n.Syn
		case *messaging.NumberedAck:
			m = &n.Ack
		}
		switch m := m.(type) {
		case *messaging.Syn:
			return 1 + 2*len(m.Digests)
		case *messaging.Ack:
			return 1 + 3*len(m.Deltas) + 2*len(m.Requests)
		case *messaging.Ack2:
			return 1 + 3*len(m.Deltas)
		}
	}
	return 1
}

// work has worker w take the window's groups, the costliest first, one
// at a time, until none is left.
func (e *engine) work(w int) {
	p := &e.par
	if p.dealt {
		for g := (w + p.stats.windows) % p.running; g < len(p.groups); g += p.running {
			e.stepGroup(w, &p.groups[g])
		}
		return
	}
	for {
		g := p.next.take()
		if g >= len(p.groups) {
			return
		}
		e.stepGroup(w, &p.groups[g])
	}
}

// stepGroup steps one node through its items of the window on worker w,
// then through the flushes it scheduled for itself before the window's
// end.
func (e *engine) stepGroup(w int, g *group) {
	p := &e.par
	n := g.n
	if n.w != w {
		n.w = w
		g.moved = true
		if s := p.scratch[w]; s != nil {
			n.core.SetScratch(s)
		}
	}
	for i := g.first; i >= 0; i = p.link[i] {
		e.stepItem(n, &p.win[i])
	}
	e.synFlushes(n, p.end)
}

// stepItem steps n through one of its items of the window.
func (e *engine) stepItem(n *simNode, it *item) {
	e.synFlushes(n, it.at)
	if n.stopped {
		return
	}
	switch it.kind {
	case kTick:
		if n.inc != it.inc || !n.up || n.paused {
			return // stale: the serial pass drops it
		}
		if n.slow > 0 {
			n.stopped = true // the skip is drawn at its turn
			return
		}
		e.keep(n, e.coreTick(n, it.at))
		e.wflush(n, it.at)
	case kDeliver:
		if !n.up || n.inc != it.msg.toInc || n.paused {
			return // dropped, or held in the inbox, by the serial pass
		}
		r := e.coreStep(n, it.msg, it.at)
		e.keep(n, r)
		if r.err != nil {
			n.stopped = true
			return
		}
		e.wflush(n, it.at)
	case kFlush:
		if n.inc == it.inc && n.wFlushAt == it.at {
			n.wFlushAt, n.wSyn = -1, false
			if n.live() {
				e.wflush(n, it.at)
			}
		}
	}
	if n.wFatal {
		n.stopped = true
	}
}

// synFlushes runs the flushes n scheduled for itself in this window
// before time t (at t, the items already queued come first: their
// sequence numbers are smaller).
func (e *engine) synFlushes(n *simNode, t time.Duration) {
	for !n.stopped && n.wSyn && n.wFlushAt < t {
		at := n.wFlushAt
		n.wFlushAt, n.wSyn = -1, false
		if n.live() {
			e.wflush(n, at)
		}
		if n.wFatal {
			n.stopped = true
		}
	}
}

// keep records the result of one of n's core calls; a fatal output
// crashes the node at its turn, which clears its flush time.
func (e *engine) keep(n *simNode, r rec) {
	r.frames = e.frames(n, r.out.Messages)
	n.recs = append(n.recs, r)
	if r.out.Fatal != nil {
		n.wFatal = true
		n.wFlushAt, n.wSyn = -1, false
	}
}

// wflush is the worker's engine.flush.
func (e *engine) wflush(n *simNode, at time.Duration) {
	r := e.coreFlush(n, at)
	e.keep(n, r)
	if r.pending && r.wait > 0 {
		if a := at + r.wait; n.wFlushAt < 0 || a < n.wFlushAt {
			n.wFlushAt, n.wSyn = a, true
		}
	}
}

// serialPass carries out the window's items in order, with the flushes
// they schedule inside it, using the workers' records.
func (e *engine) serialPass() {
	p := &e.par
	p.active = true
	i := 0
	for e.err == nil {
		var it item
		if e.q.Len() > 0 && e.q[0].at < p.end && (i == len(p.win) || before(&e.q[0], &p.win[i])) {
			it = heap.Pop(&e.q).(item)
			p.stats.ownFlushes++
		} else if i < len(p.win) {
			it = p.win[i]
			i++
		} else {
			break
		}
		e.now = it.at
		e.dispatch(it)
	}
	p.active = false
	if e.err == nil && p.ids.Len() != len(e.nodes) {
		// The workers share the table only while no core writes it: a core
		// meeting an ID outside the nodes' would have (IDTable.Pin).
		e.err = fmt.Errorf("sim: internal: the shared ID table holds %d IDs, not the %d nodes'", p.ids.Len(), len(e.nodes))
	}
	for _, g := range p.groups {
		n := g.n
		if n.stopped {
			p.stats.stopped++
		}
		if g.moved {
			p.stats.moved++
		}
		if e.err == nil && n.cur != len(n.recs) {
			e.err = fmt.Errorf("sim: internal: %s: %d of the window's %d core calls were used", n.id, n.cur, len(n.recs))
		}
		clear(n.recs)
		n.recs, n.cur = n.recs[:0], 0
		n.stopped, n.wSyn, n.wFatal, n.wGroup = false, false, false, -1
	}
	clear(p.groups)
	p.groups = p.groups[:0]
}

// call returns the result of one of n's core calls: from the worker's
// records in a window's serial pass, else made by f now.
func (e *engine) call(n *simNode, f func() rec) rec {
	if e.par.active {
		if n.cur < len(n.recs) {
			r := n.recs[n.cur]
			n.recs[n.cur] = rec{}
			n.cur++
			return r
		}
		if !n.stopped && e.err == nil {
			e.err = fmt.Errorf("sim: internal: %s at %v: no record of a core call", n.id, e.now)
		}
	}
	return f()
}

// nodeAt is node n's clock at virtual time at.
func nodeAt(n *simNode, at time.Duration) time.Time { return epoch.Add(at + n.clock) }

// coreTick runs a round of n's core at virtual time at.
func (e *engine) coreTick(n *simNode, at time.Duration) rec {
	now := nodeAt(n, at)
	r := rec{out: n.core.Tick(now)}
	r.vers = e.versions(n, r.out.Events)
	if e.m.tracing(n, at) {
		r.traced, r.phi = true, n.core.Phi(e.nodes[e.m.phiTarget].id, now)
	}
	return r
}

// coreStep decodes p (unless it carries its envelope) and hands it to
// n's core at virtual time at.
func (e *engine) coreStep(n *simNode, p *packet, at time.Duration) rec {
	env := p.env
	if env == nil {
		var err error
		if env, err = e.codec.NewDecoder().Decode(p.payload); err != nil {
			return rec{err: err}
		}
	}
	r := rec{out: n.core.StepFrom(nodeAt(n, at), e.nodes[p.from].addr, env)}
	r.vers = e.versions(n, r.out.Events)
	return r
}

// coreFlush flushes n's core at virtual time at and asks when it next
// has something to push.
func (e *engine) coreFlush(n *simNode, at time.Duration) rec {
	now := nodeAt(n, at)
	r := rec{out: n.core.Flush(now)}
	r.vers = e.versions(n, r.out.Events)
	r.wait, r.pending = n.core.PushPending(now)
	return r
}

// versions reads, for the events the measurements follow, their
// endpoint's version at n now; nil if they follow none.
func (e *engine) versions(n *simNode, evs []core.Event) []core.EndpointVersion {
	var vers []core.EndpointVersion
	for i, ev := range evs {
		switch ev.Kind {
		case core.EventJoin, core.EventRestart, core.EventChange:
			if e.m.follows(e, ev.Endpoint) {
				if vers == nil {
					vers = make([]core.EndpointVersion, len(evs))
				}
				vers[i], _ = n.core.EndpointVersion(ev.Endpoint)
			}
		}
	}
	return vers
}
