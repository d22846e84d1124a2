package failuredetector

import "time"

// Tracker is one endpoint's failure-detector state, held by the caller
// instead of the Detector's own table: a caller that keeps a record per
// endpoint anyway (the gossiper core) embeds a Tracker in it, so an
// endpoint costs one allocation and one map entry rather than two. The
// methods taking a Tracker behave as those taking an endpoint name; the
// Detector lists a reported Tracker for Tick, Overdue and Snapshot until
// Untrack, and the two kinds can be mixed in one Detector (an endpoint
// must be known through one kind only).
//
// The zero value is an endpoint not yet reported. A reported Tracker must
// not be copied or dropped: call Untrack before the record holding it is
// forgotten (the Detector keeps a pointer to it).
type Tracker struct {
	p peer
}

// SetNumber names t by the caller's number i (below 2³²−1) instead of a
// name: in a Detector that was given the names of the numbers (SetNames),
// ReportTracker keeps no name for t, and Overdue and Snapshot name it
// by the numbers' names. A caller that numbers its endpoints anyway (the
// gossiper core over a shared endpointstate.IDTable) keeps a Tracker of
// no pointer and no name of its own per endpoint. The number stays with t
// when it is untracked; set it before t's first report.
func (t *Tracker) SetNumber(i uint32) { t.p.number = i + 1 }

// SetNames gives d the name of each number a Tracker may be given with
// SetNumber; name must return the same name for a number while a Tracker
// of that number is reported (until Untrack). Call it before the first
// report.
func (d *Detector) SetNames(name func(number uint32) string) { d.name = name }

// ReportTracker is Report for the endpoint named endpoint whose state is
// t. Its first report lists t; endpoint is the name Overdue and Snapshot
// give it, unless t is numbered (SetNumber) and d names the numbers
// (SetNames).
func (d *Detector) ReportTracker(t *Tracker, endpoint string, at time.Time) {
	d.report(&t.p, endpoint, at)
}

// Untrack is Remove for t: the Detector forgets it, and its next report
// starts afresh. Untracking a Tracker never reported does nothing.
func (d *Detector) Untrack(t *Tracker) { d.unlist(&t.p) }

// PhiTracker is Phi for t.
func (d *Detector) PhiTracker(t *Tracker, now time.Time) float64 { return d.phi(&t.p, now) }

// InterpretTracker is Interpret for t (a Tick at now included).
func (d *Detector) InterpretTracker(t *Tracker, now time.Time) bool {
	return d.interpret(&t.p, now)
}

// WindowTracker is Window for t.
func (d *Detector) WindowTracker(t *Tracker, now time.Time) (WindowView, bool) {
	return d.window(&t.p, now)
}

// StatsTracker returns t's statistics as Snapshot shows them, and false
// if t was never reported.
func (d *Detector) StatsTracker(t *Tracker, now time.Time) (EndpointStats, bool) {
	if t.p.pos == 0 {
		return EndpointStats{}, false
	}
	return d.stats(&t.p, now), true
}

// LastTracker returns the last heartbeat arrival t accepted (its latest
// report), and false if t is not tracked (never reported, or untracked
// since).
func (d *Detector) LastTracker(t *Tracker) (time.Time, bool) {
	if t.p.pos == 0 {
		return time.Time{}, false
	}
	return d.base.Add(t.p.last), true
}
