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

// heapBytes returns the memory the Go runtime holds from the OS and has
// not returned (heap, stacks and runtime structures): close to the
// process's resident size.
func heapBytes() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys - ms.HeapReleased
}
