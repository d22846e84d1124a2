package core

import (
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
)

// DetectorWindow is one peer's failure-detector window at a moment: its
// statistics, every inter-arrival interval the detector holds for it, the
// silence since its last heartbeat and the conviction threshold. It is
// for display (the agent's dashboard draws it as a histogram).
type DetectorWindow struct {
	// Stats are the peer's statistics, as in FailureDetector.
	Stats failuredetector.EndpointStats
	// Intervals are the intervals in the window, oldest first, bootstrap
	// intervals included; under the Decaying estimator (the default),
	// which keeps statistics rather than a window, the last 8, to the
	// millisecond.
	Intervals []time.Duration
	// Silence is the time since the peer's last heartbeat arrival, local
	// stalls discounted (as phi counts it).
	Silence time.Duration
	// ConvictAfter is the silence at which the peer's phi reaches the
	// threshold with the window as it is.
	ConvictAfter time.Duration
	// Threshold is the phi at which the detector convicts.
	Threshold float64
}

// DetectorWindow returns endpoint ep's failure-detector window at now, and
// false if the detector does not know ep (the node itself, or an unknown
// ID).
func (n *Node) DetectorWindow(ep string, now time.Time) (DetectorWindow, bool) {
	p := n.peers.get(ep)
	if p == nil {
		return DetectorWindow{}, false
	}
	v, ok := n.detector.WindowTracker(&p.fd, now)
	if !ok {
		return DetectorWindow{}, false
	}
	stats, _ := n.detector.StatsTracker(&p.fd, now)
	return DetectorWindow{Stats: stats, Intervals: v.Intervals, Silence: v.Silence, ConvictAfter: v.ConvictAfter,
		Threshold: n.detector.Config().PhiConvictThreshold}, true
}
