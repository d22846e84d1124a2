package api

import (
	"time"

	"github.com/hearsay-io/hearsay/gossiper"
)

// DetectorWindow is the answer to GET /v1/failure-detector/{id}: one
// peer's statistics as in [Detector], plus the window's intervals, the
// current silence and the threshold (the dashboard draws it).
type DetectorWindow struct {
	Detector
	// Threshold is the phi at which the detector convicts (--phi).
	Threshold float64 `json:"threshold"`
	// SilenceMillis is the time since the peer's last heartbeat, in ms,
	// local stalls discounted (as phi counts it).
	SilenceMillis float64 `json:"silence_ms"`
	// ConvictAfterMillis is the silence, in ms, at which phi reaches the
	// threshold with the window as it is.
	ConvictAfterMillis float64 `json:"convict_after_ms"`
	// IntervalsMillis are the heartbeat inter-arrival intervals in the
	// window, oldest first, in ms (bootstrap intervals included).
	IntervalsMillis []float64 `json:"intervals_ms"`
}

// NewDetectorWindow converts a gossiper's detector window to its API
// form.
func NewDetectorWindow(w gossiper.DetectorWindow) DetectorWindow {
	out := DetectorWindow{
		Detector: NewDetector(w.Stats), Threshold: w.Threshold,
		SilenceMillis:      millis(w.Silence),
		ConvictAfterMillis: millis(w.ConvictAfter),
		IntervalsMillis:    make([]float64, len(w.Intervals)),
	}
	for i, d := range w.Intervals {
		out.IntervalsMillis[i] = millis(d)
	}
	return out
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
