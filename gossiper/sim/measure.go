package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
)

// detection follows one crashed node until every live node that saw it up
// has marked it down.
type detection struct {
	node int
	inc  int
	at   time.Duration
	need []bool
	left int
}

// measure gathers a run's measurements and checks its invariants.
type measure struct {
	bound, quiet int
	liveN        int

	updates []*update
	pending [][]*update // by endpoint
	rtc     []float64

	bytesSum, bytesMax, msgsSum, nodeRounds float64
	msgTypes                                map[string]int

	convictions, falseConvictions int
	detections                    []*detection
	detectRounds                  []float64

	violations []string
	extra      int
	findings   []string
	peak       uint64

	watched  int        // observers whose views are checked each round: nodes 0..watched-1
	hw       [][]hwMark // [observer][endpoint]
	buf      []core.EndpointVersion
	gone     map[int]goneNode
	flagged  map[[2]int]bool
	checkAt  int // last round of the post-fault convergence check (0: none)
	faultEnd int
	recovery int                    // rounds from faultEnd to convergence; -1 if not within the bound
	target   []core.EndpointVersion // per endpoint, at faultEnd
	hasTgt   []bool
	conv     bool

	phiTarget, phiObs int
	phiFrom, phiUntil time.Duration
	trace             []PhiSample

	wallStart time.Time
}

// maxTrace bounds Report.PhiTrace.
const maxTrace = 100_000

// newMeasure prepares the measurements of e's run.
func newMeasure(e *engine) *measure {
	n := len(e.nodes)
	bound := int(math.Ceil(2*math.Log(float64(n))/math.Log(3))) + 5
	m := &measure{bound: bound, quiet: min(bound, e.sc.Rounds/2), liveN: n,
		pending: make([][]*update, n), msgTypes: map[string]int{},
		watched: min(n, max(32, 250_000/n)), gone: map[int]goneNode{}, flagged: map[[2]int]bool{},
		phiTarget: -1, phiUntil: -1, recovery: -1, wallStart: wallNow(), peak: heapBytes()}
	m.hw = make([][]hwMark, m.watched)
	for i := range m.hw {
		m.hw[i] = make([]hwMark, n)
	}
	for _, ev := range e.sc.Events {
		if ev.Kind == KindCrash {
			if len(ev.Nodes) > 0 {
				m.setPhiTarget(ev.Nodes[0], time.Duration(ev.Round-5)*e.sc.Interval)
			}
			break
		}
	}
	m.markClean(e, 0)
	return m
}

func (m *measure) setPhiTarget(node int, from time.Duration) {
	m.phiTarget, m.phiFrom, m.phiObs = node, from, 0
	if node == 0 {
		m.phiObs = 1
	}
}

func (m *measure) violate(format string, args ...any) {
	if len(m.violations) >= 100 {
		m.extra++
		return
	}
	m.violations = append(m.violations, fmt.Sprintf(format, args...))
}

func (m *measure) finding(s string) { m.findings = append(m.findings, s) }

func (m *measure) sent(t messaging.Type) { m.msgTypes[t.String()]++ }

// afterFault is called after each scenario event.
func (m *measure) afterFault(e *engine, ev Event, nodes []int) {
	if ev.Kind == KindCrash {
		for _, i := range nodes {
			m.startDetection(e, e.nodes[i])
		}
	}
	if ev.Kind != KindSet {
		m.markClean(e, ev.Round)
	}
}

// beforeDown: n stops being live (crash or pause).
func (m *measure) beforeDown(e *engine, n *simNode) {
	if !n.live() {
		return
	}
	m.liveN--
	for _, list := range m.pending {
		for _, u := range list {
			if u.informed[n.idx] {
				u.have--
			}
		}
	}
	for _, d := range m.detections {
		if d.need[n.idx] {
			d.need[n.idx] = false
			d.left--
		}
	}
	m.recheck(e)
}

// resumed: n's pause is over; it counts as live again.
func (m *measure) resumed(e *engine, n *simNode) {
	m.liveN++
	for _, list := range m.pending {
		for _, u := range list {
			if u.informed[n.idx] {
				u.have++
			}
		}
	}
	if !n.paused {
		m.markClean(e, int(e.now/e.sc.Interval))
	}
}

// restarted: n runs again as a new incarnation that knows nothing yet.
func (m *measure) restarted(e *engine, n *simNode) {
	m.liveN++
	for _, list := range m.pending {
		for _, u := range list {
			u.informed[n.idx] = false
		}
	}
	if n.idx < m.watched {
		clear(m.hw[n.idx])
	}
	delete(m.gone, n.idx)
	for i := 0; i < len(m.detections); i++ {
		if d := m.detections[i]; d.node == n.idx {
			m.detections = append(m.detections[:i], m.detections[i+1:]...)
			i--
		}
	}
}

// markGone records that n was shut down or removed at generation gen.
func (m *measure) markGone(e *engine, n *simNode, gen int64) {
	m.gone[n.idx] = goneNode{gen: gen, round: e.round}
}

// startDetection follows crashed node c until every live node that sees
// it up has marked it down.
func (m *measure) startDetection(e *engine, c *simNode) {
	if c.up {
		return
	}
	d := &detection{node: c.idx, inc: c.inc, at: e.now, need: make([]bool, len(e.nodes))}
	for _, o := range e.nodes {
		if o.live() {
			if v, ok := o.core.EndpointVersion(c.id); ok && v.Up {
				d.need[o.idx] = true
				d.left++
			}
		}
	}
	if m.phiTarget < 0 {
		m.setPhiTarget(c.idx, e.now)
	}
	if d.left > 0 {
		m.detections = append(m.detections, d)
	}
}

// follows reports whether the measurements need the version of endpoint
// ep at a node that reports a change to it (an update of ep is pending).
// Workers read it during a window, when nothing changes it: updates start
// at barriers.
func (m *measure) follows(e *engine, ep string) bool {
	j, known := e.byID[ep]
	return known && len(m.pending[j]) > 0
}

// onEvent follows one event of node o's core; v, if not nil, is the
// version of the event's endpoint at o right after the event (otherwise
// it is read from o's core).
func (m *measure) onEvent(e *engine, o *simNode, ev core.Event, v *core.EndpointVersion) {
	j, known := e.byID[ev.Endpoint]
	if !known {
		return
	}
	switch ev.Kind {
	case core.EventJoin, core.EventRestart, core.EventChange:
		if list := m.pending[j]; len(list) > 0 {
			if v == nil {
				ver, _ := o.core.EndpointVersion(ev.Endpoint)
				v = &ver
			}
			informed := false
			for _, u := range list {
				if covers(*v, u) && !u.informed[o.idx] {
					m.informAt(e, u, o)
					informed = true
				}
			}
			if informed {
				m.recheck(e)
			}
		}
	case core.EventDead:
		m.onDead(e, o, j, ev)
	case core.EventRemove:
		if o.idx < m.watched {
			m.hw[o.idx][j].removed = true
		}
	}
}

// onDead follows a dead event about node j at observer o: detection, and
// whether a conviction was false.
func (m *measure) onDead(e *engine, o *simNode, j int, ev core.Event) {
	for i := 0; i < len(m.detections); i++ {
		d := m.detections[i]
		if d.node != j || !d.need[o.idx] {
			continue
		}
		d.need[o.idx] = false
		if d.left--; d.left == 0 {
			m.detectRounds = append(m.detectRounds, float64(e.now-d.at)/float64(e.sc.Interval))
			if j == m.phiTarget && m.phiUntil < 0 {
				m.phiUntil = e.now + 5*e.sc.Interval
			}
			m.detections = append(m.detections[:i], m.detections[i+1:]...)
			i--
		}
	}
	if ev.Reason != "convicted" {
		return
	}
	m.convictions++
	t := e.nodes[j]
	if !t.live() || e.separated(o.idx, j) {
		return
	}
	m.falseConvictions++
	// Clean: no loss, partition or block for ConvergeBound rounds (a
	// silence that began before a heal may still convict just after it),
	// and neither node slow. A pause or a clock jump leaves the network
	// clean: the failure detector's local-pause guard must absorb them.
	grace := time.Duration(m.bound) * e.sc.Interval
	if !e.netDirty && e.now-e.cleanSince >= grace && t.slow == 0 && o.slow == 0 {
		m.violate("round %d: false conviction on a clean network: %s convicted %s (running, reachable) at phi %.2f", e.round, o.id, t.id, ev.Phi)
	}
}

// tracing reports whether observer o's tick at virtual time at may be
// traced: the phi to record, if tracePhi keeps it. It reads what only
// barriers change (the target is set when a crash starts its detection),
// so workers call it during a window; phiUntil, set when a detection
// ends, is always ahead of the window.
func (m *measure) tracing(o *simNode, at time.Duration) bool {
	return m.phiTarget >= 0 && o.idx == m.phiObs && at >= m.phiFrom
}

// tracePhi records the phi of the traced node read at an observer's tick
// (r.traced, see tracing).
func (m *measure) tracePhi(e *engine, r rec) {
	if !r.traced || m.phiUntil >= 0 && e.now > m.phiUntil || len(m.trace) >= maxTrace {
		return
	}
	m.trace = append(m.trace, PhiSample{Time: e.now, Phi: r.phi})
}

// endRound closes round r.
func (m *measure) endRound(e *engine, r int) {
	for _, n := range e.nodes {
		if n.up || n.sentB > 0 {
			b := float64(n.sentB)
			m.bytesSum += b
			m.bytesMax = max(m.bytesMax, b)
			m.msgsSum += float64(n.sentMsgs)
			m.nodeRounds++
		}
		n.sentB, n.sentMsgs = 0, 0
	}
	m.peak = max(m.peak, heapBytes())
	m.sweep(e)
	m.checkViews(e, r)
	if m.checkAt > 0 && r > m.faultEnd && r <= m.checkAt {
		m.checkConverged(e, r)
	}
	if r == e.sc.Rounds {
		m.conv = m.converged(e)
	}
	if e.opt.Progress != nil {
		e.opt.Progress(Progress{Round: r, Rounds: e.sc.Rounds, Converged: m.informedAll(e), Nodes: m.liveN, Elapsed: wallSince(m.wallStart)})
	}
}

// report builds the run's Report.
func (m *measure) report(e *engine) Report {
	r := Report{Nodes: e.sc.Nodes, Seed: e.sc.Seed, Rounds: e.round,
		RoundsToConverge: quantiles(m.rtc), Updates: len(m.updates),
		FalseConvictions: m.falseConvictions, Convictions: m.convictions,
		DetectionRounds: quantiles(m.detectRounds), PeakMemoryBytes: m.peak,
		Converged: m.conv, ConvergeBound: m.bound, RecoveryRounds: m.recovery, QuietRounds: m.quiet,
		Violations: m.violations, Findings: m.findings, Messages: m.msgTypes, PhiTrace: m.trace}
	if r.Violations == nil {
		r.Violations = []string{}
	}
	if m.extra > 0 {
		r.Violations = append(r.Violations, fmt.Sprintf("and %d more violations", m.extra))
	}
	for _, u := range m.updates {
		if !u.done {
			r.UpdatesUnconverged++
		}
	}
	if m.nodeRounds > 0 {
		r.BytesPerNodePerRound = Mean{Mean: m.bytesSum / m.nodeRounds, Max: m.bytesMax}
		r.MessagesPerNodePerRound = m.msgsSum / m.nodeRounds
	}
	r.Spread = m.spread(e)
	if r.Spread == nil {
		r.Spread = []float64{}
	}
	if r.PhiTrace == nil {
		r.PhiTrace = []PhiSample{}
	}
	return r
}
