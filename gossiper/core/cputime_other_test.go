//go:build !linux

package gossiper

import "testing"

// cpuClock reports nothing where thread CPU time is not available.
type cpuClock struct{}

func startCPU(*testing.B) *cpuClock { return &cpuClock{} }

func (*cpuClock) report() {}
