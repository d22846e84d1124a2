package failuredetector

import (
	"math"
	"time"
)

const (
	// defaultWindowSize is the window size (or, under Decaying, the span)
	// of DefaultConfig and of the zero ArrivalWindow. Cassandra and Akka
	// keep 1000; 100 recent intervals follow a change of pace sooner, and
	// on realistic heartbeat traces the silence at which the default
	// (Decaying, span 100, 40 bytes per peer) convicts is within a few per
	// cent of the 1,000-interval window's at the median
	// (TestWindowSizeAccuracy, docs/failure-detection.md).
	defaultWindowSize = 100

	// maxWindowSize bounds the window so that the exact sums below fit:
	// 2^20 samples of at most 2^53 ns give Σx < 2^73 and Σx² < 2^126.
	maxWindowSize = 1 << 20

	// maxSample is the longest interval a window stores, 2^53 ns (about 104
	// days). Longer intervals are stored as maxSample. Every stored value is
	// therefore exactly representable as a float64.
	maxSample = 1 << 53
)

// ArrivalWindow is a bounded sliding window of heartbeat inter-arrival
// intervals, Cassandra's ArrivalWindow and Akka's HeartbeatHistory. Once it
// holds its capacity, each Add evicts the oldest interval.
//
// # Exact statistics
//
// The window keeps the intervals as integer nanoseconds, together with their
// running sum Σx and sum of squares Σx² in 128-bit integers. Adding and
// evicting are exact integer operations, so the sums never drift, however
// many millions of intervals pass through the window, and Add is O(1) with no
// periodic recomputation. Add derives the mean from the sums once, so
// reading it is free; the variance, which only the normal models read, is
// derived when read. The population variance is computed from
//
//	Var = (n·Σx² − (Σx)²) / n²
//
// with the numerator evaluated exactly in 192-bit arithmetic. By the
// Cauchy–Schwarz inequality that numerator is never negative, so the
// variance is never negative and the standard deviation never NaN, without
// any clamping. Mean and Variance are each within a few units in the last
// place of the true value of the stored intervals. This avoids the three
// usual traps: int64 overflow of Σx² in nanoseconds, catastrophic
// cancellation of Σx²/n − mean² in float64, and the slow drift of a
// floating-point Welford update with removal.
//
// Intervals are clamped to [0, 2^53 ns] (2^53 ns is about 104 days) and the
// capacity to [1, 2^20]; these bounds keep the sums inside 128 bits.
//
// Statistics are float64 nanoseconds (square nanoseconds for Variance) so
// that the phi arithmetic keeps sub-nanosecond precision.
//
// # Compact storage
//
// While every stored interval fits in 32 bits (up to 2^32 ns, about 4.29 s,
// the usual case for heartbeats a second apart) the window keeps them in 4
// bytes each; the first longer one moves the window to 8 bytes each, for
// good. Either way the values, and so the statistics, are exact.
//
// The zero value is an empty window with capacity 100. An ArrivalWindow is
// not safe for concurrent use.
type ArrivalWindow struct {
	small  []uint32  // ring buffer while every sample fits in 32 bits
	large  *[]uint64 // ring buffer once one did not; small is then nil
	size   int32     // capacity, in [1, maxWindowSize] once set
	oldest int32     // index of the oldest sample once the buffer is full
	sum    uint128   // Σx over samples
	sumSq  uint128   // Σx² over samples

	// mean is derived from the sums after every Add, so that reading it
	// (once per phi) costs nothing.
	mean float64
}

// NewArrivalWindow returns an empty window that holds at most size
// intervals. A size below 1 is taken as 1 and a size above 2^20 as 2^20.
// Memory for the intervals is allocated as they arrive, up to 4 bytes per
// interval while they fit in 32 bits (about 4.29 s), 8 bytes otherwise.
func NewArrivalWindow(size int) *ArrivalWindow {
	return &ArrivalWindow{size: int32(min(max(size, 1), maxWindowSize))}
}

// Add records one inter-arrival interval, evicting the oldest one if the
// window is full. A negative interval is recorded as 0 and one longer than
// 2^53 ns as 2^53 ns. Add is O(1) and does not allocate once the window has
// been full once.
func (w *ArrivalWindow) Add(interval time.Duration) {
	if w.size == 0 {
		w.size = defaultWindowSize
	}
	x := uint64(min(max(interval, 0), maxSample))
	if w.large == nil && x > math.MaxUint32 {
		large := make([]uint64, len(w.small), cap(w.small))
		for i, v := range w.small {
			large[i] = uint64(v)
		}
		w.large = &large
		w.small = nil
	}
	var old uint64
	var evicted bool
	if w.large != nil {
		*w.large, old, evicted = ringAdd(*w.large, w.size, &w.oldest, x)
	} else {
		var old32 uint32
		w.small, old32, evicted = ringAdd(w.small, w.size, &w.oldest, uint32(x))
		old = uint64(old32)
	}
	if evicted {
		w.sum = w.sum.sub(uint128{lo: old})
		w.sumSq = w.sumSq.sub(square64(old))
	}
	w.sum = w.sum.add(uint128{lo: x})
	w.sumSq = w.sumSq.add(square64(x))
	w.refresh()
}

// ringAdd adds x to the ring buf of capacity size whose oldest element is
// at *oldest once full, and returns the buffer and the element x evicted,
// if any. The buffer grows by doubling up to exactly size.
func ringAdd[T uint32 | uint64](buf []T, size int32, oldest *int32, x T) ([]T, T, bool) {
	if len(buf) < int(size) {
		if len(buf) == cap(buf) {
			grown := make([]T, len(buf), min(max(2*cap(buf), 4), int(size)))
			copy(grown, buf)
			buf = grown
		}
		return append(buf, x), 0, false
	}
	old := buf[*oldest]
	buf[*oldest] = x
	if *oldest++; int(*oldest) == len(buf) {
		*oldest = 0
	}
	return buf, old, true
}

// refresh recomputes the mean from the exact sums.
func (w *ArrivalWindow) refresh() {
	w.mean = float64(w.sum.float() / float64(w.Len()))
}

// Len returns the number of intervals in the window.
func (w *ArrivalWindow) Len() int {
	if w.large != nil {
		return len(*w.large)
	}
	return len(w.small)
}

// Mean returns the mean interval in nanoseconds, or 0 for an empty window.
func (w *ArrivalWindow) Mean() float64 {
	return w.mean
}

// Variance returns the population variance (divided by n, as in Akka) of the
// intervals in square nanoseconds, or 0 for an empty window. It is never
// negative.
func (w *ArrivalWindow) Variance() float64 {
	n := uint64(w.Len())
	if n == 0 {
		return 0
	}
	nf := float64(n)
	num := mul128by64(w.sumSq, n).sub(square128(w.sum))
	return float64(num.float() / float64(nf*nf))
}

// StdDev returns the population standard deviation of the intervals in
// nanoseconds, or 0 for an empty window.
func (w *ArrivalWindow) StdDev() float64 {
	return math.Sqrt(w.Variance())
}
