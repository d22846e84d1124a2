package failuredetector

import (
	"math"
	"slices"
	"time"
)

// recentIntervals is how many intervals the Detector keeps, for display,
// of an endpoint under Decaying statistics whose window was read.
const recentIntervals = 8

// maxWatched is how many endpoints under Decaying statistics the Detector
// keeps recent intervals for: those whose window was read most recently.
const maxWatched = 64

// recent is the last intervals of one endpoint, in milliseconds
// (saturated at 65,535), a ring whose next slot is next; for display only.
type recent struct {
	ms   [recentIntervals]uint16
	next uint8
	n    uint8 // intervals held, up to recentIntervals
}

func (r *recent) add(interval time.Duration) {
	r.ms[r.next] = uint16(min(max(interval, 0)/time.Millisecond, math.MaxUint16))
	r.next = (r.next + 1) % recentIntervals
	r.n = min(r.n+1, recentIntervals)
}

// intervals returns the intervals held, oldest first, to the millisecond.
func (r *recent) intervals() []time.Duration {
	k := int(r.n)
	if k == 0 {
		return nil
	}
	out := make([]time.Duration, 0, k)
	start := (int(r.next) - k + recentIntervals) % recentIntervals
	for i := range k {
		out = append(out, time.Duration(r.ms[(start+i)%recentIntervals])*time.Millisecond)
	}
	return out
}

// watch returns p's recent intervals, keeping them from now on if they
// were not kept (the least recently watched endpoint's dropped beyond
// maxWatched). Under Decaying statistics a peer's record holds only the
// running estimate: the few endpoints someone looks at get their last
// intervals here, beside the records.
func (d *Detector) watch(p *peer) *recent {
	if i := slices.Index(d.watched, p); i >= 0 {
		d.watched = append(slices.Delete(d.watched, i, i+1), p) // most recent last
		return d.recent[p]
	}
	if d.recent == nil {
		d.recent = map[*peer]*recent{}
	}
	if len(d.watched) == maxWatched {
		delete(d.recent, d.watched[0])
		d.watched = slices.Delete(d.watched, 0, 1)
	}
	r := &recent{}
	d.recent[p], d.watched = r, append(d.watched, p)
	return r
}

// unwatch drops p's recent intervals, if kept.
func (d *Detector) unwatch(p *peer) {
	if len(d.watched) == 0 {
		return
	}
	if i := slices.Index(d.watched, p); i >= 0 {
		d.watched = slices.Delete(d.watched, i, i+1)
		delete(d.recent, p)
	}
}
