package failuredetector

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoPass returns the mean and population variance of xs computed the
// textbook way, independently of ArrivalWindow: a compensated (Neumaier)
// sum for the mean, then a second compensated pass over the squared
// deviations. The values are first shifted by xs[0], exactly, in integers;
// that leaves the variance unchanged and keeps the deviations exact when the
// spread is tiny compared with the values (a float64 mean of 30 days in
// nanoseconds is only good to ±0.25 ns).
func twoPass(xs []time.Duration) (mean, variance float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	n := float64(len(xs))
	shifted := func(i int) float64 { return float64(xs[i] - xs[0]) }
	m := neumaier(len(xs), shifted) / n
	variance = neumaier(len(xs), func(i int) float64 {
		d := shifted(i) - m
		return d * d
	}) / n
	return float64(xs[0]) + m, variance
}

// neumaier sums f(0), …, f(n−1) with Neumaier's compensated summation.
func neumaier(n int, f func(int) float64) float64 {
	var sum, c float64
	for i := range n {
		x := f(i)
		t := sum + x
		if math.Abs(sum) >= math.Abs(x) {
			c += (sum - t) + x
		} else {
			c += (x - t) + sum
		}
		sum = t
	}
	return sum + c
}

// assertRelative checks that got is within rel of want, relatively (or
// absolutely when want is 0).
func assertRelative(t *testing.T, want, got, rel float64, msgAndArgs ...any) {
	t.Helper()
	if want == 0 {
		assert.InDelta(t, 0, got, rel, msgAndArgs...)
		return
	}
	assert.InEpsilon(t, want, got, rel, msgAndArgs...)
}

func TestArrivalWindowSmall(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		size int
		add  []time.Duration
		want []time.Duration // what the window should hold afterwards
	}{
		{"empty", 3, nil, nil},
		{"one", 3, []time.Duration{ms}, []time.Duration{ms}},
		{"not full", 3, []time.Duration{ms, 3 * ms}, []time.Duration{ms, 3 * ms}},
		{"exactly full", 3, []time.Duration{ms, 2 * ms, 6 * ms}, []time.Duration{ms, 2 * ms, 6 * ms}},
		{"evicts oldest", 3, []time.Duration{ms, 2 * ms, 6 * ms, 10 * ms}, []time.Duration{2 * ms, 6 * ms, 10 * ms}},
		{"wraps twice", 2, []time.Duration{1, 2, 3, 4, 5, 6, 7}, []time.Duration{6, 7}},
		{"size one keeps last", 1, []time.Duration{5 * ms, 9 * ms}, []time.Duration{9 * ms}},
		{"identical values have zero variance", 4, []time.Duration{time.Second, time.Second, time.Second}, []time.Duration{time.Second, time.Second, time.Second}},
		{"zero intervals", 3, []time.Duration{0, 0}, []time.Duration{0, 0}},
		{"negative recorded as zero", 3, []time.Duration{-time.Second, 2 * ms}, []time.Duration{0, 2 * ms}},
		{"huge clamped to 2^53 ns", 3, []time.Duration{math.MaxInt64, 1}, []time.Duration{1 << 53, 1}},
		{"size 0 taken as 1", 0, []time.Duration{1, 2}, []time.Duration{2}},
		{"negative size taken as 1", -7, []time.Duration{1, 2}, []time.Duration{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewArrivalWindow(tc.size)
			for _, d := range tc.add {
				w.Add(d)
			}
			mean, variance := twoPass(tc.want)
			assert.Equal(t, len(tc.want), w.Len())
			assertRelative(t, mean, w.Mean(), 1e-15, "mean")
			assertRelative(t, variance, w.Variance(), 1e-15, "variance")
			assertRelative(t, math.Sqrt(variance), w.StdDev(), 1e-15, "stddev")
		})
	}
}

func TestArrivalWindowCapacity(t *testing.T) {
	tests := []struct {
		name string
		w    *ArrivalWindow
		want int
	}{
		{"zero value holds 100", &ArrivalWindow{}, 100},
		{"explicit size", NewArrivalWindow(17), 17},
		{"size above 2^20 taken as 2^20", NewArrivalWindow(math.MaxInt), 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.want + 5 {
				tc.w.Add(time.Duration(i))
			}
			assert.Equal(t, tc.want, tc.w.Len())
			// The window holds the last tc.want values: 5 … tc.want+4.
			assert.InEpsilon(t, float64(5+tc.want+4)/2, tc.w.Mean(), 1e-15)
		})
	}
}

// TestArrivalWindowExtremes fills a window with the largest storable
// interval, where Σx² is close to 2^126, and checks that nothing overflows.
func TestArrivalWindowExtremes(t *testing.T) {
	w := NewArrivalWindow(1 << 20)
	for range 1 << 20 {
		w.Add(math.MaxInt64)
	}
	assert.Equal(t, float64(1<<53), w.Mean())
	assert.Zero(t, w.Variance())
	w.Add(0)
	n := float64(1 << 20)
	wantMean := float64(1<<53) * (n - 1) / n
	wantVar := float64(1<<53) * float64(1<<53) * (n - 1) / (n * n)
	assert.InEpsilon(t, wantMean, w.Mean(), 1e-15)
	assert.InEpsilon(t, wantVar, w.Variance(), 1e-15)
}

// TestArrivalWindowMatchesTwoPass streams millions of seeded random
// intervals through windows and compares the running statistics with a
// two-pass computation over the window's current contents at checkpoints,
// including checkpoints where the window straddles two regimes. The regimes
// include the cases that break naive running sums and floating-point
// updates with removal: a large mean with a tiny spread, and tiny values
// following huge ones.
func TestArrivalWindowMatchesTwoPass(t *testing.T) {
	type regime func(r *rand.Rand) time.Duration
	steady := func(r *rand.Rand) time.Duration { // 1 s ± 1 µs
		return time.Second + time.Duration(r.Int64N(2001)) - 1000
	}
	uniform := func(r *rand.Rand) time.Duration { // 0–10 s
		return time.Duration(r.Int64N(int64(10 * time.Second)))
	}
	logUniform := func(r *rand.Rand) time.Duration { // 1 ns–2^53 ns
		return time.Duration(math.Exp2(r.Float64() * 53))
	}
	month := func(r *rand.Rand) time.Duration { // 30 days ± 1 ns
		return 30*24*time.Hour + time.Duration(r.Int64N(3)) - 1
	}
	tiny := func(r *rand.Rand) time.Duration { // 0–9 ns
		return time.Duration(r.Int64N(10))
	}
	tests := []struct {
		name    string
		size    int
		samples int // per regime
		regimes []regime
	}{
		{"10 million samples, window 1000", 1000, 2_000_000, []regime{steady, uniform, logUniform, month, tiny}},
		{"2 million samples, window 2^20", 1 << 20, 1_000_000, []regime{logUniform, month}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(42, uint64(i)))
			w := NewArrivalWindow(tc.size)
			ring := make([]time.Duration, 0, tc.size) // what the window should hold
			next := 0
			for j, sample := range tc.regimes {
				for k := 1; k <= tc.samples; k++ {
					d := sample(r)
					w.Add(d)
					if len(ring) < tc.size {
						ring = append(ring, d)
					} else {
						ring[next] = d
						next = (next + 1) % tc.size
					}
					if k != tc.size/2 && k%(tc.samples/4) != 0 {
						continue
					}
					mean, variance := twoPass(ring)
					require.Equal(t, len(ring), w.Len())
					assert.InEpsilon(t, mean, w.Mean(), 1e-9, "mean, regime %d, sample %d", j, k)
					if variance == 0 {
						assert.Zero(t, w.Variance(), "regime %d, sample %d", j, k)
					} else {
						assert.InEpsilon(t, variance, w.Variance(), 1e-9, "variance, regime %d, sample %d", j, k)
						assert.InEpsilon(t, math.Sqrt(variance), w.StdDev(), 1e-9, "stddev, regime %d, sample %d", j, k)
					}
				}
			}
		})
	}
}

func TestWideFloat(t *testing.T) {
	tests := []struct {
		name string
		u    uint192
		want float64
	}{
		{"zero", uint192{}, 0},
		{"one", uint192{w0: 1}, 1},
		{"2^64", uint192{w1: 1}, 0x1p64},
		{"2^128", uint192{w2: 1}, 0x1p128},
		{"2^53+1 rounds to even", uint192{w0: 1<<53 + 1}, 0x1p53},
		{"2^117+2^64 rounds to even", uint192{w1: 1<<53 + 1}, 0x1p117},
		{"sticky bit rounds up past a tie", uint192{w1: 1<<53 + 1, w0: 1}, 0x1p117 + 0x1p65},
		{"sticky bit in lowest word", uint192{w2: 1<<53 + 1, w0: 1}, 0x1p181 + 0x1p129},
		{"max", uint192{w2: math.MaxUint64, w1: math.MaxUint64, w0: math.MaxUint64}, 0x1p192},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.u.float())
		})
	}
}

func TestWideArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 1000 {
		// A sum below 2^73, as in ArrivalWindow.
		s := uint128{hi: r.Uint64N(1 << 9), lo: r.Uint64()}
		sq := square128(s)
		// Check s² against (s·s) computed as mul128by64 of the two halves.
		viaMul := mul128by64(s, s.lo)
		hiPart := mul128by64(s, s.hi) // s·hi, to be shifted by 64 bits
		require.Zero(t, hiPart.w2)
		want := uint192{w2: viaMul.w2, w1: viaMul.w1, w0: viaMul.w0}
		w1, c := addCarry(want.w1, hiPart.w0)
		want.w1 = w1
		want.w2 += hiPart.w1 + c
		assert.Equal(t, want, sq)
		assert.Equal(t, uint192{}, sq.sub(want))
		assert.Equal(t, s, s.add(uint128{lo: 12345}).sub(uint128{lo: 12345}))
	}
}

// addCarry adds two words and returns the sum and the carry.
func addCarry(a, b uint64) (sum, carry uint64) {
	sum = a + b
	if sum < a {
		carry = 1
	}
	return sum, carry
}

// TestArrivalWindowWidens checks the move from 4-byte to 8-byte storage:
// a wrapped ring of small intervals that meets one longer than 2^32 ns
// keeps every value and its order of eviction, and the statistics stay
// exact.
func TestArrivalWindowWidens(t *testing.T) {
	w := NewArrivalWindow(3)
	for i := 1; i <= 5; i++ { // the ring wraps: it holds 3, 4, 5
		w.Add(time.Duration(i))
	}
	require.Equal(t, 4.0, w.Mean())
	big := time.Duration(1 << 40)
	w.Add(big) // evicts 3: 4, 5, 2^40
	assert.Equal(t, 3, w.Len())
	assert.Equal(t, float64(4+5+1<<40)/3, w.Mean())
	w.Add(6) // evicts 4
	w.Add(7) // evicts 5
	assert.Equal(t, float64(1<<40+6+7)/3, w.Mean())
	w.Add(8) // evicts 2^40
	assert.Equal(t, 7.0, w.Mean())
	assert.Equal(t, 2.0/3, w.Variance())
}
