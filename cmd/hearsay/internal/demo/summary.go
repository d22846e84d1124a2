package demo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Write prints the summary for a reader: one line per measurement, or
// "not measured" for what an interrupted run did not reach.
func (s Summary) Write(w io.Writer) {
	var b strings.Builder
	interval := float64(s.Interval)
	rounds := func(t time.Duration) string { return fmt.Sprintf("%.1f rounds", float64(t)/interval) }
	line := func(label, text string) {
		if label != "" {
			label += ":"
		}
		fmt.Fprintf(&b, "  %-19s %s\n", label, text)
	}
	notMeasured := "not measured (interrupted)"
	fmt.Fprintf(&b, "\nSummary: %d nodes, gossip interval %s, phi threshold %g (%s model)\n",
		s.Nodes, s.Interval, s.Threshold, s.Model)
	if s.Convergence > 0 {
		line("convergence", fmt.Sprintf("all %d nodes saw each other up %s after the first start (%s)",
			s.Nodes, seconds(s.Convergence), rounds(s.Convergence)))
	} else {
		line("convergence", notMeasured)
	}
	if s.Propagation > 0 {
		line("state propagation", fmt.Sprintf("one change reached every node in %s (%s)", seconds(s.Propagation), rounds(s.Propagation)))
	} else {
		line("state propagation", notMeasured)
	}
	if s.AllConvicted > 0 {
		lo, hi, phiLo, phiHi := spanOf(s.Convictions)
		line("crash detection", fmt.Sprintf("%s convicted by %d peers %s to %s after the crash (%s to %s); phi at conviction %.2f to %.2f",
			s.Crashed, len(s.Convictions), seconds(lo), seconds(hi), rounds(lo), rounds(hi), phiLo, phiHi))
		line("", fmt.Sprintf("every peer saw it down after %s", seconds(s.AllConvicted)))
	} else {
		line("crash detection", notMeasured)
	}
	if s.Recovery > 0 {
		line("recovery", fmt.Sprintf("%s back in generation %d (was %d); every node saw it up %s after the restart (%s)",
			s.Crashed, s.NewGeneration, s.OldGeneration, seconds(s.Recovery), rounds(s.Recovery)))
	} else {
		line("recovery", notMeasured)
	}
	if s.Rounds > 0 {
		r := float64(s.Rounds)
		var types []string
		for _, t := range slices.Sorted(maps.Keys(s.ByType)) {
			types = append(types, fmt.Sprintf("%s %.2f", t, float64(s.ByType[t])/r))
		}
		line("traffic", fmt.Sprintf("%.2f messages, %.0f bytes sent per node per round (%s)",
			float64(s.Messages)/r, float64(s.Bytes)/r, strings.Join(types, ", ")))
	} else {
		line("traffic", notMeasured)
	}
	_, _ = io.WriteString(w, b.String())
}
