package failuredetector

import (
	"math/rand/v2"
	"testing"
	"time"
)

// benchDetector returns a Detector for model whose endpoint has a full
// window of jittered one-second intervals, the state of a long-lived peer,
// and the jittered intervals to keep reporting with.
func benchDetector(b *testing.B, model Model) (*Detector, []time.Duration, time.Time) {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Model = model
	d, err := NewDetector(cfg)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	gaps := make([]time.Duration, 1024)
	for i := range gaps {
		gaps[i] = 900*time.Millisecond + time.Duration(r.Int64N(int64(200*time.Millisecond)))
	}
	now := at(0)
	for i := range 2 * cfg.WindowSize {
		now = now.Add(gaps[i%len(gaps)])
		d.Report(benchEndpoint, now)
	}
	return d, gaps, now
}

const benchEndpoint = "10.0.0.1:7000"

func BenchmarkReport(b *testing.B) {
	for _, model := range []Model{Exponential, Normal, Akka} {
		b.Run(model.String(), func(b *testing.B) {
			d, gaps, now := benchDetector(b, model)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now = now.Add(gaps[i&1023])
				d.Report(benchEndpoint, now)
				i++
			}
		})
	}
}

func BenchmarkPhi(b *testing.B) {
	for _, model := range []Model{Exponential, Normal, Akka} {
		b.Run(model.String(), func(b *testing.B) {
			d, gaps, last := benchDetector(b, model)
			b.ReportAllocs()
			i := 0
			var sink float64
			for b.Loop() {
				// Silences between 0.9 s and 4.5 s: the body and the tail.
				sink += d.Phi(benchEndpoint, last.Add(gaps[i&1023]*time.Duration(1+i&3)))
				i++
			}
			_ = sink
		})
	}
}
