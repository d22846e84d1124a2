package failuredetector

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Detector is a phi-accrual failure detector for many endpoints: it keeps
// interval statistics (see Estimator) and a last-arrival time per
// endpoint, turns silence
// into phi with the configured Model, and decides conviction with the
// threshold. It is Cassandra's FailureDetector without the clock, the
// listeners and the logging, and with a local-pause guard that discounts
// the local node's own stalls from every peer's silence (see Tick) instead
// of blocking every conviction.
//
// A Detector is not safe for concurrent use: the gossip loop owns it, and
// readers on other goroutines should get a Snapshot published by that loop.
// Every method takes the time it needs as an argument and never reads the
// clock; the times must come from one monotonic source.
type Detector struct {
	cfg   Config
	peers map[string]*peer
	// all lists the peers densely, for the scans of Tick and Overdue;
	// peer.pos is each one's index.
	all []*peer
	// names holds, beside all, the name of each peer reported by name
	// (Report, ReportTracker), and "" for a numbered Tracker's; nil while
	// every listed peer is numbered (see Tracker.SetNumber), so a caller
	// naming its endpoints by number pays nothing per peer here. wins
	// holds, beside all, each peer's window under Sliding; nil under
	// Decaying. Neither is in the peer: a record without them is 24 bytes
	// smaller and holds no pointer.
	names []string
	wins  []*ArrivalWindow
	// name names the numbered Trackers (see SetNames).
	name func(number uint32) string
	// safeZ is, for Normal and Akka, the standardized silence
	// (t − μ′)/σ′ up to which phi stays below PhiConvictThreshold; see
	// peer.safe.
	safeZ float64
	// base is the time of the first report: peers' deadlines are offsets
	// from it, so Overdue compares integers.
	base  time.Time
	based bool

	// Local-pause guard state (see Tick).
	lastTick time.Time     // time of the previous Tick or Interpret call
	ticked   bool          // whether lastTick is set
	stalled  time.Duration // local stall time discounted so far, in total
	pauses   uint64        // local pauses detected
	deferred uint64        // convictions deferred, once per peer and pause

	// recent holds the last intervals of the endpoints under Decaying
	// statistics whose window was read (see Detector.watch); watched
	// lists them, least recently read first, at most maxWatched.
	recent  map[*peer]*recent
	watched []*peer
}

// peer is what the Detector knows about one endpoint.
type peer struct {
	// deadline is last plus the silence up to which phi is surely at most
	// PhiConvictThreshold (see Detector.safe), as an offset from
	// Detector.base: Overdue passes over the peer until then without
	// evaluating phi. Recomputed whenever last or the window changes.
	deadline time.Duration
	// decay holds the statistics under Decaying (its count is n, below,
	// so that it packs with the other 32-bit fields).
	decay decaying
	// last is the last accepted heartbeat arrival, as an offset from
	// Detector.base (8 bytes rather than a time.Time's 24).
	last time.Duration
	// stalledAt is the Detector's stalled total when last was set: the
	// local stall since then, stalled − stalledAt, is not the peer's
	// silence.
	stalledAt time.Duration
	// deferredIn is the pause count (its low 32 bits, so that the record
	// packs in 128 bytes) when a conviction of the peer was last deferred,
	// so each pause counts a peer once.
	deferredIn uint32
	pos        int32 // index in Detector.all plus 1; 0 before the first report
	// n counts the intervals decay holds, saturating.
	n uint32
	// number is the caller's number for a numbered Tracker, plus 1 (see
	// Tracker.SetNumber); 0 for a peer named in Detector.names. Kept when
	// the peer is untracked.
	number uint32
}

// PauseStats are the local-pause guard's running totals.
type PauseStats struct {
	// Pauses counts gaps between calls of Tick (or Interpret) longer than
	// MaxLocalPause.
	Pauses uint64
	// Stalled is the total local stall discounted from peers' silence: the
	// sum, over the pauses, of each gap's excess over MaxLocalPause.
	Stalled time.Duration
	// Deferred counts convictions deferred by the discount, once per peer
	// and pause: the peer's phi was over the threshold with its silence
	// counted in full, and not with the local stall discounted.
	Deferred uint64
}

// EndpointStats is a read-only view of one endpoint, for display and
// export (nodetool failuredetector, metrics, JSON).
type EndpointStats struct {
	// Endpoint is the endpoint's name, as passed to Report.
	Endpoint string
	// Phi is the endpoint's phi at the snapshot time, clamped with
	// ClampPhi to [0, MaxPhi] so that it is always finite.
	Phi float64
	// Mean is the mean of the intervals (weighted, under Decaying),
	// rounded to 1 ns.
	Mean time.Duration
	// StdDev is the population standard deviation of the intervals in the
	// window, rounded to 1 ns, before the MinStdDev floor is applied.
	StdDev time.Duration
	// Samples is the number of intervals the statistics reflect, synthetic
	// bootstrap intervals included: those in the window under Sliding;
	// those added, up to WindowSize, under Decaying.
	Samples int
	// LastArrival is the time of the last accepted heartbeat.
	LastArrival time.Time
}

// NewDetector returns a Detector with no endpoints, or the error of
// cfg.Validate, unwrapped: each of its lines already names the package, the
// field, its value and the rule, and stays readable when a caller's own
// Validate joins it with others.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, peers: make(map[string]*peer), safeZ: safeZ(cfg)}, nil
}

// safeZ returns the standardized silence z up to which the Normal or
// Akka phi stays at most a millionth below cfg's threshold, found by
// bisection once per Detector; −Inf (no fast path) if none is found.
// Both phis grow with z, so every z below it is safe too.
func safeZ(cfg Config) float64 {
	var phi func(z float64) float64
	switch cfg.Model {
	case Normal:
		phi = func(z float64) float64 { return phiNormal(z, 0, 1) }
	case Akka:
		phi = func(z float64) float64 { return phiAkka(z, 0, 1) }
	default:
		return math.Inf(-1)
	}
	target := cfg.PhiConvictThreshold * (1 - 1e-6)
	lo, hi := -50.0, 50+math.Sqrt(2*math.Ln10*cfg.PhiConvictThreshold)
	if phi(lo) > target || !(phi(hi) > target) {
		return math.Inf(-1)
	}
	for range 200 {
		mid := lo + (hi-lo)/2
		if phi(mid) <= target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// safe returns the silence, in nanoseconds, up to which p's phi is
// surely at most PhiConvictThreshold for its current window (a margin
// below the exact crossing), or −1 if there is no such silence.
func (d *Detector) safe(p *peer) float64 {
	var t float64
	switch d.cfg.Model {
	case Exponential:
		// phi = t/(mean·ln 10): at most the threshold, less a millionth,
		// up to this t.
		t = d.cfg.PhiConvictThreshold * (1 - 1e-6) * math.Ln10 * d.mean(p)
	default:
		t = d.mu(d.mean(p)) + d.sigma(p)*d.safeZ
	}
	if math.IsNaN(t) || t < 0 {
		return -1 // phi may be over the threshold after no silence at all
	}
	return t
}

// Config returns the configuration the Detector was built with.
func (d *Detector) Config() Config {
	return d.cfg
}

// Report records a heartbeat from endpoint arriving at at. In gossip terms
// that is the moment a newer heartbeat version of the endpoint is applied,
// whichever peer it came from.
//
// The first report of an endpoint (or the first after Remove) starts its
// window: Exponential pushes InitialInterval as a synthetic interval; Normal
// and Akka install the two-interval bootstrap history described on
// Config.InitialInterval. A later report adds the interval since the
// previous one, if the model learns it:
//
//   - Exponential learns intervals up to MaxInterval;
//   - Normal and Akka learn an interval only if the endpoint was still
//     considered available when the heartbeat arrived, that is if its phi
//     at at, before the interval is added, is below PhiConvictThreshold, so
//     the first heartbeat after an outage does not distort the statistics.
//
// The last-arrival time moves to at either way. A report at or before the
// endpoint's last arrival (a duplicate or out-of-order report) carries no
// timing information and is ignored entirely.
//
// The first report of an endpoint allocates its window, which then grows to
// WindowSize intervals; once it is full, Report does not allocate.
func (d *Detector) Report(endpoint string, at time.Time) {
	p := d.peers[endpoint]
	if p == nil {
		p = &peer{}
		d.peers[endpoint] = p
	}
	d.report(p, endpoint, at)
}

// report is Report for the endpoint whose record is p.
func (d *Detector) report(p *peer, endpoint string, at time.Time) {
	if p.pos == 0 {
		if !d.based {
			d.base, d.based = at, true
		}
		*p = peer{pos: int32(len(d.all)) + 1, last: at.Sub(d.base), stalledAt: d.stalled, number: p.number}
		d.list(p, endpoint)
		d.bootstrap(p)
		d.setDeadline(p)
		return
	}
	if d.sinceLast(p, at) <= 0 {
		return
	}
	if interval := d.silence(p, at); interval > 0 && d.learns(p, interval) {
		d.add(p, interval)
	}
	p.last, p.stalledAt = at.Sub(d.base), d.stalled
	d.setDeadline(p)
}

// list appends the new peer p, named endpoint unless it is numbered, to
// the scan list, with its window under Sliding.
func (d *Detector) list(p *peer, endpoint string) {
	if p.number != 0 && d.name != nil {
		endpoint = ""
	}
	if endpoint != "" && d.names == nil {
		d.names = make([]string, len(d.all), cap(d.all))
	}
	d.all = append(d.all, p)
	if d.names != nil {
		d.names = append(d.names, endpoint)
	}
	if d.cfg.Estimator == Sliding {
		d.wins = append(d.wins, NewArrivalWindow(d.cfg.WindowSize))
	}
}

// nameOf returns the listed peer p's endpoint name.
func (d *Detector) nameOf(p *peer) string {
	switch {
	case p.number != 0 && d.name != nil:
		return d.name(p.number - 1)
	case d.names != nil:
		return d.names[p.pos-1]
	}
	return ""
}

// win returns the listed peer p's window under Sliding, or nil.
func (d *Detector) win(p *peer) *ArrivalWindow {
	if d.wins == nil {
		return nil
	}
	return d.wins[p.pos-1]
}

// setDeadline recomputes p.deadline from p.last and p's window.
func (d *Detector) setDeadline(p *peer) {
	t := d.safe(p)
	if t < 0 {
		p.deadline = math.MinInt64
		return
	}
	since, safe := p.last, time.Duration(min(t, 1<<62))
	if since > math.MaxInt64-safe {
		p.deadline = math.MaxInt64 // saturated: about 292 years out
		return
	}
	p.deadline = since + safe
}

// silence is p's silence at now: the time since its last arrival, less the
// local stall detected since (never negative).
func (d *Detector) silence(p *peer, now time.Time) time.Duration {
	return max(d.sinceLast(p, now)-(d.stalled-p.stalledAt), 0)
}

// sinceLast is the time from p's last arrival to now, saturated as
// time.Time.Sub saturates.
func (d *Detector) sinceLast(p *peer, now time.Time) time.Duration {
	off := now.Sub(d.base)
	switch {
	case p.last < 0 && off > math.MaxInt64+p.last:
		return math.MaxInt64
	case p.last > 0 && off < math.MinInt64+p.last:
		return math.MinInt64
	}
	return off - p.last
}

// bootstrap fills a new peer's statistics with the model's synthetic
// history.
func (d *Detector) bootstrap(p *peer) {
	if d.cfg.Model == Exponential {
		d.add(p, d.cfg.InitialInterval)
		return
	}
	m := d.cfg.InitialInterval / 2
	d.add(p, m-m/4)
	d.add(p, m+m/4)
}

// add records one interval in p's statistics.
func (d *Detector) add(p *peer, interval time.Duration) {
	if w := d.win(p); w != nil {
		w.Add(interval)
		return
	}
	p.decay.add(&p.n, interval, d.cfg.WindowSize)
	if len(d.watched) > 0 {
		if r := d.recent[p]; r != nil {
			r.add(interval)
		}
	}
}

// mean is the mean interval of p's statistics, in nanoseconds.
func (d *Detector) mean(p *peer) float64 {
	if w := d.win(p); w != nil {
		return w.Mean()
	}
	return p.decay.mean
}

// stdDev is the standard deviation of p's statistics, in nanoseconds.
func (d *Detector) stdDev(p *peer) float64 {
	if w := d.win(p); w != nil {
		return w.StdDev()
	}
	return math.Sqrt(p.decay.variance)
}

// samples is the number of intervals p's statistics reflect.
func (d *Detector) samples(p *peer) int {
	if w := d.win(p); w != nil {
		return w.Len()
	}
	return p.decay.samples(p.n, d.cfg.WindowSize)
}

// intervals returns p's intervals for display, oldest first: its
// window's, or under Decaying statistics those kept since its window was
// first read (see Detector.watch).
func (d *Detector) intervals(p *peer) []time.Duration {
	if w := d.win(p); w != nil {
		return w.Intervals()
	}
	return d.watch(p).intervals()
}

// learns reports whether the model adds interval, which ends now, to p's
// window.
func (d *Detector) learns(p *peer, interval time.Duration) bool {
	if d.cfg.Model == Exponential {
		return interval <= d.cfg.MaxInterval
	}
	// Up to μ′ both normal models give phi ≤ log10 2 ≈ 0.301, so the usual
	// heartbeat, on time, is learned without evaluating phi.
	if float64(interval) <= d.mu(d.mean(p)) && d.cfg.PhiConvictThreshold >= 0.5 {
		return true
	}
	return d.phiAfter(p, interval) < d.cfg.PhiConvictThreshold
}

// Phi returns endpoint's phi at now: how suspicious its silence since the
// last heartbeat is, under the configured Model, the local stalls detected
// by Tick since then discounted. It is 0 for an endpoint that was never
// reported (or was removed); a now before the last arrival counts as no
// silence at all. It is never NaN or negative, and may be +Inf (use
// ClampPhi before exporting it).
func (d *Detector) Phi(endpoint string, now time.Time) float64 {
	return d.phi(d.peers[endpoint], now)
}

// phi is Phi for the record p (nil or not yet reported: 0).
func (d *Detector) phi(p *peer, now time.Time) float64 {
	if p == nil || p.pos == 0 {
		return 0
	}
	return d.phiAfter(p, d.silence(p, now))
}

// phiAfter returns p's phi after t of silence.
func (d *Detector) phiAfter(p *peer, t time.Duration) float64 {
	silence := float64(max(t, 0))
	mean := d.mean(p)
	switch d.cfg.Model {
	case Exponential:
		return phiExponential(silence, mean)
	case Normal:
		return phiNormal(silence, d.mu(mean), d.sigma(p))
	case Akka:
		return phiAkka(silence, d.mu(mean), d.sigma(p))
	default:
		return 0
	}
}

// mu is the mean of the normal models: the window mean plus AcceptablePause.
func (d *Detector) mu(mean float64) float64 {
	return mean + float64(d.cfg.AcceptablePause)
}

// sigma is the standard deviation of the normal models: the window's, but
// at least MinStdDev.
func (d *Detector) sigma(p *peer) float64 {
	return math.Max(d.stdDev(p), float64(d.cfg.MinStdDev))
}

// Interpret reports whether endpoint should be convicted at now: whether its
// phi (see Phi: local stalls discounted) is above PhiConvictThreshold. It is
// false for an unknown endpoint. Every call is also a Tick at now, so a
// caller that interprets every round needs no separate Tick.
//
// A conviction that only the discount prevents (phi over the threshold
// with the silence counted in full) is counted in PauseStats.Deferred, once
// per endpoint and pause.
func (d *Detector) Interpret(endpoint string, now time.Time) bool {
	return d.interpret(d.peers[endpoint], now)
}

// interpret is Interpret for the record p (nil or not yet reported: false).
func (d *Detector) interpret(p *peer, now time.Time) bool {
	d.Tick(now)
	if p == nil || p.pos == 0 {
		return false
	}
	if d.phiAfter(p, d.silence(p, now)) > d.cfg.PhiConvictThreshold {
		return true
	}
	if p.deferredIn != uint32(d.pauses) && d.phiAfter(p, d.sinceLast(p, now)) > d.cfg.PhiConvictThreshold {
		p.deferredIn = uint32(d.pauses)
		d.deferred++
	}
	return false
}

// Tick is the local-pause guard: call it every round of the local loop
// (Interpret calls it too). If more than MaxLocalPause passed since the
// previous call, the local process was most likely stalled (a long GC, a
// suspended VM, memory thrashing) and every peer's silence during the gap
// is partly its own: the gap's excess over MaxLocalPause is discounted from
// the silence of every peer not heard during the gap (a peer heard within
// MaxLocalPause of the previous call counts as not heard: that may have
// been before the stall), and Tick returns it
// (0 when there was no pause). Unlike Cassandra's guard, which convicts
// nobody for MaxLocalPause after a pause and so never convicts while
// pauses recur, a peer's discounted silence still grows by at least
// MaxLocalPause per gap: a dead peer is convicted however often the local
// process stalls. The first call detects no pause; a clock going backwards
// is not a pause. A MaxLocalPause of 0 disables the guard.
func (d *Detector) Tick(now time.Time) time.Duration {
	var excess time.Duration
	if limit := d.cfg.MaxLocalPause; limit > 0 && d.ticked && now.Sub(d.lastTick) > limit {
		excess = now.Sub(d.lastTick) - limit
		// A peer heard more than limit after the previous call was heard
		// after the stall began: its silence is its own. One heard sooner
		// may have been heard before the stall (a round's answers arrive
		// just after it), and its silence spans the stall: discounted.
		heard := d.lastTick.Add(limit)
		for _, p := range d.all {
			if p.last > heard.Sub(d.base) {
				p.stalledAt += excess
			}
		}
		d.stalled += excess
		d.pauses++
	}
	if !d.ticked || now.After(d.lastTick) {
		d.lastTick, d.ticked = now, true
	}
	return excess
}

// PauseStats returns the local-pause guard's running totals.
func (d *Detector) PauseStats() PauseStats {
	return PauseStats{Pauses: d.pauses, Stalled: d.stalled, Deferred: d.deferred}
}

// Remove forgets endpoint: its window and last arrival. Its next Report
// starts afresh, as for a new endpoint. Removing an unknown endpoint does
// nothing.
func (d *Detector) Remove(endpoint string) {
	p, ok := d.peers[endpoint]
	if !ok {
		return
	}
	delete(d.peers, endpoint)
	d.unlist(p)
}

// unlist takes p off the scan list and clears it, so that its next
// report starts afresh.
func (d *Detector) unlist(p *peer) {
	if p.pos == 0 {
		return
	}
	i, last := p.pos-1, len(d.all)-1
	d.all[i] = d.all[last]
	d.all[i].pos = i + 1
	d.all[last] = nil
	d.all = d.all[:last]
	if d.names != nil {
		d.names[i] = d.names[last]
		d.names[last] = ""
		d.names = d.names[:last]
	}
	if d.wins != nil {
		d.wins[i] = d.wins[last]
		d.wins[last] = nil
		d.wins = d.wins[:last]
	}
	d.unwatch(p)
	*p = peer{number: p.number}
}

// Overdue appends to buf, and returns, the endpoints whose phi at now may
// be above PhiConvictThreshold, in no particular order: every endpoint
// Interpret would convict at now, and every one whose conviction only the
// local-pause discount defers, plus possibly a few just below the
// threshold. It evaluates no phi for the others (a comparison each, with
// a bound computed when their windows last changed), so a caller that
// checks every endpoint each round can call Interpret on these alone.
// It changes nothing.
func (d *Detector) Overdue(now time.Time, buf []string) []string {
	off := now.Sub(d.base)
	for _, p := range d.all {
		if off > p.deadline {
			buf = append(buf, d.nameOf(p))
		}
	}
	return buf
}

// Snapshot returns the state of every known endpoint at now, sorted by
// endpoint, with phi clamped to [0, MaxPhi]. It does not change the
// Detector (in particular it does not count as an Interpret call).
func (d *Detector) Snapshot(now time.Time) []EndpointStats {
	out := make([]EndpointStats, 0, len(d.all))
	for _, p := range d.all {
		out = append(out, d.stats(p, now))
	}
	slices.SortFunc(out, func(a, b EndpointStats) int {
		return cmp.Compare(a.Endpoint, b.Endpoint)
	})
	return out
}

// stats returns the reported record p's EndpointStats at now.
func (d *Detector) stats(p *peer, now time.Time) EndpointStats {
	return EndpointStats{
		Endpoint:    d.nameOf(p),
		Phi:         ClampPhi(d.phiAfter(p, d.silence(p, now))),
		Mean:        nanos(d.mean(p)),
		StdDev:      nanos(d.stdDev(p)),
		Samples:     d.samples(p),
		LastArrival: d.base.Add(p.last),
	}
}

// nanos rounds a statistic in float64 nanoseconds to a Duration. Window
// statistics are at most 2^53 ns, well inside the range of Duration.
func nanos(ns float64) time.Duration {
	return time.Duration(math.Round(ns))
}
