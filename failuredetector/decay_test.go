package failuredetector

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecayingForgets: past its warm-up a decaying estimate moves towards
// a new pace by α = 2/(span+1) per interval, as the closed form says.
func TestDecayingForgets(t *testing.T) {
	const span = 99 // α = 1/50
	var s decaying
	var n uint32 // the peer's count
	for range 300 {
		s.add(&n, time.Second, span)
	}
	require.InDelta(t, float64(time.Second), s.mean, 1e-3)
	require.InDelta(t, 0, s.variance, 1e-3)
	const k = 40
	for range k {
		s.add(&n, 2*time.Second, span)
	}
	alpha := 2.0 / (span + 1)
	keep := math.Pow(1-alpha, k) // weight left on the 1 s intervals
	assert.InEpsilon(t, float64(time.Second)*(2-keep), s.mean, 1e-9, "mean")
	assert.InEpsilon(t, float64(time.Second*time.Second)*keep*(1-keep), s.variance, 1e-6, "variance")
	assert.Equal(t, span, s.samples(n, span))
}

// TestRecentKeepsLast8: the intervals kept for display are the last 8, to
// the millisecond, saturated at 65.535 s, oldest first.
func TestRecentKeepsLast8(t *testing.T) {
	var r recent
	assert.Nil(t, r.intervals())
	r.add(3 * time.Second)
	assert.Equal(t, []time.Duration{3 * time.Second}, r.intervals())
	for range 10 {
		r.add(2 * time.Second)
	}
	r.add(90 * time.Second)
	r.add(1234567 * time.Microsecond)
	want := []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second,
		65535 * time.Millisecond, 1234 * time.Millisecond}
	assert.Equal(t, want, r.intervals())
}

// TestDecayingWarmUp: until (span+1)/2 intervals, each weighs 1/n, so the
// estimate is the exact mean and population variance of what was added.
func TestDecayingWarmUp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s decaying
	var n uint32 // the peer's count
	var xs []time.Duration
	for range 50 {
		x := time.Duration(r.Int64N(int64(3 * time.Second)))
		xs = append(xs, x)
		s.add(&n, x, 99)
		mean, variance := twoPass(xs)
		require.InEpsilon(t, mean, s.mean, 1e-12)
		if variance > 0 {
			require.InEpsilon(t, variance, s.variance, 1e-9)
		}
	}
}

// TestDecayingNeverNegative: the variance stays ≥ 0 and finite, and the
// mean within the added range, for extreme and random intervals.
func TestDecayingNeverNegative(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, span := range []int{1, 2, 8, 100, maxWindowSize} {
		var s decaying
		var n uint32
		for range 10000 {
			var x time.Duration
			switch r.IntN(4) {
			case 0:
				x = time.Duration(r.Int64())
			case 1:
				x = -time.Duration(r.Int64N(1000))
			default:
				x = time.Duration(r.Int64N(int64(5 * time.Second)))
			}
			s.add(&n, x, span)
			require.False(t, math.IsNaN(s.variance) || math.IsInf(s.variance, 0) || s.variance < 0, "span %d: variance %g", span, s.variance)
			require.True(t, s.mean >= 0 && s.mean <= maxSample, "span %d: mean %g", span, s.mean)
		}
	}
}

// TestEstimatorValidated: an unknown Estimator is refused with the field
// named.
func TestEstimatorValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Estimator = Estimator(7)
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.Estimator = Estimator(7): must be Sliding or Decaying")
	assert.Equal(t, "decaying", Decaying.String())
	assert.Equal(t, "sliding", Sliding.String())
}
