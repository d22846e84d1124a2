package sim

import (
	"context"
	"fmt"
	"math"
	"testing"
)

// benchSizes are the cluster sizes of the benchmarks: 100 and 1,000, or
// 100 alone with -short (so `go test -short -bench . -benchtime=1x` stays
// fast).
func benchSizes() []int {
	if testing.Short() {
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
				var r Report
				for b.Loop() {
					var err error
					if r, err = Run(context.Background(), s, Options{}); err != nil {
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
