package simcli

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// peakBytesPerView is what one node's record of one endpoint costs a run
// at its peak with the default GOGC: 395–437 B measured at 1,000 to 5,000
// nodes (docs/performance.md, "Simulator"), rounded up. A run holds one
// view per node and endpoint, N² in all.
const peakBytesPerView = 440

// baseBytes is what a run needs beyond the views: the runtime, the engine
// and its measurements.
const baseBytes = 64 << 20

// estimatePeak returns the peak memory a run of nodes nodes is expected
// to take.
func estimatePeak(nodes int) uint64 {
	n := uint64(nodes)
	return n*n*peakBytesPerView + baseBytes
}

// checkMemory refuses a run whose estimated peak exceeds available bytes
// (0: unknown, no check), naming the size that would fit: a run past the
// machine's memory is killed, or swaps, after minutes of work.
func checkMemory(nodes int, available uint64) error {
	need := estimatePeak(nodes)
	if available == 0 || need <= available {
		return nil
	}
	fit := 0
	if available > baseBytes {
		fit = int(math.Sqrt(float64(available-baseBytes) / peakBytesPerView))
	}
	return fmt.Errorf("--nodes %d needs about %s of memory at its peak (about %d B for each of the %d×%d records nodes keep of each other; docs/performance.md), "+
		"and this machine has %s available: run at most about %d nodes, or pass --force to try anyway",
		nodes, gib(need), peakBytesPerView, nodes, nodes, gib(available), fit)
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// AvailableMemory returns the memory the machine has available for new
// work (MemAvailable in /proc/meminfo), or 0 where it cannot tell.
func AvailableMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseMemAvailable(bufio.NewScanner(f))
}

// parseMemAvailable reads the MemAvailable line ("MemAvailable: 123 kB")
// of a /proc/meminfo, or returns 0.
func parseMemAvailable(sc *bufio.Scanner) uint64 {
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "MemAvailable" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil || kb > math.MaxUint64>>10 {
			return 0
		}
		return kb << 10
	}
	return 0
}
