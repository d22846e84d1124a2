package sim

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging"
)

// update is one application-state change whose spread is followed.
type update struct {
	ep       int // the node that made it
	gen, ver int64
	at       time.Duration
	informed []bool
	have     int   // live nodes informed
	need0    int   // live nodes when it was made
	buckets  []int // nodes informed k rounds after it was made
	done     bool
}

// detection follows one crashed node until every live node that saw it up
// has marked it down.
type detection struct {
	node int
	inc  int
	at   time.Duration
	need []bool
	left int
}

// hwMark is the highest (generation, max version) an observer held of an
// endpoint, and whether it removed it since.
type hwMark struct {
	gen, ver int64
	removed  bool
}

// goneNode is a node shut down or removed, at generation gen, in round
// round: no live node may hold it up (or running) at that generation
// again once the news had time to spread.
type goneNode struct {
	gen   int64
	round int
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
	buf      []gossiper.EndpointVersion
	gone     map[int]goneNode
	flagged  map[[2]int]bool
	checkAt  int // last round of the post-fault convergence check (0: none)
	faultEnd int
	recovery int                        // rounds from faultEnd to convergence; -1 if not within the bound
	target   []gossiper.EndpointVersion // per endpoint, at faultEnd
	hasTgt   []bool
	conv     bool

	phiTarget, phiObs int
	phiFrom, phiUntil time.Duration
	trace             []PhiSample

	wallStart time.Time
}

// maxTrace bounds Report.PhiTrace.
const maxTrace = 100_000

func newMeasure(e *engine) *measure {
	n := len(e.nodes)
	bound := int(math.Ceil(2*math.Log(float64(n))/math.Log(3))) + 5
	m := &measure{bound: bound, quiet: min(bound, e.sc.Rounds/2), liveN: n,
		pending: make([][]*update, n), msgTypes: map[string]int{},
		watched: min(n, max(32, 1_000_000/n)), gone: map[int]goneNode{}, flagged: map[[2]int]bool{},
		phiTarget: -1, phiUntil: -1, recovery: -1, wallStart: wallNow()}
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

// clean reports whether nothing disturbs the cluster now: no loss, no
// partition or block, no slow or paused node.
func (e *engine) clean() bool {
	if e.loss > 0 || e.faulty {
		return false
	}
	for _, n := range e.nodes {
		if n.up && (n.paused || n.slow > 0) {
			return false
		}
	}
	return true
}

// markClean notes that faults may have stopped at round r: if the cluster
// is clean, what the live nodes hold now must reach every live node within
// the bound.
func (m *measure) markClean(e *engine, r int) {
	m.checkAt = 0
	if !e.clean() {
		return
	}
	n := len(e.nodes)
	m.target, m.hasTgt = make([]gossiper.EndpointVersion, n), make([]bool, n)
	for _, o := range e.nodes[:m.watched] {
		if !o.live() {
			continue
		}
		m.buf = o.core.EndpointVersions(m.buf[:0])
		for _, v := range m.buf {
			j, ok := e.byID[v.ID]
			if ok && (!m.hasTgt[j] || newer(v, m.target[j])) {
				m.target[j], m.hasTgt[j] = v, true
			}
		}
	}
	m.faultEnd, m.checkAt, m.recovery = r, r+m.bound, -1
}

// newer reports whether a holds a later state of its endpoint than b.
func newer(a, b gossiper.EndpointVersion) bool {
	return a.Generation > b.Generation || a.Generation == b.Generation && a.StatesVersion > b.StatesVersion
}

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

// gone records that n was shut down or removed at generation gen.
func (m *measure) markGone(e *engine, n *simNode, gen int64) {
	m.gone[n.idx] = goneNode{gen: gen, round: e.round}
}

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

// updated registers the update n just made.
func (m *measure) updated(e *engine, n *simNode) {
	v, _ := n.core.EndpointVersion(n.id)
	u := &update{ep: n.idx, gen: v.Generation, ver: v.StatesVersion, at: e.now,
		informed: make([]bool, len(e.nodes)), need0: m.liveN}
	m.updates = append(m.updates, u)
	m.pending[n.idx] = append(m.pending[n.idx], u)
	m.inform(u, n)
	m.recheck(e)
}

// maybeUpdate makes round r's update, if one is due.
func (m *measure) maybeUpdate(e *engine, r int) {
	every := e.sc.UpdateEvery
	if every == 0 {
		every = 5
	}
	if every < 0 || r%every != 0 || r >= e.sc.Rounds-m.quiet {
		return
	}
	var live []*simNode
	for _, n := range e.nodes {
		if n.live() && n.core.Running() {
			live = append(live, n)
		}
	}
	if len(live) == 0 {
		return
	}
	n := live[e.rng.IntN(len(live))]
	e.set1(n, "sim.update", fmt.Sprintf("r%d", r))
}

func covers(v gossiper.EndpointVersion, u *update) bool {
	return v.Generation > u.gen || v.Generation == u.gen && v.StatesVersion >= u.ver
}

// inform marks o informed of u now.
func (m *measure) inform(u *update, o *simNode) {
	if u.informed[o.idx] || u.done {
		return
	}
	u.informed[o.idx] = true
	if o.live() {
		u.have++
	}
}

func (m *measure) informAt(e *engine, u *update, o *simNode) {
	if u.informed[o.idx] || u.done {
		return
	}
	m.inform(u, o)
	k := int(math.Ceil(float64(e.now-u.at) / float64(e.sc.Interval)))
	for len(u.buckets) <= k {
		u.buckets = append(u.buckets, 0)
	}
	u.buckets[k]++
}

// recheck completes the updates every live node now holds.
func (m *measure) recheck(e *engine) {
	for ep, list := range m.pending {
		for i := 0; i < len(list); i++ {
			u := list[i]
			if u.have >= m.liveN {
				u.done = true
				m.rtc = append(m.rtc, float64(e.now-u.at)/float64(e.sc.Interval))
				list = append(list[:i], list[i+1:]...)
				i--
			}
		}
		m.pending[ep] = list
	}
}

// onEvent follows one event of node o's core.
func (m *measure) onEvent(e *engine, o *simNode, ev gossiper.Event) {
	j, known := e.byID[ev.Endpoint]
	if !known {
		return
	}
	switch ev.Kind {
	case gossiper.EventJoin, gossiper.EventRestart, gossiper.EventChange:
		if list := m.pending[j]; len(list) > 0 {
			v, _ := o.core.EndpointVersion(ev.Endpoint)
			informed := false
			for _, u := range list {
				if covers(v, u) && !u.informed[o.idx] {
					m.informAt(e, u, o)
					informed = true
				}
			}
			if informed {
				m.recheck(e)
			}
		}
	case gossiper.EventDead:
		m.onDead(e, o, j, ev)
	case gossiper.EventRemove:
		if o.idx < m.watched {
			m.hw[o.idx][j].removed = true
		}
	}
}

func (m *measure) onDead(e *engine, o *simNode, j int, ev gossiper.Event) {
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

// tracePhi records the phi of the traced node at observer o's tick.
func (m *measure) tracePhi(e *engine, o *simNode, now time.Time) {
	if m.phiTarget < 0 || o.idx != m.phiObs || e.now < m.phiFrom || m.phiUntil >= 0 && e.now > m.phiUntil || len(m.trace) >= maxTrace {
		return
	}
	m.trace = append(m.trace, PhiSample{Time: e.now, Phi: o.core.Phi(e.nodes[m.phiTarget].id, now)})
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

// sweep catches informed nodes no event reported (a shadow round's
// state, for one).
func (m *measure) sweep(e *engine) {
	any := false
	for ep, list := range m.pending {
		for _, u := range list {
			for _, o := range e.nodes {
				if o.live() && !u.informed[o.idx] {
					if v, ok := o.core.EndpointVersion(e.nodes[ep].id); ok && covers(v, u) {
						m.informAt(e, u, o)
						any = true
					}
				}
			}
		}
	}
	if any {
		m.recheck(e)
	}
}

// informedAll counts the live nodes that hold every pending update.
func (m *measure) informedAll(e *engine) int {
	count := 0
	for _, o := range e.nodes {
		if !o.live() {
			continue
		}
		ok := true
		for _, list := range m.pending {
			for _, u := range list {
				ok = ok && u.informed[o.idx]
			}
		}
		if ok {
			count++
		}
	}
	return count
}

// checkViews checks, at the watched observers, that no endpoint went back
// to an older (generation, version), and that no shut-down or removed node
// is held up or running again.
func (m *measure) checkViews(e *engine, r int) {
	for _, o := range e.nodes[:m.watched] {
		if !o.up {
			continue
		}
		m.buf = o.core.EndpointVersions(m.buf[:0])
		row := m.hw[o.idx]
		for _, v := range m.buf {
			j, ok := e.byID[v.ID]
			if !ok {
				continue
			}
			h := &row[j]
			older := v.Generation < h.gen || v.Generation == h.gen && v.MaxVersion < h.ver
			switch {
			case h.removed && older:
				m.violate("round %d: %s holds %s again at (%d, %d) after removing it at (%d, %d): a removed node resurrected (known finding, see doc.go)", r, o.id, v.ID, v.Generation, v.MaxVersion, h.gen, h.ver)
			case older:
				m.violate("round %d: %s went back from (%d, %d) to (%d, %d) for %s", r, o.id, h.gen, h.ver, v.Generation, v.MaxVersion, v.ID)
			}
			*h = hwMark{gen: v.Generation, ver: v.MaxVersion}
		}
		for _, j := range slices.Sorted(maps.Keys(m.gone)) {
			g := m.gone[j]
			if r < g.round+m.bound || m.flagged[[2]int{o.idx, j}] {
				continue
			}
			if v, ok := o.core.EndpointVersion(e.nodes[j].id); ok && v.Generation <= g.gen && (v.Up || v.Status == endpointstate.StatusNormal) {
				m.flagged[[2]int{o.idx, j}] = true
				m.violate("round %d: %s holds %s %s at generation %d, %d rounds after it was shut down or removed at generation %d: resurrected", r, o.id, v.ID, map[bool]string{true: "up", false: "running"}[v.Up], v.Generation, r-g.round, g.gen)
			}
		}
	}
}

// checkConverged checks, each round after faults stopped until it holds
// (or the bound passes: a violation), that every live watched node holds
// what the live nodes held then.
func (m *measure) checkConverged(e *engine, r int) {
	var bad []string
	behind := 0
	for _, o := range e.nodes[:m.watched] {
		if !o.live() {
			continue
		}
		for j, want := range m.target {
			if !m.hasTgt[j] || want.Status == endpointstate.StatusLeft {
				continue
			}
			if v, ok := o.core.EndpointVersion(want.ID); !ok || newer(want, v) {
				if behind++; len(bad) < 3 && r == m.checkAt {
					bad = append(bad, fmt.Sprintf("%s holds %s at (%d, %d), want (%d, %d)", o.id, want.ID, v.Generation, v.StatesVersion, want.Generation, want.StatesVersion))
				}
			}
		}
	}
	switch {
	case behind == 0:
		m.recovery, m.checkAt = r-m.faultEnd, 0
	case r == m.checkAt:
		m.recovery = -1
		m.violate("round %d: not converged %d rounds (2·log₃N + 5) after faults stopped at round %d: %d endpoint views behind, e.g. %v", r, m.bound, m.faultEnd, behind, bad)
	}
}

// converged reports whether the live watched nodes hold the same
// endpoints, generations and application states.
func (m *measure) converged(e *engine) bool {
	var ref []gossiper.EndpointVersion
	for _, o := range e.nodes[:m.watched] {
		if !o.live() {
			continue
		}
		m.buf = o.core.EndpointVersions(m.buf[:0])
		if ref == nil {
			ref = append([]gossiper.EndpointVersion(nil), m.buf...)
			continue
		}
		if len(ref) != len(m.buf) {
			return false
		}
		for i, v := range m.buf {
			w := ref[i]
			if v.ID != w.ID || v.Generation != w.Generation || v.StatesVersion != w.StatesVersion {
				return false
			}
		}
	}
	return true
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
	return r
}

// spread is the mean fraction of live nodes informed k rounds after an
// update, over the updates whose k-th round ended within the run.
func (m *measure) spread(e *engine) []float64 {
	kmax := 0
	for _, u := range m.updates {
		kmax = max(kmax, len(u.buckets))
	}
	kmax = min(kmax, 200)
	end := time.Duration(e.round) * e.sc.Interval
	var out []float64
	for k := range kmax {
		sum, count := 0.0, 0
		for _, u := range m.updates {
			if u.at+time.Duration(k)*e.sc.Interval > end || u.need0 == 0 {
				continue
			}
			informed := 1 // the node that made it
			for i := 1; i <= k && i < len(u.buckets); i++ {
				informed += u.buckets[i]
			}
			if len(u.buckets) > 0 {
				informed += u.buckets[0]
			}
			sum += min(1, float64(informed)/float64(u.need0))
			count++
		}
		if count > 0 {
			out = append(out, sum/float64(count))
		}
	}
	return out
}
