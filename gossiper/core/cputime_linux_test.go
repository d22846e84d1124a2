package core

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// clockThreadCPU is Linux's CLOCK_THREAD_CPUTIME_ID: the calling thread's
// CPU time, to the nanosecond.
const clockThreadCPU = 3

// cpuClock measures the CPU time of the benchmarking goroutine's thread,
// which, unlike b.Elapsed, does not count the time the machine spent on
// other work: on a shared, loaded machine it is the steadier figure.
type cpuClock struct {
	b     *testing.B
	start time.Duration
}

// startCPU locks the goroutine to its thread and starts the clock.
func startCPU(b *testing.B) *cpuClock {
	runtime.LockOSThread()
	return &cpuClock{b: b, start: threadCPU()}
}

// report unlocks the thread and reports the CPU time per op, cpu-ns/op.
func (c *cpuClock) report() {
	used := threadCPU() - c.start
	runtime.UnlockOSThread()
	c.b.ReportMetric(float64(used.Nanoseconds())/float64(c.b.N), "cpu-ns/op")
}

func threadCPU() time.Duration {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPU, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
