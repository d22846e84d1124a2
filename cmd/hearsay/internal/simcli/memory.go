package simcli

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// A run holds one view per node and endpoint, N² in all (every node's
// record of every other), and a little per node. liveBytesPerView and
// liveBytesPerNode fit the live heap BenchmarkViewMemory measured at
// 1,000 and 2,000 nodes (157.5 and 141.3 B a view: 131 B a view plus
// 16,000 B a node plus the empty tail of each node's last chunk of
// records; docs/performance.md, "Simulator"), rounded up.
const (
	liveBytesPerView = 131
	liveBytesPerNode = 16000
)

// A node keeps its records in chunks of recordsPerChunk records of
// recordBytes (gossiper/core's records, chunkLen and TestRecordSize):
// the slots past the last endpoint in its last chunk are allocated too.
const (
	recordsPerChunk = 136
	recordBytes     = 120
)

// chunkTailBytes is the empty tail of a node's last chunk of records in
// a run of nodes nodes.
func chunkTailBytes(nodes uint64) uint64 {
	return (recordsPerChunk - nodes%recordsPerChunk) % recordsPerChunk * recordBytes
}

// baseBytes is what a run needs beyond the views and nodes: the runtime,
// the engine and its measurements.
const baseBytes = 64 << 20

// headroomPercent is the garbage a run may hold beyond its live heap at
// its peak: the soft memory limit a large run sets (see memoryLimit)
// keeps the collector's peak there.
const headroomPercent = 8

// estimatePeak returns the peak memory a run of nodes nodes is expected
// to take.
func estimatePeak(nodes int) uint64 {
	n := uint64(nodes)
	live := n*n*liveBytesPerView + n*(liveBytesPerNode+chunkTailBytes(n)) + baseBytes
	return live + live*headroomPercent/100
}

// bytesPerView is what a view costs at the peak, for the refusal's
// message and the size that fits.
const bytesPerView = liveBytesPerView * (100 + headroomPercent) / 100

// limitFrom is the smallest estimate for which a run sets a soft memory
// limit: a smaller run's collector keeps its default pacing (twice the
// live heap), which a small heap affords.
const limitFrom = 1 << 30

// memoryLimit returns the soft memory limit (runtime/debug.SetMemoryLimit)
// a run of nodes nodes sets, and false if it sets none: its estimated
// peak, from limitFrom on. The views are nearly all of a large run's
// heap and its rounds make little garbage, so the collector, paced by
// the default GOGC, would let the heap grow to twice the live views
// before collecting; the limit makes it collect near the live heap
// instead, at the cost of a few more collections. A limit from the
// environment (GOMEMLIMIT) is left as it is.
func memoryLimit(nodes int, envLimit string) (int64, bool) {
	est := estimatePeak(nodes)
	if envLimit != "" || est < limitFrom || est > math.MaxInt64 {
		return 0, false
	}
	return int64(est), true
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
	for fit < nodes && estimatePeak(fit+1) <= available {
		fit++
	}
	return fmt.Errorf("--nodes %d needs about %s of memory at its peak (about %d B for each of the %d×%d records nodes keep of each other; docs/performance.md), "+
		"and this machine has %s available: run at most about %d nodes, or pass --force to try anyway",
		nodes, gib(need), bytesPerView, nodes, nodes, gib(available), fit)
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
