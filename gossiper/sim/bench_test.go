package sim

import (
	"context"
	"flag"
	"fmt"
	"math"
	"runtime"
	"testing"
)

// Flags for larger runs of BenchmarkConvergence, e.g.
//
//	go test -run '^$' -bench 'Convergence/nodes=2000/digests' -benchtime=1x ./gossiper/sim/ -sim.nodes=2000 -sim.rounds=12 -sim.skipdecode
var (
	benchNodes      = flag.Int("sim.nodes", 0, "BenchmarkConvergence: this cluster size instead of 100 and 1,000")
	benchRounds     = flag.Int("sim.rounds", 0, "BenchmarkConvergence: this many rounds instead of 60 (40 from 1,000 nodes)")
	benchSkipDecode = flag.Bool("sim.skipdecode", false, "BenchmarkConvergence: Options.SkipDecode")
	benchKeep       = flag.Bool("sim.keep", false, "BenchmarkConvergence: Scenario.KeepConnections")
	benchUpdates    = flag.Int("sim.updateevery", 0, "BenchmarkConvergence: Scenario.UpdateEvery instead of 1")
	benchWorkers    = flag.Int("sim.workers", 0, "BenchmarkConvergence: Options.Workers (0: one per CPU)")
)

// benchSizes are the cluster sizes of the benchmarks: 100 and 1,000, or
// 100 alone with -short (so `go test -short -bench . -benchtime=1x` stays
// fast), or -sim.nodes.
func benchSizes() []int {
	switch {
	case *benchNodes > 0:
		return []int{*benchNodes}
	case testing.Short():
		return []int{100}
	}
	return []int{100, 1000}
}

// BenchmarkConvergence runs a clean cluster with an update every round,
// with digests alone (push_fanout -1) and with push (the default), and
// reports how many rounds one update takes to reach every node (p50, p99,
// max) beside the push-pull theory log₃N + ln ln N, the bytes and messages
// a node sends per round, the peak memory and the wall time.
//
//	go test -run '^$' -bench Convergence -benchtime=1x ./gossiper/sim/
func BenchmarkConvergence(b *testing.B) {
	for _, n := range benchSizes() {
		for _, mode := range []struct {
			name string
			push int
		}{{"digests", -1}, {"push", 0}} {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, mode.name), func(b *testing.B) {
				s := DefaultScenario()
				s.Nodes, s.PushFanout, s.UpdateEvery = n, mode.push, 1
				s.Rounds = 60
				if n >= 1000 {
					s.Rounds = 40
				}
				if *benchRounds > 0 {
					s.Rounds = *benchRounds
				}
				if *benchUpdates != 0 {
					s.UpdateEvery = *benchUpdates
				}
				s.KeepConnections = *benchKeep
				var r Report
				for b.Loop() {
					var err error
					if r, err = Run(context.Background(), s, Options{SkipDecode: *benchSkipDecode, Workers: *benchWorkers}); err != nil {
						b.Fatal(err)
					}
				}
				if len(r.Violations) > 0 {
					b.Fatalf("violations: %v", r.Violations)
				}
				b.ReportMetric(r.RoundsToConverge.P50, "rounds_p50")
				b.ReportMetric(r.RoundsToConverge.P99, "rounds_p99")
				b.ReportMetric(r.RoundsToConverge.Max, "rounds_max")
				b.ReportMetric(math.Log(float64(n))/math.Log(3)+math.Log(math.Log(float64(n))), "theory_rounds")
				b.ReportMetric(float64(r.Updates-r.UpdatesUnconverged), "updates")
				b.ReportMetric(r.BytesPerNodePerRound.Mean, "B/node/round")
				b.ReportMetric(r.MessagesPerNodePerRound, "msgs/node/round")
				b.ReportMetric(float64(r.PeakMemoryBytes)/(1<<20), "peak_MiB")
				b.ReportMetric(r.WallSeconds, "wall_s")
			})
		}
	}
}

// BenchmarkDecode compares delivering the decoded frame (what Run does:
// every message is encoded by the sender and decoded by the receiver, as
// on a connection) with handing the receiver the sender's envelope (the
// encoding still counted): the cost of decoding in the simulator.
//
//	go test -run '^$' -bench Decode -benchtime=3x ./gossiper/sim/
func BenchmarkDecode(b *testing.B) {
	n := 300
	if testing.Short() {
		n = 100
	}
	for _, decode := range []bool{true, false} {
		b.Run(fmt.Sprintf("nodes=%d/decode=%t", n, decode), func(b *testing.B) {
			s := DefaultScenario()
			s.Nodes, s.Rounds = n, 10
			for b.Loop() {
				if _, err := run(context.Background(), s, Options{}, decode); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkViewMemory measures the live heap a simulation holds per
// endpoint view (every node's record of every other: N² views), after a
// collection at round 5 of 6 (push on, one update a round, decoding
// off), less the heap before the run: the figure that decides the
// largest N that fits in memory (docs/performance.md, "Simulator
// (issue 13)").
//
//	go test -run '^$' -bench ViewMemory -benchtime=1x ./gossiper/sim/ -sim.nodes=1000
func BenchmarkViewMemory(b *testing.B) {
	n := 500
	if *benchNodes > 0 {
		n = *benchNodes
	}
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.UpdateEvery = n, 6, 1
	var ms runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var live uint64
		opt := Options{SkipDecode: true, Progress: func(p Progress) {
			if p.Round == 5 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				live = ms.HeapAlloc - base
			}
		}}
		r, err := Run(context.Background(), s, opt)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Violations) > 0 {
			b.Fatalf("violations: %v", r.Violations)
		}
		if live == 0 {
			b.Fatal("no progress report at round 5")
		}
		b.ReportMetric(float64(live)/float64(n*n), "B/view")
		b.ReportMetric(float64(live)/(1<<20), "live_MiB")
		b.ReportMetric(float64(r.PeakMemoryBytes)/(1<<20), "peak_MiB")
	}
}
