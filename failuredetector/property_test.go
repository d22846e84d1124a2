package failuredetector

import (
	"cmp"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestDetectorProperties runs random configurations through random
// sequences of reports (in and out of order), removals and queries, and
// checks the invariants every caller relies on:
//
//   - phi is never NaN or negative, and never decreases as silence grows;
//   - Interpret never convicts an endpoint whose phi is at most the
//     threshold (the pause guard only ever suppresses);
//   - Snapshot is sorted, finite and within [0, MaxPhi], and its sample
//     counts stay within [1, WindowSize];
//   - Phi, Interpret and Snapshot of unknown endpoints are zero values.
func TestDetectorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := Config{
			Model:               rapid.SampledFrom([]Model{Exponential, Normal, Akka}).Draw(t, "model"),
			PhiConvictThreshold: rapid.Float64Range(1e-3, 100).Draw(t, "threshold"),
			WindowSize:          rapid.IntRange(1, 20).Draw(t, "window"),
			InitialInterval:     duration(t, "initial", 1, int64(time.Minute)),
			MaxInterval:         duration(t, "max", 1, int64(time.Minute)),
			MinStdDev:           duration(t, "minStd", 1, int64(time.Second)),
			AcceptablePause:     duration(t, "pause", 0, int64(time.Minute)),
			MaxLocalPause:       duration(t, "localPause", 0, int64(time.Minute)),
		}
		d, err := NewDetector(cfg)
		require.NoError(t, err)
		endpoints := []string{"a", "b", "c"}
		now := time.Duration(0)
		t.Repeat(map[string]func(*rapid.T){
			"report": func(t *rapid.T) {
				now += duration(t, "step", -int64(time.Second), int64(10*time.Second))
				d.Report(rapid.SampledFrom(endpoints).Draw(t, "endpoint"), at(now))
			},
			"remove": func(t *rapid.T) {
				d.Remove(rapid.SampledFrom(endpoints).Draw(t, "endpoint"))
			},
			"interpret": func(t *rapid.T) {
				ep := rapid.SampledFrom(endpoints).Draw(t, "endpoint")
				when := at(now + duration(t, "later", -int64(time.Second), int64(time.Hour)))
				phi := d.Phi(ep, when)
				if d.Interpret(ep, when) {
					assert.Greater(t, phi, cfg.PhiConvictThreshold)
				}
			},
			"overdue": func(t *rapid.T) {
				when := at(now + duration(t, "later", -int64(time.Second), int64(time.Hour)))
				checkOverdue(t, d, when)
			},
			"overdue at the crossing": func(t *rapid.T) {
				ep := rapid.SampledFrom(endpoints).Draw(t, "endpoint")
				p, ok := d.peers[ep]
				if !ok {
					return
				}
				// The least silence whose phi is over the threshold.
				lo, hi := time.Duration(0), time.Duration(1<<62)
				if d.phiAfter(p, hi) <= cfg.PhiConvictThreshold {
					return
				}
				for hi-lo > 1 {
					mid := lo + (hi-lo)/2
					if d.phiAfter(p, mid) > cfg.PhiConvictThreshold {
						hi = mid
					} else {
						lo = mid
					}
				}
				assert.Contains(t, d.Overdue(d.base.Add(p.last).Add(hi), nil), ep, "silence %v: phi %g > threshold %g",
					hi, d.phiAfter(p, hi), cfg.PhiConvictThreshold)
			},
			"phi grows with silence": func(t *rapid.T) {
				ep := rapid.SampledFrom(endpoints).Draw(t, "endpoint")
				a := duration(t, "a", -int64(time.Second), int64(time.Hour))
				b := a + duration(t, "b", 0, int64(time.Hour))
				pa, pb := d.Phi(ep, at(now+a)), d.Phi(ep, at(now+b))
				assert.False(t, math.IsNaN(pa) || math.IsNaN(pb), "NaN phi")
				assert.GreaterOrEqual(t, pa, 0.0)
				assert.GreaterOrEqual(t, pb, pa, "phi(%v) > phi(%v)", a, b)
			},
			"": func(t *rapid.T) { // checked after every action
				snap := d.Snapshot(at(now))
				assert.True(t, slices.IsSortedFunc(snap, func(x, y EndpointStats) int {
					return cmp.Compare(x.Endpoint, y.Endpoint)
				}))
				for _, s := range snap {
					assert.True(t, s.Phi >= 0 && s.Phi <= MaxPhi, "snapshot phi %g", s.Phi)
					assert.True(t, s.Samples >= 1 && s.Samples <= cfg.WindowSize, "samples %d", s.Samples)
					assert.GreaterOrEqual(t, s.Mean, time.Duration(0))
					assert.GreaterOrEqual(t, s.StdDev, time.Duration(0))
				}
				assert.Zero(t, d.Phi("unknown", at(now)))
			},
		})
	})
}

// duration draws a Duration in [lo, hi] nanoseconds.
func duration(t *rapid.T, label string, lo, hi int64) time.Duration {
	return time.Duration(rapid.Int64Range(lo, hi).Draw(t, label))
}

// checkOverdue checks that Overdue at when lists every known endpoint
// whose phi at when, with its silence discounted or counted in full, is
// over the threshold, each once, and no unknown one.
func checkOverdue(t *rapid.T, d *Detector, when time.Time) {
	over := d.Overdue(when, nil)
	seen := map[string]bool{}
	for _, ep := range over {
		assert.False(t, seen[ep], "%s listed twice", ep)
		seen[ep] = true
		assert.Contains(t, d.peers, ep, "unknown endpoint listed")
	}
	for ep, p := range d.peers {
		if d.Phi(ep, when) > d.cfg.PhiConvictThreshold || d.phiAfter(p, d.sinceLast(p, when)) > d.cfg.PhiConvictThreshold {
			assert.True(t, seen[ep], "%s: phi over the threshold, not listed", ep)
		}
	}
	assert.Len(t, d.all, len(d.peers))
}
