package failuredetector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trace is a named generator of heartbeat inter-arrival intervals.
type trace struct {
	name string
	next func(r *rand.Rand) time.Duration
}

// realisticTraces are the inter-arrival patterns a node sees for one peer's
// heartbeat: sent every second and relayed by gossip.
var realisticTraces = []trace{
	// Direct: every second, with up to ±100 ms of scheduling jitter.
	{"direct-jitter", func(r *rand.Rand) time.Duration {
		return time.Second + time.Duration(r.Int64N(int64(200*time.Millisecond))) - 100*time.Millisecond
	}},
	// Relayed: each heartbeat arrives after 0 to 2 extra rounds of
	// gossip, so intervals spread from about 0 to 3 s around 1 s.
	{"gossip-relayed", func(r *rand.Rand) time.Duration {
		hops := []int64{0, 0, 0, 1, 1, 2}
		return time.Duration(1+hops[r.IntN(len(hops))]-hops[r.IntN(len(hops))])*time.Second +
			time.Duration(r.Int64N(int64(50*time.Millisecond)))
	}},
	// Poisson: exponentially distributed intervals of mean 1 s, the
	// exponential model's own assumption.
	{"poisson", func(r *rand.Rand) time.Duration {
		return time.Duration(r.ExpFloat64() * float64(time.Second))
	}},
}

// convictAfterSamples feeds the same trace to a detector of cfg with the
// given window size and to a reference detector with Cassandra's and
// Akka's 1,000-interval window, and returns, after every heartbeat once
// the small window is full, the relative difference of the silence at
// which each would convict.
func convictAfterSamples(t *testing.T, cfg Config, window int, tr trace, beats int) []float64 {
	t.Helper()
	small, ref := cfg, cfg
	small.WindowSize, ref.WindowSize = window, 1000
	ds, err := NewDetector(small)
	require.NoError(t, err)
	dr, err := NewDetector(ref)
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(7, uint64(len(tr.name))))
	now := time.Unix(1764244800, 0)
	var diffs []float64
	for i := range beats {
		now = now.Add(max(tr.next(r), time.Millisecond))
		ds.Report("p", now)
		dr.Report("p", now)
		if i < 1000 { // let the reference window fill: it is the truth
			continue
		}
		vs, ok := ds.Window("p", now)
		require.True(t, ok)
		vr, ok := dr.Window("p", now)
		require.True(t, ok)
		diffs = append(diffs, math.Abs(float64(vs.ConvictAfter-vr.ConvictAfter))/float64(vr.ConvictAfter))
	}
	return diffs
}

// TestWindowSizeAccuracy justifies the default WindowSize: on realistic
// heartbeat traces, the silence at which a detector with the default window
// convicts stays close to the one of a detector keeping 1,000 intervals
// (Cassandra's and Akka's window), under every model. A window of 2
// intervals is far off, which shows the check can fail.
func TestWindowSizeAccuracy(t *testing.T) {
	const beats = 3000
	for _, model := range []Model{Exponential, Normal, Akka} {
		for _, tr := range realisticTraces {
			cfg := DefaultConfig()
			cfg.Model = model
			cfg.MaxInterval = time.Hour // learn every interval of the trace
			t.Run(fmt.Sprintf("%v/%s", model, tr.name), func(t *testing.T) {
				d := convictAfterSamples(t, cfg, defaultWindowSize, tr, beats)
				slices.Sort(d)
				median, p99 := d[len(d)/2], d[len(d)*99/100]
				t.Logf("window %d: conviction silence vs 1,000 intervals: median %.1f %%, p99 %.1f %%, max %.1f %%",
					defaultWindowSize, 100*median, 100*p99, 100*d[len(d)-1])
				assert.LessOrEqual(t, median, 0.15, "median relative difference")
				assert.LessOrEqual(t, p99, 0.45, "p99 relative difference")
			})
		}
	}
	t.Run("window 2 is far off", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInterval = time.Hour
		d := convictAfterSamples(t, cfg, 2, realisticTraces[2], beats)
		slices.Sort(d)
		assert.Greater(t, d[len(d)*99/100], 0.45)
	})
}

// TestWindowSizeSurvey logs the conviction-silence error of a few window
// sizes against the 1,000-interval reference (run with -v); it asserts
// only that a larger window is never much worse, so that it stays a
// survey of the trade-off behind the default.
func TestWindowSizeSurvey(t *testing.T) {
	for _, model := range []Model{Exponential, Normal} {
		for _, tr := range realisticTraces {
			cfg := DefaultConfig()
			cfg.Model = model
			cfg.MaxInterval = time.Hour
			prev := math.Inf(1)
			for _, w := range []int{8, 16, 32, 64, 100} {
				d := convictAfterSamples(t, cfg, w, tr, 3000)
				slices.Sort(d)
				p99 := d[len(d)*99/100]
				t.Logf("%v/%s window %3d: median %5.1f %%  p99 %5.1f %%", model, tr.name, w, 100*d[len(d)/2], 100*p99)
				assert.LessOrEqual(t, p99, prev*1.5+0.01, "window %d", w)
				prev = p99
			}
		}
	}
}
