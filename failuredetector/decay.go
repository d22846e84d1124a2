package failuredetector

import (
	"fmt"
	"math"
	"time"
)

// Estimator selects how a Detector keeps each endpoint's interval
// statistics (the mean and standard deviation its Model turns into phi).
type Estimator int

const (
	// Sliding keeps the last WindowSize intervals exactly, in an
	// ArrivalWindow (Cassandra's and Akka's way): exact statistics, 4
	// bytes per interval while intervals fit in 32 bits of nanoseconds.
	// It is the zero value, so a Config written out field by field keeps
	// the behaviour it had before Estimator existed.
	Sliding Estimator = iota

	// Decaying keeps an exponentially weighted mean and variance of the
	// intervals, in a fixed 40 bytes per endpoint whatever WindowSize:
	// each new interval weighs α = 2/(WindowSize+1), so the statistics
	// have the mean age of a WindowSize-interval window and about its
	// accuracy (the effective number of samples is WindowSize). Until
	// (WindowSize+1)/2 intervals have arrived each weighs 1/n, so the
	// bootstrap history counts as it does in a window. The last 8
	// intervals are kept to the millisecond (up to 65.5 s) for display.
	// The default.
	Decaying
)

// String returns "sliding" or "decaying", or "Estimator(n)".
func (e Estimator) String() string {
	switch e {
	case Sliding:
		return "sliding"
	case Decaying:
		return "decaying"
	default:
		return fmt.Sprintf("Estimator(%d)", int(e))
	}
}

func (e Estimator) valid() bool { return e == Sliding || e == Decaying }

// decaying is one endpoint's Decaying statistics.
type decaying struct {
	mean, variance float64 // nanoseconds and square nanoseconds
	// The count of intervals added is the peer's (peer.n), kept beside
	// its other 32-bit fields so that the record packs in 56 bytes.
}

// add records one interval (clamped to [0, 2^53 ns], as a window does)
// with weight max(2/(span+1), 1/n): West's incremental update, under
// which the variance stays non-negative.
func (s *decaying) add(n *uint32, interval time.Duration, span int) {
	x := float64(min(max(interval, 0), maxSample))
	if *n < math.MaxUint32 {
		*n++
	}
	w := max(2/(float64(span)+1), 1/float64(*n))
	diff := x - s.mean
	incr := w * diff
	s.mean += incr
	s.variance = (1 - w) * (s.variance + diff*incr)
}

// samples is the number of intervals the statistics reflect: all those
// added, up to span.
func (s *decaying) samples(n uint32, span int) int {
	return int(min(int64(n), int64(span)))
}
