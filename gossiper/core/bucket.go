package core

import (
	"math"
	"time"
)

// tokenBucket bounds a rate of sends in the core's virtual time: it holds
// at most burst tokens, earns rate tokens a second, and starts full. The
// push and echo budgets are each one.
type tokenBucket struct {
	tokens   float64
	refilled moment // when it was last filled; 0: never
}

// refill adds the tokens earned by m since the last refill, up to burst;
// the first call fills the bucket.
func (b *tokenBucket) refill(m moment, rate, burst float64) {
	if b.refilled == 0 {
		b.tokens, b.refilled = burst, m
		return
	}
	if d := m - b.refilled; d > 0 {
		b.tokens = min(burst, b.tokens+time.Duration(d).Seconds()*rate)
		b.refilled = m
	}
}

// wait returns how long, at rate, until the bucket holds k tokens.
func (b *tokenBucket) wait(k int, rate float64) time.Duration {
	return time.Duration(math.Ceil((float64(k) - b.tokens) / rate * float64(time.Second)))
}
