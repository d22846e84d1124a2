package failuredetector

import (
	"math"
	"math/bits"
)

// uint128 is an unsigned 128-bit integer. ArrivalWindow keeps its running
// sum and sum of squares in it so that both are exact (see ArrivalWindow).
type uint128 struct {
	hi, lo uint64
}

// add returns u + v. The caller keeps the value below 2^128.
func (u uint128) add(v uint128) uint128 {
	lo, carry := bits.Add64(u.lo, v.lo, 0)
	hi, _ := bits.Add64(u.hi, v.hi, carry)
	return uint128{hi: hi, lo: lo}
}

// sub returns u − v. The caller guarantees v ≤ u.
func (u uint128) sub(v uint128) uint128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return uint128{hi: hi, lo: lo}
}

// square64 returns x² for a 64-bit x.
func square64(x uint64) uint128 {
	hi, lo := bits.Mul64(x, x)
	return uint128{hi: hi, lo: lo}
}

// float returns u rounded to the nearest float64.
func (u uint128) float() float64 {
	return uint192{w1: u.hi, w0: u.lo}.float()
}

// uint192 is an unsigned 192-bit integer, wide enough for n·Σx² and (Σx)²
// in the variance numerator. w2 is the most significant word.
type uint192 struct {
	w2, w1, w0 uint64
}

// mul128by64 returns u·n as a 192-bit product (it cannot overflow).
func mul128by64(u uint128, n uint64) uint192 {
	loHi, w0 := bits.Mul64(u.lo, n)
	hiHi, hiLo := bits.Mul64(u.hi, n)
	w1, carry := bits.Add64(hiLo, loHi, 0)
	return uint192{w2: hiHi + carry, w1: w1, w0: w0}
}

// square128 returns u² for a u below 2^96, so that the product fits in 192
// bits. ArrivalWindow's sum stays below 2^73.
func square128(u uint128) uint192 {
	// (h·2^64 + l)² = h²·2^128 + 2hl·2^64 + l².
	llHi, llLo := bits.Mul64(u.lo, u.lo)
	hlHi, hlLo := bits.Mul64(u.hi, u.lo)
	// 2hl, as a 129-bit value split into carry:hlHi:hlLo.
	hlTop := hlHi >> 63
	hlHi = hlHi<<1 | hlLo>>63
	hlLo <<= 1
	_, hh := bits.Mul64(u.hi, u.hi) // h < 2^32, so h² fits in the low word
	w1, c := bits.Add64(llHi, hlLo, 0)
	w2 := hh + hlHi + hlTop + c
	return uint192{w2: w2, w1: w1, w0: llLo}
}

// sub returns u − v. The caller guarantees v ≤ u.
func (u uint192) sub(v uint192) uint192 {
	w0, b := bits.Sub64(u.w0, v.w0, 0)
	w1, b := bits.Sub64(u.w1, v.w1, b)
	w2, _ := bits.Sub64(u.w2, v.w2, b)
	return uint192{w2: w2, w1: w1, w0: w0}
}

// float returns u rounded to the nearest float64 (ties to even). It takes
// the top 64 significant bits, folds every lower bit into a sticky bit so
// that the single rounding of the uint64 → float64 conversion is correct,
// and scales the result back by an exact power of two.
func (u uint192) float() float64 {
	switch {
	case u.w2 != 0:
		s := uint(bits.LeadingZeros64(u.w2))
		top, rest := shiftTop(u.w2, u.w1, u.w0, s)
		return float64(top|rest) * pow2(128-int(s))
	case u.w1 != 0:
		s := uint(bits.LeadingZeros64(u.w1))
		top, rest := shiftTop(u.w1, u.w0, 0, s)
		return float64(top|rest) * pow2(64-int(s))
	default:
		return float64(u.w0)
	}
}

// shiftTop shifts the 192-bit value a:b:c left by s < 64 bits and returns
// the top word and a sticky bit (1 if any bit shifted out of it is set).
func shiftTop(a, b, c uint64, s uint) (top, sticky uint64) {
	top = a<<s | b>>(64-s)
	low := b<<s | c>>(64-s) // Go defines x>>64 as 0, so s = 0 works too
	if low != 0 || c<<s != 0 {
		sticky = 1
	}
	return top, sticky
}

// pow2 returns 2^e for 0 ≤ e ≤ 128, built from its bit pattern (cheaper than
// math.Ldexp, and exact).
func pow2(e int) float64 {
	return math.Float64frombits(uint64(1023+e) << 52)
}
