package failuredetector

import "time"

// Intervals returns the intervals in the window, oldest first, as a new
// slice (nil for an empty window). It is for display: the dashboard's
// histogram of inter-arrival times.
func (w *ArrivalWindow) Intervals() []time.Duration {
	if w.large != nil {
		return ringIntervals(*w.large, w.oldest)
	}
	return ringIntervals(w.small, w.oldest)
}

// ringIntervals copies the ring buf, oldest first.
func ringIntervals[T uint32 | uint64](buf []T, oldest int32) []time.Duration {
	if len(buf) == 0 {
		return nil
	}
	out := make([]time.Duration, 0, len(buf))
	for i := range buf {
		out = append(out, time.Duration(buf[(int(oldest)+i)%len(buf)]))
	}
	return out
}

// WindowView is a read-only view of one endpoint's window at a moment,
// for display.
type WindowView struct {
	// Intervals are the intervals in the window, oldest first (bootstrap
	// intervals included); a copy. Under Decaying, the last 8, to the
	// millisecond.
	Intervals []time.Duration
	// Silence is the endpoint's silence at the moment: the time since its
	// last arrival, local stalls discounted (as Phi counts it).
	Silence time.Duration
	// ConvictAfter is the silence at which the endpoint's phi reaches
	// PhiConvictThreshold with the window as it is (to within 1 ms; at
	// most 24 h).
	ConvictAfter time.Duration
}

// convictSearchLimit bounds the search of WindowView.ConvictAfter.
const convictSearchLimit = 24 * time.Hour

// Window returns endpoint's WindowView at now, and false if the Detector
// does not know endpoint. Under Decaying statistics the intervals shown
// are those since endpoint's window was first read: from then on the
// Detector keeps its last 8, for the 64 endpoints read most recently. It
// changes nothing else.
func (d *Detector) Window(endpoint string, now time.Time) (WindowView, bool) {
	return d.window(d.peers[endpoint], now)
}

// window is Window for the record p (nil or not yet reported: false).
func (d *Detector) window(p *peer, now time.Time) (WindowView, bool) {
	if p == nil || p.pos == 0 {
		return WindowView{}, false
	}
	// Phi grows with silence under every model: bisect for the first
	// silence at the threshold, in at most 37 steps (24 h down to 1 ms).
	lo, hi := time.Duration(0), convictSearchLimit
	for hi-lo > time.Millisecond {
		mid := lo + (hi-lo)/2
		if d.phiAfter(p, mid) >= d.cfg.PhiConvictThreshold {
			hi = mid
		} else {
			lo = mid
		}
	}
	return WindowView{Intervals: d.intervals(p), Silence: d.silence(p, now), ConvictAfter: hi}, true
}
