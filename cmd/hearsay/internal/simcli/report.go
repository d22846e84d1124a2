package simcli

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/simplot"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// defaultPhi is the conviction threshold a Scenario's Phi 0 stands for.
const defaultPhi = 8

// writeReport prints rep for people: what ran, then one line per figure.
func writeReport(w io.Writer, s sim.Scenario, rep sim.Report) error {
	model := s.FDModel
	if model == "" {
		model = "exponential"
	}
	push := "push-on-change"
	if s.PushFanout < 0 {
		push = "digest rounds alone"
	}
	fmt.Fprintf(w, "hearsay sim: %d nodes, seed %d, %d rounds of %s, fanout %d, %s\n",
		rep.Nodes, rep.Seed, rep.Rounds, s.Interval, max(s.Fanout, 1), push)
	fmt.Fprintf(w, "network: latency %s ± %s, loss %s, duplicate %s, reorder %s; failure detector %s, phi %g; %d events\n\n",
		s.Network.Latency, s.Network.Jitter, percent(s.Network.Loss), percent(s.Network.Duplicate),
		percent(s.Network.Reorder), model, phiOf(s), len(s.Events))

	inStep := simplot.RoundsToAll(simplot.PushPull(rep.Nodes, s.Fanout, 200), rep.Nodes)
	async := simplot.RoundsToAll(simplot.PushPullAsync(rep.Nodes, s.Fanout, 200), rep.Nodes)
	converged := "yes"
	if !rep.Converged {
		converged = "NO"
	}
	violations := "none"
	if len(rep.Violations) > 0 {
		violations = fmt.Sprintf("%d: %s", len(rep.Violations), strings.Join(rep.Violations, "; "))
	}
	rows := [][]string{
		{"rounds to converge", quantiles(rep.RoundsToConverge), fmt.Sprintf("(push-pull theory, digests alone: %d rounds in step, %d at random phases)", inStep, async)},
		{"bytes/node/round", fmt.Sprintf("mean %s  max %s", number(rep.BytesPerNodePerRound.Mean), number(rep.BytesPerNodePerRound.Max)), ""},
		{"messages/node/round", number(rep.MessagesPerNodePerRound), ""},
		{"updates", fmt.Sprintf("%d made, %d did not reach every live node", rep.Updates, rep.UpdatesUnconverged), ""},
		{"false convictions", fmt.Sprint(rep.FalseConvictions), fmt.Sprintf("(of %d convictions; a node down, paused or cut off is convicted rightly)", rep.Convictions)},
		{"detection rounds", quantiles(rep.DetectionRounds), "(crash → convicted by every live node)"},
		{"peak memory", byteSize(rep.PeakMemoryBytes), ""},
		{"wall time", (time.Duration(rep.WallSeconds * float64(time.Second))).Round(time.Millisecond).String(), ""},
		{"converged at the end", converged, ""},
		{"recovery", recovery(rep), "(last fault over → every live node holds the same states)"},
		{"invariant violations", violations, ""},
	}
	if len(rep.Findings) > 0 {
		rows = append(rows, []string{"findings", strings.Join(rep.Findings, "; "), "(known protocol limitations the run hit)"})
	}
	return term.Table(w, rows, nil)
}

// recovery prints Report.RecoveryRounds against its bound.
func recovery(rep sim.Report) string {
	if rep.RecoveryRounds < 0 {
		return fmt.Sprintf("none: faults (message loss included) lasted to the end, or it took over %d rounds", rep.ConvergeBound)
	}
	unit := "rounds"
	if rep.RecoveryRounds == 1 {
		unit = "round"
	}
	return fmt.Sprintf("%d %s (bound 2·log₃N + 5 = %d)", rep.RecoveryRounds, unit, rep.ConvergeBound)
}

func phiOf(s sim.Scenario) float64 {
	if s.Phi == 0 {
		return defaultPhi
	}
	return s.Phi
}

// quantiles prints q, or "none" when it holds no sample (all zero or NaN).
func quantiles(q sim.Quantiles) string {
	if math.IsNaN(q.P50) || math.IsNaN(q.Max) || (q.P50 == 0 && q.P99 == 0 && q.Max == 0) {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p99 %s  max %s", number(q.P50), number(q.P99), number(q.Max))
}

// number prints v without a trailing ".0": whole numbers as such, others
// with one decimal, or three significant digits below 1 (a push reaches
// every node in a few milliseconds: 0.00312 rounds).
func number(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) < 1:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return fmt.Sprintf("%.1f", v)
}

func percent(v float64) string {
	return fmt.Sprintf("%g %%", math.Round(v*1e4)/100)
}

func byteSize(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// plotRun draws the figures of one run into dir: the spread of updates
// beside the push-pull theory and, when a node crashed, phi of that node at
// one observer. It returns the paths written, and a note for each figure
// the run had no data for.
func plotRun(dir string, s sim.Scenario, rep sim.Report) (paths, notes []string, err error) {
	if len(rep.Spread) == 0 {
		notes = append(notes, "no spread figure: the run made no update (see --update-every)")
	} else {
		paths, err = simplot.Spread(dir, simplot.SpreadInput{
			Nodes: rep.Nodes, Fanout: s.Fanout, Push: s.PushFanout >= 0, Spread: rep.Spread,
		})
		if err != nil {
			return paths, notes, err
		}
	}
	if len(rep.PhiTrace) == 0 {
		return paths, append(notes, "no phi figure: no node crashed (add a crash event with --scenario)"), nil
	}
	trace := make([]simplot.PhiPoint, len(rep.PhiTrace))
	for i, p := range rep.PhiTrace {
		trace[i] = simplot.PhiPoint{Seconds: p.Time.Seconds(), Phi: p.Phi}
	}
	in := simplot.PhiInput{Trace: trace, Threshold: phiOf(s), Model: s.FDModel}
	for _, e := range s.Events {
		if e.Kind == "crash" {
			in.CrashAt = (time.Duration(e.Round) * s.Interval).Seconds()
			break
		}
	}
	more, err := simplot.Phi(dir, in)
	return append(paths, more...), notes, err
}
