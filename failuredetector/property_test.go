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
