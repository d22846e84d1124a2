package demo

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Write prints the summary for a reader: one entry per measurement, or
// "not measured" for what an interrupted run did not reach. Lines stay
// under 100 columns.
func (s Summary) Write(w io.Writer) {
	var b strings.Builder
	took := func(t time.Duration) string {
		return fmt.Sprintf("%s (%.1f rounds)", seconds(t), float64(t)/float64(s.Interval))
	}
	entry := func(label string, measured bool, lines ...string) {
		if !measured {
			lines = []string{"not measured (interrupted)"}
		}
		for i, l := range lines {
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(&b, "  %-18s %s\n", label, l)
		}
	}
	fmt.Fprintf(&b, "\nSummary: %d nodes, gossip interval %s, phi threshold %g (%s model)\n",
		s.Nodes, s.Interval, s.Threshold, s.Model)
	if s.Keyring != "" {
		entry("security", s.Convergence > 0,
			"gossip sealed with AES-256-GCM under a new keyring (deleted at the end),",
			s.Keyring+";",
			fmt.Sprintf("a node without the key was refused %d times and listed by %s", s.IntruderRefused,
				map[bool]string{false: "nobody", true: "some node"}[s.IntruderListed]))
	}
	entry("convergence", s.Convergence > 0,
		fmt.Sprintf("%s from the first start until all %d nodes saw each other up", took(s.Convergence), s.Nodes))
	entry("state change", s.Propagation > 0,
		fmt.Sprintf("%s until one change had reached every node", took(s.Propagation)))
	lo, hi, phiLo, phiHi := spanOf(s.Convictions)
	entry("crash detection", s.AllConvicted > 0,
		fmt.Sprintf("%s crashed; its %d peers convicted it %s to %s later", s.Crashed, len(s.Convictions), seconds(lo), seconds(hi)),
		fmt.Sprintf("(%.1f to %.1f rounds), at phi %.2f to %.2f", float64(lo)/float64(s.Interval), float64(hi)/float64(s.Interval), phiLo, phiHi))
	entry("recovery", s.Recovery > 0,
		fmt.Sprintf("%s from the restart until every node saw %s up again,", took(s.Recovery), s.Crashed),
		fmt.Sprintf("in generation %d (was %d)", s.NewGeneration, s.OldGeneration))
	var perType []string
	for _, t := range []string{"syn", "ack", "ack2", "echo", "echo_reply"} {
		if n := s.ByType[t]; n > 0 {
			perType = append(perType, fmt.Sprintf("%s %.2f", t, float64(n)/float64(s.Rounds)))
		}
	}
	entry("traffic", s.Rounds > 0,
		fmt.Sprintf("%.2f messages and %.0f bytes sent per node per round", float64(s.Messages)/float64(max(s.Rounds, 1)),
			float64(s.Bytes)/float64(max(s.Rounds, 1))),
		"("+strings.Join(perType, ", ")+")")
	entry("graceful shutdown", s.ShutdownSeen > 0,
		fmt.Sprintf("%s after %s announced it, every peer saw it down", took(s.ShutdownSeen), s.Stopped))
	_, _ = io.WriteString(w, b.String())
}
