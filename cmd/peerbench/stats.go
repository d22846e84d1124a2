package main

import (
	"slices"
	"syscall"
	"time"
)

// summarize returns the min, median and max of ds (nearest rank), with
// len(ds) of want completed.
func summarize(ds []time.Duration, want int) dist {
	d := dist{Count: len(ds), Want: want}
	if len(ds) == 0 {
		return d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	// The median is over all want observations, the missing ones counted
	// as later than every completed one: -1 when half or more are missing.
	d.MinMS, d.P50MS, d.MaxMS = ms(s[0]), -1, ms(s[len(s)-1])
	if rank := (max(want, len(s)) - 1) / 2; rank < len(s) {
		d.P50MS = ms(s[rank])
	}
	return d
}

// cpuTime is the process's CPU time so far, user plus system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit lifts the soft open-files limit to the hard one: N nodes
// in one process hold many sockets.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}
