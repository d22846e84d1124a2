package core

import (
	"slices"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
)

// fastSetting is the documented "fast" setting (docs/operations.md):
// 200 ms rounds, the Akka model, threshold 8, the rest default.
func fastSetting(c *NodeConfig) {
	c.Interval = 200 * time.Millisecond
	c.FailureDetector = failuredetector.DefaultConfigFor(c.Interval)
	c.FailureDetector.Model = failuredetector.Akka
}

// fastRun is what one simulated run of the fast setting measured.
type fastRun struct {
	falseConvictions int
	detect           []time.Duration // per crash: the last survivor's conviction
	first            []time.Duration // per crash: the first survivor's
}

// simulateFast runs n nodes with the fast setting in virtual time: 1 to 5
// ms of latency per message, ±20 ms of jitter on every tick, steady for
// steady (counting every dead event as a false conviction), then crashes
// crashes nodes one after the other (no Shutdown: they fall silent) and
// measures when the first and the last survivor convict each.
func simulateFast(tb testing.TB, n int, steady time.Duration, crashes int) fastRun {
	s := newPushSim(tb, n, 200*time.Millisecond, fastSetting)
	s.latency, s.spread, s.jitter = time.Millisecond, 4*time.Millisecond, 20*time.Millisecond
	s.converge()
	s.runFor(10 * time.Second)
	var r fastRun
	count := func(from time.Time) int {
		dead := 0
		for _, evs := range s.events {
			for _, e := range evs {
				if e.Kind == EventDead && !e.Time.Before(from) {
					dead++
				}
			}
		}
		return dead
	}
	start := s.now
	s.runFor(steady)
	r.falseConvictions = count(start)
	for c := range crashes {
		victim := s.nodes[n-1-c*7%n]
		s.down[victim.Addr()] = true
		crashed := s.now
		s.runFor(30 * time.Second)
		var seen []time.Duration
		for _, node := range s.nodes {
			if s.down[node.Addr()] {
				continue
			}
			for _, e := range s.events[node.ID()] {
				if e.Kind == EventDead && e.Endpoint == victim.ID() && !e.Time.Before(crashed) {
					seen = append(seen, e.Time.Sub(crashed))
					break
				}
			}
		}
		if len(seen) < n-1-c {
			tb.Fatalf("crash %d: %d of %d survivors convicted %s within 30 s", c, len(seen), n-1-c, victim.ID())
		}
		slices.Sort(seen)
		r.first, r.detect = append(r.first, seen[0]), append(r.detect, seen[len(seen)-1])
		// Convictions of anyone else during the crash phase are false.
		for _, node := range s.nodes {
			for _, e := range s.events[node.ID()] {
				if e.Kind == EventDead && !e.Time.Before(crashed) && !s.isDown(e.Endpoint) {
					r.falseConvictions++
				}
			}
		}
	}
	return r
}

func (s *pushSim) isDown(id string) bool {
	for _, n := range s.nodes {
		if n.ID() == id {
			return s.down[n.Addr()]
		}
	}
	return false
}

// BenchmarkFastSetting measures the fast setting at N = 64 over a
// 10-minute steady run and 5 crashes (20 s and 2 with -short), reporting the
// false convictions and the last survivor's detection time (mean and
// worst) in virtual time:
//
//	go test -run '^$' -bench FastSetting -benchtime 1x ./gossiper/core/
func BenchmarkFastSetting(b *testing.B) {
	steady, crashes := 10*time.Minute, 5
	if testing.Short() {
		steady, crashes = 20*time.Second, 2
	}
	for range b.N {
		r := simulateFast(b, 64, steady, crashes)
		var sum, worst, first time.Duration
		for i, d := range r.detect {
			sum += d
			worst = max(worst, d)
			first += r.first[i]
		}
		b.ReportMetric(float64(r.falseConvictions), "false-convictions")
		b.ReportMetric((sum / time.Duration(len(r.detect))).Seconds(), "s-last-survivor-mean")
		b.ReportMetric(worst.Seconds(), "s-last-survivor-max")
		b.ReportMetric((first / time.Duration(len(r.first))).Seconds(), "s-first-survivor-mean")
		b.Logf("N=64, %v steady: %d false convictions; crashes: first survivor %v, last survivor %v",
			steady, r.falseConvictions, r.first, r.detect)
	}
}
