package failuredetector

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

// The tests in this file pin each phi function to its definition, with the
// expected values computed here from the definitions (docs/failure-detection.md
// "The three models"), not from the code under test.

func TestPhiExponentialClosedForm(t *testing.T) {
	const second = 1e9
	tests := []struct {
		name    string
		t, mean float64
	}{
		{"a tenth of the mean", 0.1 * second, second},
		{"one mean", second, second},
		{"Cassandra's initial 2 s window after 1 s", second, 2 * second},
		{"threshold 8 point", 8 * math.Ln10 * second, second},
		{"long silence", 300 * second, second},
		{"sub-nanosecond mean", 5, 0.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// −log10(P(interval > t)) for an exponential interval.
			want := -math.Log10(math.Exp(-tc.t / tc.mean))
			assert.InEpsilon(t, want, phiExponential(tc.t, tc.mean), 1e-12)
		})
	}
}

func TestPhiExponentialEdges(t *testing.T) {
	tests := []struct {
		name    string
		t, mean float64
		want    float64
	}{
		{"no silence", 0, 1e9, 0},
		{"negative silence", -1e9, 1e9, 0},
		{"zero mean, no silence", 0, 0, 0},
		{"zero mean, silence", 1, 0, math.Inf(1)},
		{"phi past exp underflow stays finite", 1e6 * 1e9, 1e9, 1e6 * math.Log10E},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := phiExponential(tc.t, tc.mean)
			if tc.want == 0 || math.IsInf(tc.want, 0) {
				assert.Equal(t, tc.want, got)
				return
			}
			assert.InEpsilon(t, tc.want, got, 1e-15)
		})
	}
}

// TestPhiNormalMatchesGonum compares phiNormal with −log10 of gonum's
// Normal.Survival wherever Survival = ½(1 − erf) is accurate (z ≤ 5,
// survival ≥ 2.9·10^-7, absolute error ~10^-16).
func TestPhiNormalMatchesGonum(t *testing.T) {
	for _, p := range []struct{ mu, sigma float64 }{
		{1e9, 1e8},       // 1 s mean, 100 ms floor
		{4e9, 2.5e8},     // 1 s + 3 s pause, bootstrap σ
		{1.7e-3, 3.1e-5}, // arbitrary small scale
	} {
		dist := distuv.Normal{Mu: p.mu, Sigma: p.sigma}
		for z := -8.0; z <= 5; z += 0.01 {
			x := p.mu + z*p.sigma
			want := -math.Log10(dist.Survival(x))
			got := phiNormal(x, p.mu, p.sigma)
			if !assert.InDelta(t, want, got, 1e-9, "mu=%g sigma=%g z=%g", p.mu, p.sigma, z) {
				return
			}
		}
	}
}

// TestPhiNormalTail checks the far tail against the Mills-ratio bounds
// φ(z)(1/z − 1/z³) < S(z) < φ(z)(1/z − 1/z³ + 3/z⁵), evaluated in logarithms.
func TestPhiNormalTail(t *testing.T) {
	lnPhiDensity := func(z float64) float64 { return -z*z/2 - 0.5*math.Log(2*math.Pi) }
	for z := 5.0; z < 1e4; z *= 1.01 {
		lnLower := lnPhiDensity(z) + math.Log(1/z-1/(z*z*z))
		lnUpper := lnPhiDensity(z) + math.Log(1/z-1/(z*z*z)+3/(z*z*z*z*z))
		hi := -lnLower / math.Ln10 // larger survival bound → smaller phi
		lo := -lnUpper / math.Ln10
		got := phiNormal(z, 0, 1)
		slack := 1e-12 * got
		if !assert.True(t, got >= lo-slack && got <= hi+slack, "z=%g: phi %g outside [%g, %g]", z, got, lo, hi) {
			return
		}
	}
}

// TestPhiReferenceValues checks the values in the reference comparison of
// the logistic and exact-normal tails (peers.md §3.3), which were computed
// outside this project.
func TestPhiReferenceValues(t *testing.T) {
	tests := []struct {
		y            float64
		akka, normal float64
		tol          float64
	}{
		{3, 2.909, 2.870, 5e-4},
		{5, 7.300, 6.543, 5e-4},
		{8, 21.24, 15.21, 5e-3},
		{10, 37.58, 23.12, 5e-3},
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.akka, phiAkka(tc.y, 0, 1), tc.tol, "akka y=%g", tc.y)
		assert.InDelta(t, tc.normal, phiNormal(tc.y, 0, 1), tc.tol, "normal y=%g", tc.y)
	}
}

// logistic is Akka's published formula, written out independently.
func logistic(t, mu, sigma float64) float64 {
	y := (t - mu) / sigma
	e := math.Exp(-y * (1.5976 + 0.070566*y*y))
	if t > mu {
		return -math.Log10(e / (1 + e))
	}
	return -math.Log10(1 - 1/(1+e))
}

func TestPhiAkkaMatchesLogistic(t *testing.T) {
	for _, p := range []struct{ mu, sigma float64 }{
		{1e9, 1e8},
		{4e9, 2.5e8},
		{3.3e-2, 7e-4},
	} {
		for y := -20.0; y <= 20; y += 0.01 {
			x := p.mu + y*p.sigma
			want := logistic(x, p.mu, p.sigma)
			if want == 0 { // −0 from the formula
				want = 0
			}
			got := phiAkka(x, p.mu, p.sigma)
			if !assert.InDelta(t, want, got, 1e-12*math.Max(1, want), "mu=%g sigma=%g y=%g", p.mu, p.sigma, y) {
				return
			}
		}
	}
}

// TestPhiAkkaThresholdPoints checks the reference table of y at the
// conviction point for each threshold (peers.md §3.3), by bisection.
func TestPhiAkkaThresholdPoints(t *testing.T) {
	tests := []struct{ threshold, y float64 }{
		{1, 1.282}, {2, 2.323}, {3, 3.059}, {5, 4.119},
		{8, 5.226}, {10, 5.799}, {12, 6.292}, {16, 7.120},
	}
	for _, tc := range tests {
		lo, hi := 0.0, 30.0
		for range 100 {
			mid := (lo + hi) / 2
			if phiAkka(mid, 0, 1) > tc.threshold {
				hi = mid
			} else {
				lo = mid
			}
		}
		assert.InDelta(t, tc.y, lo, 5e-4, "threshold %g", tc.threshold)
	}
}

// TestPhiMonotoneAndFinite walks silence from far below the mean to far
// into the tail, densely across the switch to the asymptotic expansion at
// z = 30, and checks that phi never decreases, is never NaN or negative,
// and (for the exact normal) stays finite.
func TestPhiMonotoneAndFinite(t *testing.T) {
	var zs []float64
	for z := -60.0; z < 60; z += 0.01 {
		zs = append(zs, z)
	}
	for z := 29.999; z < 30.001; z += 1e-7 {
		zs = append(zs, z)
	}
	for z := 60.0; z < 1e150; z *= 1.5 {
		zs = append(zs, z)
	}
	models := []struct {
		name       string
		phi        func(t, mu, sigma float64) float64
		finiteUpTo float64
	}{
		{"normal", phiNormal, 1e150},
		{"akka", phiAkka, 21.5},
		{"exponential", func(t, mu, _ float64) float64 { return phiExponential(t, mu) }, 1e150},
	}
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			prev := 0.0
			prevZ := math.Inf(-1)
			for _, z := range zs {
				if z < prevZ {
					prev = 0 // the dense band restarts the walk
				}
				got := m.phi(1e9+z*1e8, 1e9, 1e8)
				// Plain comparisons: this loop runs 10^5 times per model.
				if math.IsNaN(got) || got < 0 || got < prev || (z <= m.finiteUpTo && math.IsInf(got, 0)) {
					require.Failf(t, "phi out of bounds", "z=%g: phi %g after %g", z, got, prev)
				}
				prev, prevZ = got, z
			}
		})
	}
}

func TestPhiDegenerate(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name            string
		t, mu, sigma    float64
		normal, akkaPhi float64
	}{
		{"zero sigma before mean", 1, 2, 0, 0, 0},
		{"zero sigma at mean", 2, 2, 0, 0, 0},
		{"zero sigma after mean", 3, 2, 0, inf, inf},
		{"far below mean", 0, 1e18, 1, 0, 0},
		{"far above mean", 1e18, 0, 1, 1e36 / 2 / math.Ln10, inf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := phiNormal(tc.t, tc.mu, tc.sigma); math.IsInf(tc.normal, 0) {
				assert.Equal(t, tc.normal, got, "normal")
			} else {
				assert.InEpsilon(t, tc.normal+1, got+1, 1e-12, "normal")
			}
			assert.Equal(t, tc.akkaPhi, phiAkka(tc.t, tc.mu, tc.sigma), "akka")
		})
	}
}

func TestClampPhi(t *testing.T) {
	tests := []struct {
		name    string
		in, out float64
	}{
		{"zero", 0, 0},
		{"ordinary", 8.5, 8.5},
		{"at max", MaxPhi, MaxPhi},
		{"above max", MaxPhi + 1, MaxPhi},
		{"+Inf", math.Inf(1), MaxPhi},
		{"NaN", math.NaN(), 0},
		{"negative", -3, 0},
		{"-Inf", math.Inf(-1), 0},
		{"negative zero", math.Copysign(0, -1), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ClampPhi(tc.in)
			assert.Equal(t, tc.out, got)
			assert.False(t, math.Signbit(got), "sign bit")
		})
	}
}
