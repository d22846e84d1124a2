package sim

import (
	"bufio"
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
)

// epoch is virtual time zero: every node's clock starts here (plus its own
// offset, see clock_jump).
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Item kinds, and their priority at equal times: round boundaries first,
// then the scenario's events, then the nodes' work in the order it was
// scheduled.
const (
	kRound uint8 = iota
	kScenario
	kTick
	kDeliver
	kFlush
	kResume
)

// item is one entry of the event queue.
type item struct {
	at   time.Duration // virtual time
	prio uint8         // 0 for kRound, 1 for kScenario, 2 for the rest
	seq  uint64        // scheduling order: the tie-break
	kind uint8
	node int // the node concerned (receiver for kDeliver); the event index for kScenario; the round for kRound
	inc  int // the node's incarnation the item was scheduled for (kTick, kFlush, kResume)
	msg  *packet
}

// packet is a message in flight.
type packet struct {
	from    int
	toInc   int                 // the receiver's incarnation when it was sent
	payload []byte              // the encoded frame
	env     *messaging.Envelope // to hand over as is (SkipDecode, or decoded on a kept connection); nil: decode payload
}

// queue is a min-heap of items ordered by (at, prio, seq): deterministic,
// whatever the heap's internal order.
type queue []item

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return before(&q[i], &q[j]) }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)        { *q = append(*q, x.(item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = item{}
	*q = old[:len(old)-1]
	return it
}

// simNode is one simulated process.
type simNode struct {
	idx      int
	id, addr string
	core     *core.Node
	inc      int  // incarnation: bumped by every restart
	up       bool // running: not crashed, shut down or stopped
	shut     bool // shut down gracefully (until restarted)
	paused   bool
	inbox    []packet // messages that arrived while paused
	clock    time.Duration
	slow     float64
	flushAt  time.Duration // a scheduled kFlush, or -1
	sentB    int64         // bytes sent this round
	sentMsgs int64

	// A window's work (parallel.go): the results of the core calls its
	// worker made, in order, and how many the window's serial pass took;
	// stopped once the worker left the node's later events to that pass.
	// wFlushAt is the worker's copy of flushAt.
	recs     []rec
	cur      int
	stopped  bool
	wFlushAt time.Duration
	wSyn     bool  // wFlushAt was scheduled by the worker in this window
	wFatal   bool  // a core call of the window returned a fatal output
	wGroup   int32 // the node's group in the window (parallel.groups), -1 without items in it
	// w is the worker that last stepped the node, or its first (i mod
	// W): its core has that worker's Scratch.
	w int
}

// live reports whether the node runs and is not paused: it can be
// informed and it answers.
func (n *simNode) live() bool { return n.up && !n.paused }

// engine is one run.
type engine struct {
	ctx    context.Context
	sc     Scenario
	opt    Options
	cfg    core.NodeConfig
	codec  *messaging.Codec
	decode bool
	nodes  []*simNode
	byAddr map[string]int
	byID   map[string]int
	q      queue
	seq    uint64
	now    time.Duration
	round  int
	rng    *rand.Rand // network and scenario choices
	seeds  []string

	// network state
	loss   float64
	group  []int // partition group per node
	oneway []block
	faulty bool // some partition or block is in force
	// netDirty is set while the network loses messages or a partition
	// or block is in force; cleanSince is when it last became clean.
	netDirty   bool
	cleanSince time.Duration

	// conns are the connections kept (Scenario.KeepConnections), by
	// sender and receiver: one direction's lean tables each.
	conns map[[2]int]*conn
	// fresh encodes the messages sent outside a worker's step as the
	// first frame of a new connection.
	fresh wenc
	// refs counts, for each message handed to its receivers as is (not
	// decoded), the deliveries still to come: at zero its lists go back
	// to cfg.Scratch (core.Release).
	refs map[messaging.Message]int

	log *bufio.Writer
	m   *measure
	err error

	// par is the windowed, parallel stepping of the nodes (parallel.go).
	par parallel
}

// maxInbox bounds what a paused node holds (its socket buffers); beyond,
// messages are dropped.
const maxInbox = 4096

// Run simulates s and returns its report. It is deterministic: the same
// scenario gives the same report (but for WallSeconds and
// PeakMemoryBytes) and the same event log, byte for byte, whatever
// Options.Workers is. The run has one event order, as a single-threaded
// simulator would; within a lookahead window (the network's smallest
// latency) the core calls of different nodes run on Options.Workers
// goroutines, and everything they cause (messages, draws from the
// network's generator, measurements, the log) is then done on Run's
// goroutine in that one order (see the package doc, "Workers").
// It returns an error for an invalid scenario or options, or ctx's error
// if ctx ends first (checked once per round), with the report so far.
func Run(ctx context.Context, s Scenario, opt Options) (Report, error) {
	return run(ctx, s, opt, !opt.SkipDecode)
}

func run(ctx context.Context, s Scenario, opt Options, decode bool) (Report, error) {
	if err := s.Validate(); err != nil {
		return Report{}, err
	}
	if err := opt.Validate(); err != nil {
		return Report{}, err
	}
	start := wallNow()
	e, err := newEngine(ctx, s, opt, decode)
	if err != nil {
		return Report{}, err
	}
	stop := e.par.start(e)
	e.loop()
	stop()
	if e.log != nil {
		if ferr := e.log.Flush(); ferr != nil && e.err == nil {
			e.err = fmt.Errorf("sim: event log: %w", ferr)
		}
	}
	r := e.m.report(e)
	r.WallSeconds = wallSince(start).Seconds()
	return r, e.err
}

// nodeConfig is the core configuration every simulated node runs.
func nodeConfig(s Scenario) (core.NodeConfig, error) {
	cfg := core.DefaultNodeConfig()
	cfg.Interval = s.Interval
	if s.Fanout > 0 {
		cfg.Fanout = s.Fanout
	}
	switch s.PushFanout {
	case 0:
		cfg.PushFanout = core.PushFanoutAuto
	case -1:
		cfg.PushFanout = 0
	default:
		cfg.PushFanout = s.PushFanout
	}
	model, err := s.model()
	if err != nil {
		return cfg, err
	}
	cfg.FailureDetector = failuredetector.DefaultConfigFor(s.Interval)
	cfg.FailureDetector.Model = model
	if s.Phi > 0 {
		cfg.FailureDetector.PhiConvictThreshold = s.Phi
	}
	if s.FDWindow > 0 {
		cfg.FailureDetector.WindowSize = s.FDWindow
	}
	cfg.ShadowTimeout = 10 * s.Interval
	cfg.MaxEndpoints = max(cfg.MaxEndpoints, s.Nodes+16)
	// Each core's table of endpoint numbers and Scratch are its worker's
	// (newCore, parallel.init).
	return cfg, nil
}

func newEngine(ctx context.Context, s Scenario, opt Options, decode bool) (*engine, error) {
	cfg, err := nodeConfig(s)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	codec, err := messaging.NewCodec(cfg.MaxFrameSize, cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	e := &engine{ctx: ctx, sc: s, opt: opt, cfg: cfg, codec: codec, decode: decode, fresh: wenc{enc: codec.NewEncoder()},
		byAddr: make(map[string]int, s.Nodes), byID: make(map[string]int, s.Nodes), refs: map[messaging.Message]int{},
		rng:  rand.New(rand.NewPCG(uint64(s.Seed), 0x5eed)),
		loss: s.Network.Loss, group: make([]int, s.Nodes)}
	e.cleanSince = -time.Duration(MaxRounds) * s.Interval // clean from the start: as if forever
	e.netDirty = e.loss > 0
	if opt.EventLog != nil {
		e.log = bufio.NewWriterSize(opt.EventLog, 64<<10)
	}
	width := len(fmt.Sprint(s.Nodes - 1))
	for i := range s.Nodes {
		id := fmt.Sprintf("n%0*d", width, i)
		n := &simNode{idx: i, id: id, addr: id + ":7000", flushAt: -1, wFlushAt: -1, wGroup: -1}
		e.nodes = append(e.nodes, n)
		e.byAddr[n.addr], e.byID[id] = i, i
	}
	e.par.init(e)
	for i := range min(3, s.Nodes) {
		e.seeds = append(e.seeds, e.nodes[i].addr)
	}
	if err := e.startConverged(); err != nil {
		return nil, err
	}
	e.m = newMeasure(e)
	for i, ev := range s.Events {
		e.schedule(item{at: time.Duration(ev.Round) * s.Interval, prio: 1, kind: kScenario, node: i})
	}
	for r := 1; r <= s.Rounds; r++ {
		e.schedule(item{at: time.Duration(r) * s.Interval, kind: kRound, node: r})
	}
	for _, n := range e.nodes {
		off := 1 + e.rng.Int64N(int64(s.Interval)-1)
		e.schedule(item{at: time.Duration(off), prio: 2, kind: kTick, node: n.idx, inc: n.inc})
	}
	return e, nil
}

// newCore builds node n's core for its current incarnation, in generation
// gen.
func (e *engine) newCore(n *simNode, gen int64) error {
	cfg := e.cfg
	cfg.ID, cfg.Seeds = n.id, e.seeds
	cfg.IDs, cfg.Scratch = e.par.ids, e.par.scratch[n.w]
	rng := rand.New(rand.NewPCG(uint64(e.sc.Seed), uint64(n.idx)<<24|uint64(n.inc)))
	node, err := core.NewNode(cfg, n.addr, gen, rng)
	if err != nil {
		return fmt.Errorf("sim: node %s: %w", n.id, err)
	}
	n.core = node
	return nil
}

// startConverged starts every node at time 0 from the converged view:
// everyone knows everyone up, with five heartbeat arrivals an interval
// apart.
func (e *engine) startConverged() error {
	gen := epoch.Unix()
	view := make([]core.PeerView, len(e.nodes))
	for i, n := range e.nodes {
		if err := e.newCore(n, gen); err != nil {
			return err
		}
		n.up = true
		view[i] = core.PeerView{ID: n.id, State: n.core.State(n.id), Up: true}
	}
	var arrivals []time.Time
	for k := 4; k >= 0; k-- {
		arrivals = append(arrivals, epoch.Add(-time.Duration(k)*e.sc.Interval))
	}
	buf := make([]core.PeerView, 0, len(view))
	for i, n := range e.nodes {
		buf = append(append(buf[:0], view[:i]...), view[i+1:]...)
		for j := range buf {
			buf[j].Arrivals = arrivals
		}
		if err := n.core.StartFromView(epoch, buf); err != nil {
			return fmt.Errorf("sim: node %s: %w", n.id, err)
		}
	}
	return nil
}

func (e *engine) schedule(it item) {
	if it.kind != kRound && it.kind != kScenario {
		it.prio = 2
	}
	if e.par.active && it.at < e.par.end && it.kind != kFlush && e.err == nil {
		// Only a node's own flushes land in its window (parallel.go).
		e.err = fmt.Errorf("sim: internal: item of kind %d for %s at %v inside the window ending at %v", it.kind, e.nodes[it.node].id, it.at, e.par.end)
	}
	e.seq++
	it.seq = e.seq
	heap.Push(&e.q, it)
}

// nodeNow is node n's clock at the current virtual time.
func (e *engine) nodeNow(n *simNode) time.Time { return nodeAt(n, e.now) }

func (e *engine) loop() {
	end := time.Duration(e.sc.Rounds) * e.sc.Interval
	for e.q.Len() > 0 && e.err == nil {
		if it := e.q[0]; it.at <= end && e.par.look > 0 && !barrier(it) {
			e.window(end)
			continue
		}
		it := heap.Pop(&e.q).(item)
		if it.at > end {
			break
		}
		e.now = it.at
		if e.dispatch(it) {
			return
		}
	}
}

// dispatch carries out one item; it reports whether the run is over.
func (e *engine) dispatch(it item) bool {
	switch it.kind {
	case kRound:
		e.endRound(it.node)
		return it.node == e.sc.Rounds
	case kScenario:
		e.apply(e.sc.Events[it.node])
	case kTick:
		e.tick(e.nodes[it.node], it.inc)
	case kDeliver:
		e.deliver(e.nodes[it.node], it.msg)
	case kFlush:
		n := e.nodes[it.node]
		if n.inc == it.inc && n.flushAt == it.at {
			n.flushAt = -1
			if n.live() {
				e.flush(n)
			}
		}
	case kResume:
		e.resume(e.nodes[it.node], it.inc)
	}
	return false
}

// endRound closes round r: measurements, progress, the next update.
func (e *engine) endRound(r int) {
	e.round = r
	e.m.endRound(e, r)
	if err := e.ctx.Err(); err != nil {
		e.err = fmt.Errorf("sim: stopped at round %d of %d: %w", r, e.sc.Rounds, err)
		return
	}
	if r < e.sc.Rounds {
		e.m.maybeUpdate(e, r)
	}
}

func (e *engine) tick(n *simNode, inc int) {
	if n.inc != inc || !n.up || n.paused {
		return // a stale tick: the node restarted, crashed or paused
	}
	e.schedule(item{at: e.now + e.sc.Interval, kind: kTick, node: n.idx, inc: n.inc})
	if n.slow > 0 && e.rng.Float64() < n.slow {
		return // a slow node skips this round
	}
	r := e.call(n, func() rec { return e.coreTick(n, e.now) })
	e.handle(n, -1, r)
	e.m.tracePhi(e, r)
	e.flush(n)
}

func (e *engine) deliver(n *simNode, p *packet) {
	if !n.up || n.inc != p.toInc {
		e.consumed(p) // crashed, or restarted since: the connection it was sent on is gone
		return
	}
	if n.paused {
		if len(n.inbox) < maxInbox {
			n.inbox = append(n.inbox, *p)
		} else {
			e.consumed(p)
		}
		return
	}
	e.step(n, p)
	e.flush(n)
}

// consumed notes that one delivery of p is done with (handled or
// dropped): the last of a message handed over as is releases its lists.
// (A packet left in a crashed node's inbox is never consumed: its lists
// are simply not reused.)
func (e *engine) consumed(p *packet) {
	if p.env == nil || p.env.Message == nil {
		return
	}
	m := p.env.Message
	c, ok := e.refs[m]
	if !ok {
		return // decoded on a kept connection: the receiver's own
	}
	if c > 1 {
		e.refs[m] = c - 1
		return
	}
	delete(e.refs, m)
	core.Release(e.par.scratchOf(e.nodes[p.from]), m)
}

// step hands one message to n's core.
func (e *engine) step(n *simNode, p *packet) {
	r := e.call(n, func() rec { return e.coreStep(n, p, e.now) })
	if r.err != nil {
		e.err = fmt.Errorf("sim: %s cannot decode a frame from %s: %w", n.id, e.nodes[p.from].id, r.err)
		return
	}
	e.handle(n, p.from, r)
	e.consumed(p)
}

// flush pushes what changed at n and, if the rate limit holds changes
// back, schedules the next flush.
func (e *engine) flush(n *simNode) {
	r := e.call(n, func() rec { return e.coreFlush(n, e.now) })
	e.handle(n, -1, r)
	if r.pending && r.wait > 0 {
		at := e.now + r.wait
		if n.flushAt < 0 || at < n.flushAt {
			n.flushAt = at
			e.schedule(item{at: at, kind: kFlush, node: n.idx, inc: n.inc})
		}
	}
}

// handle acts on one output of n's core, r.out: sends its messages
// (replies to replyTo; r.frames, if not nil, holds their frames), records
// its events. r.vers, if not nil, holds for each event the version of its
// endpoint at n right after the call that emitted it; otherwise the
// measurements read n's core.
func (e *engine) handle(n *simNode, replyTo int, r rec) {
	out := r.out
	for i, ev := range out.Events {
		var v *core.EndpointVersion
		if r.vers != nil {
			v = &r.vers[i]
		}
		e.m.onEvent(e, n, ev, v)
		e.logEvent(n, ev)
	}
	for k, m := range out.Messages {
		var fr *frame
		if r.frames != nil {
			fr = &r.frames[k]
		}
		to := replyTo
		if !m.Reply || replyTo < 0 {
			i, ok := e.byAddr[m.To]
			if !ok {
				continue
			}
			to = i
		}
		e.send(n, to, m.Message, fr)
	}
	e.releaseSent(n, out.Messages)
	if out.Fatal != nil {
		e.logf("%s fatal: %v", n.id, out.Fatal)
		e.crash(n)
	}
}

// releaseSent releases the lists of the messages n just sent that no
// receiver holds: all of them when frames are decoded (each receiver gets
// its own), those lost to every receiver otherwise.
func (e *engine) releaseSent(n *simNode, msgs []core.Outgoing) {
	for i, m := range msgs {
		if e.refs[m.Message] > 0 || slices.ContainsFunc(msgs[:i], func(o core.Outgoing) bool { return o.Message == m.Message }) {
			continue
		}
		core.Release(e.par.scratchOf(n), m.Message)
	}
}
