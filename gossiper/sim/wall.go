package sim

import (
	"runtime"
	"time"
)

// The simulator's only contact with the real world: the wall clock for
// Report.WallSeconds and Progress.Elapsed, and the Go heap for
// Report.PeakMemoryBytes. Neither feeds back into the run.

func wallNow() time.Time { return time.Now() }

func wallSince(t time.Time) time.Duration { return time.Since(t) }

// heapBytes returns the bytes of live and not yet collected heap objects.
func heapBytes() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
