package failuredetector_test

import (
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
)

// A gossip loop reports each newer heartbeat and interprets every round.
// Here a fake clock stands in for the loop's monotonic clock: a peer
// heartbeats every second for a minute and then falls silent. Under the
// default exponential model it is convicted after 8 · ln 10 ≈ 18.4 s.
func Example() {
	d, err := failuredetector.NewDetector(failuredetector.DefaultConfig())
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	for s := range 61 {
		d.Report("10.0.0.2:7000", start.Add(time.Duration(s)*time.Second))
	}
	last := start.Add(time.Minute)
	for silence := time.Second; silence <= 30*time.Second; silence += time.Second {
		now := last.Add(silence)
		phi := d.Phi("10.0.0.2:7000", now)
		if d.Interpret("10.0.0.2:7000", now) {
			fmt.Printf("convicted after %v of silence, phi %.2f\n", silence, phi)
			break
		}
		if silence%(5*time.Second) == 0 {
			fmt.Printf("after %v: phi %.2f\n", silence, phi)
		}
	}
	// Output:
	// after 5s: phi 2.14
	// after 10s: phi 4.27
	// after 15s: phi 6.41
	// convicted after 19s of silence, phi 8.12
}

// The three models read the same silence very differently. Each detector
// has seen one heartbeat a second for a minute; with the default 3 s
// acceptable pause and σ′ = MinStdDev = 100 ms, 4.5 s of silence is five
// standard deviations past μ′ = 4 s for Normal and Akka.
func ExampleModel() {
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range []failuredetector.Model{failuredetector.Exponential, failuredetector.Normal, failuredetector.Akka} {
		cfg := failuredetector.DefaultConfig()
		cfg.Model = m
		d, err := failuredetector.NewDetector(cfg)
		if err != nil {
			panic(err)
		}
		for s := range 61 {
			d.Report("peer", start.Add(time.Duration(s)*time.Second))
		}
		now := start.Add(time.Minute + 4500*time.Millisecond)
		fmt.Printf("%-11s phi after 4.5 s of silence: %.2f\n", m, d.Phi("peer", now))
	}
	// Output:
	// exponential phi after 4.5 s of silence: 1.92
	// normal      phi after 4.5 s of silence: 6.54
	// akka        phi after 4.5 s of silence: 7.30
}

// Snapshot is the read-only view for display; phi is clamped so that it
// is always finite.
func ExampleDetector_Snapshot() {
	cfg := failuredetector.DefaultConfig()
	cfg.Model = failuredetector.Akka
	d, err := failuredetector.NewDetector(cfg)
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	d.Report("b", start)
	d.Report("a", start)
	d.Report("a", start.Add(time.Second))
	for _, s := range d.Snapshot(start.Add(time.Hour)) {
		fmt.Printf("%s: phi %g, mean %v, stddev %v, samples %d\n", s.Endpoint, s.Phi, s.Mean, s.StdDev, s.Samples)
	}
	// Output:
	// a: phi 1000, mean 1s, stddev 204.124145ms, samples 3
	// b: phi 1000, mean 1s, stddev 250ms, samples 2
}
