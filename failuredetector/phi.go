package failuredetector

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// MaxPhi is the largest phi that any display or export path shows: Snapshot
// and ClampPhi map larger values, including +Inf, to MaxPhi, because JSON
// and most metric systems cannot carry +Inf. A phi of 1000 already means
// that the chance of a wrong suspicion is 10^-1000 under the model; under
// the Exponential model it is reached after 1000 · ln 10 ≈ 2303 mean
// intervals of silence (38 minutes at 1 s). Interpret compares the
// unclamped phi with the threshold.
const MaxPhi = 1000.0

// ClampPhi returns phi limited to [0, MaxPhi]: +Inf and values above MaxPhi
// become MaxPhi, and NaN (which the detector never produces) and negative
// values become 0. Use it wherever phi leaves the process.
func ClampPhi(phi float64) float64 {
	switch {
	case math.IsNaN(phi) || phi <= 0:
		return 0
	case phi > MaxPhi:
		return MaxPhi
	default:
		return phi
	}
}

// The phi functions below are pure functions of the window statistics and
// of t, the time since the last arrival, all in float64 nanoseconds. None
// returns NaN or a negative value; all are non-decreasing in t. Products
// are wrapped in explicit float64 conversions, which the Go specification
// guarantees are rounded, so no platform fuses them into FMA instructions:
// phiExponential is bit-identical across architectures, and the others are
// as identical as math.Exp, math.Log and math.Erfc are. log10 is computed
// as ln / ln 10, which is cheaper than math.Log10 and as accurate.

// phiExponential is Cassandra's phi: −log10 of the probability that an
// exponentially distributed interval with the given mean exceeds t,
//
//	phi = −log10(e^(−t/mean)) = t / mean / ln 10.
//
// A window whose mean is 0 makes any silence infinitely suspicious.
func phiExponential(t, mean float64) float64 {
	switch {
	case t <= 0:
		return 0
	case mean <= 0:
		return math.Inf(1)
	default:
		return float64(t/mean) / math.Ln10
	}
}

// phiNormal is the phi of Hayashibara et al.: −log10 of the exact survival
// function of Normal(mu, sigma) at t, where the caller passes
// mu = mean + AcceptablePause and sigma = max(stddev, MinStdDev).
//
// With z = (t − mu) / sigma the survival function is S(z) = 1 − Φ(z). It is
// evaluated in the form that keeps full relative precision in each region:
//
//   - z ≤ 0: S = 1 − Φ(z), with Φ(z) ≤ ½ from gonum's distuv.Normal, and
//     phi = −log1p(−Φ(z)) / ln 10, accurate as phi approaches 0;
//   - 0 < z < normalTailZ: S = Φ(−z) = ½·erfc(z/√2) from gonum's
//     distuv.Normal.CDF, which (unlike ½·(1 − erf) in Normal.Survival)
//     keeps its relative precision in the upper tail;
//   - z ≥ normalTailZ: ln S from the asymptotic expansion of the Mills
//     ratio, so phi stays finite and increasing long after S underflows
//     (phi is about 200 at the switch and +Inf only once z² overflows).
//
// A non-positive sigma is a degenerate distribution: phi is 0 up to mu and
// +Inf after it.
func phiNormal(t, mu, sigma float64) float64 {
	if sigma <= 0 {
		return stepPhi(t, mu)
	}
	z := float64(t-mu) / sigma
	unit := distuv.Normal{Mu: 0, Sigma: 1}
	var phi float64
	switch {
	case z <= 0:
		phi = -math.Log1p(-unit.CDF(z)) / math.Ln10
	case z < normalTailZ:
		phi = -math.Log(unit.CDF(-z)) / math.Ln10
	default:
		phi = -logNormalSurvivalTail(z) / math.Ln10
	}
	return nonNegative(phi)
}

// normalTailZ is where phiNormal switches from erfc to the asymptotic
// expansion: S(30) ≈ 5·10^-198 is still a normal float64, and at z = 30 the
// expansion's terms fall below 10^-17 within eight terms.
const normalTailZ = 30

// logNormalSurvivalTail returns ln S(z) for the standard normal and z ≥ 30,
// from the asymptotic series
//
//	S(z) = φ(z)/z · (1 − 1/z² + 3/z⁴ − 15/z⁶ + …),
//
// summed until a term is below 10^-17 (the error is smaller than the first
// omitted term).
func logNormalSurvivalTail(z float64) float64 {
	z2 := float64(z * z)
	series, term := 1.0, 1.0
	for k := 1; k <= 12; k++ {
		term = float64(-term*float64(2*k-1)) / z2
		series += term
		if math.Abs(term) < 1e-17 {
			break
		}
	}
	const halfLog2Pi = 0.91893853320467274178 // ln(2π)/2
	return float64(-z2/2) - math.Log(z) - halfLog2Pi + math.Log(series)
}

// phiAkka is Akka's phi: the normal model with Φ replaced by the logistic
// approximation Φ(y) ≈ 1 / (1 + e^(−y(1.5976 + 0.070566·y²))) (error at most
// 1.4·10^-4), using Akka's two branches so that the far tail keeps its
// precision:
//
//	y = (t − mu) / sigma,  e = exp(−y·(1.5976 + 0.070566·y²))
//	phi = −log10(e / (1 + e))       if t > mu
//	phi = −log10(1 − 1/(1 + e))     otherwise
//
// The caller passes mu = mean + AcceptablePause and
// sigma = max(stddev, MinStdDev). Once e underflows (y ≳ 21.6) phi is +Inf.
// A non-positive sigma gives the same step function as phiNormal.
func phiAkka(t, mu, sigma float64) float64 {
	if sigma <= 0 {
		return stepPhi(t, mu)
	}
	y := float64(t-mu) / sigma
	e := math.Exp(-float64(y * float64(1.5976+float64(0.070566*float64(y*y)))))
	var phi float64
	if t > mu {
		phi = -math.Log(e/(1+e)) / math.Ln10
	} else {
		phi = -math.Log(1-1/(1+e)) / math.Ln10
	}
	return nonNegative(phi)
}

// stepPhi is phi for a distribution with no spread: 0 up to mu, +Inf after.
func stepPhi(t, mu float64) float64 {
	if t > mu {
		return math.Inf(1)
	}
	return 0
}

// nonNegative turns −0, tiny negative rounding results and NaN into 0.
func nonNegative(phi float64) float64 {
	if phi > 0 {
		return phi
	}
	return 0
}
