// Command convictiontable prints the time-to-conviction tables of
// docs/failure-detection.md as Markdown:
//
//	go run ./failuredetector/cmd/convictiontable
//
// It drives real failuredetector.Detector values with a fake clock: steady
// heartbeats exactly one interval apart, then silence. The time to
// conviction is the shortest silence after which phi exceeds the
// threshold, found by bisection to the nanosecond and printed in mean
// intervals. Every Config is DefaultConfig (a 1 s interval); because
// DefaultConfigFor scales every duration with the interval, the numbers
// hold for any gossip interval. A test compares the output with the
// document, so the two cannot drift apart.
package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
)

func main() {
	fmt.Print(tables())
}

// thresholds are the rows of both tables.
var thresholds = []float64{1, 2, 3, 5, 8, 10, 12, 16}

// column is one model and acceptable pause (Exponential ignores the pause).
type column struct {
	title string
	model failuredetector.Model
	pause time.Duration
}

// columns returns the columns of both tables.
func columns() []column {
	pause := failuredetector.DefaultConfig().AcceptablePause
	inIntervals := float64(pause) / float64(interval)
	return []column{
		{"exponential", failuredetector.Exponential, pause},
		{"normal (pause 0)", failuredetector.Normal, 0},
		{fmt.Sprintf("normal (pause %g)", inIntervals), failuredetector.Normal, pause},
		{"akka (pause 0)", failuredetector.Akka, 0},
		{fmt.Sprintf("akka (pause %g)", inIntervals), failuredetector.Akka, pause},
	}
}

// interval is the steady heartbeat interval of the simulation.
const interval = time.Second

// tables returns the Markdown of both tables, as it appears in the document.
func tables() string {
	var b strings.Builder
	b.WriteString("Steady state: the window holds only steady intervals (σ = 0, so Normal and Akka use σ′ = MinStdDev = 0.1 intervals).\n\n")
	table(&b, false)
	b.WriteString("\nRight after the first heartbeat: the window holds only the bootstrap (Exponential: one synthetic interval of InitialInterval = 2 intervals; Normal and Akka: 0.75 and 1.25 intervals, σ = 0.25).\n\n")
	table(&b, true)
	return b.String()
}

// table writes one table: time to conviction in mean intervals, per
// threshold and column.
func table(b *strings.Builder, firstHeartbeat bool) {
	cols := columns()
	b.WriteString("| threshold |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c.title)
	}
	b.WriteString("\n|---:|")
	b.WriteString(strings.Repeat("---:|", len(cols)))
	b.WriteString("\n")
	for _, th := range thresholds {
		fmt.Fprintf(b, "| %g |", th)
		for _, c := range cols {
			fmt.Fprintf(b, " %.2f |", timeToConviction(c, th, firstHeartbeat).Seconds()/interval.Seconds())
		}
		b.WriteString("\n")
	}
}

// timeToConviction returns the shortest silence after the last heartbeat
// at which the detector's phi exceeds the threshold.
func timeToConviction(c column, threshold float64, firstHeartbeat bool) time.Duration {
	cfg := failuredetector.DefaultConfigFor(interval)
	cfg.Model = c.model
	cfg.AcceptablePause = c.pause
	cfg.PhiConvictThreshold = threshold
	d, err := failuredetector.NewDetector(cfg)
	if err != nil {
		panic(err) // DefaultConfig is valid; this is a broken invariant
	}
	epoch := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	last := epoch
	d.Report("peer", last)
	if !firstHeartbeat {
		// 20·WindowSize more heartbeats push every bootstrap interval out
		// of a window, and leave it a weight below 10^-17 in a decaying
		// estimate (the default).
		for range 20 * cfg.WindowSize {
			last = last.Add(interval)
			d.Report("peer", last)
		}
	}
	lo, hi := time.Duration(0), 1000*interval
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if d.Phi("peer", last.Add(mid)) > threshold {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
