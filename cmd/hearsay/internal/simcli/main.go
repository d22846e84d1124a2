// Package simcli is "hearsay sim" and "hearsay sim tune-phi": it runs the
// deterministic simulator of package gossiper/sim from the command line,
// prints its report (for people, or as JSON), shows progress on a
// terminal, and draws the figures of package simplot.
//
// docs/simulator.md and docs/tuning.md are the user's guides.
package simcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// Env is where the subcommands write and what they know of their
// terminal.
type Env struct {
	// Stdout receives the report; Stderr errors, usage and progress.
	Stdout, Stderr io.Writer
	// Live shows progress on Stderr, rewriting one line: set it when
	// Stderr is a terminal.
	Live bool
	// MemAvailable is the memory, in bytes, the machine has available for
	// the run (see [AvailableMemory]); a run whose estimated peak exceeds
	// it is refused unless --force is given. 0: unknown, no check.
	MemAvailable uint64
}

// Main runs "hearsay sim" (or "hearsay sim tune-phi" when args[0] is
// "tune-phi") and returns the exit status: 0 when the run finished with
// no invariant violated, 1 when it failed or found violations, 2 for bad
// flags or a bad scenario, in which case nothing ran.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "tune-phi" {
		return tuneMain(ctx, args[1:], env)
	}
	fs := flag.NewFlagSet("hearsay sim", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	r := scenarioFlags(fs)
	fs.StringVar(&r.file, "scenario", "", "read the scenario from this JSON `file` (docs/simulator.md); flags given explicitly override its values")
	fs.BoolVar(&r.json, "json", false, "print the report as JSON")
	fs.StringVar(&r.plot, "plot", "", "write spread.{png,svg} and phi.{png,svg} into this `directory`")
	fs.StringVar(&r.eventLog, "event-log", "", "write one line per protocol event to this `file` (deterministic: the same seed gives the same file)")
	fs.BoolVar(&r.force, "force", false, "run even when the estimated peak memory exceeds what the machine has available")
	fs.IntVar(&r.workers, "workers", 0, "goroutines stepping the nodes (0 = one per CPU, 1 = one goroutine); the run and its report are the same for any number, more is faster on more cores")
	fs.StringVar(&r.decode, "decode", "auto", "decode every message at its receiver: `auto` (below 2,000 nodes), on or off; the run and its report are the same either way, off is faster")
	fs.Usage = func() { runUsage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "hearsay sim: unexpected argument %q (the only subcommand is tune-phi)\n", fs.Arg(0))
		return 2
	}
	skip, err := skipDecode(r.decode)
	if err != nil {
		fmt.Fprintf(env.Stderr, "hearsay sim: %v\n", err)
		return 2
	}
	if err := checkWorkers(r.workers); err != nil {
		fmt.Fprintf(env.Stderr, "hearsay sim: %v\n", err)
		return 2
	}
	s, err := r.scenario(fs)
	if err != nil {
		fmt.Fprintf(env.Stderr, "hearsay sim: %v\n", err)
		return 2
	}
	if !r.force {
		if err := checkMemory(s.Nodes, env.MemAvailable); err != nil {
			fmt.Fprintf(env.Stderr, "hearsay sim: %v\n", err)
			return 2
		}
	}
	if err := runSim(ctx, s, r, skip, env); err != nil {
		fmt.Fprintf(env.Stderr, "hearsay sim: %v\n", err)
		return 1
	}
	return 0
}

func runUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: hearsay sim [flags]
       hearsay sim tune-phi [flags]   (see hearsay sim tune-phi -h)

Runs N gossip nodes, the same protocol core as the agent, in virtual time on a
simulated network, deterministically: the same flags and seed give the same
report and event log, with any --workers (one event order; within a window
shorter than the network's smallest latency, different nodes' steps run on
several cores). Prints rounds to converge, bytes and messages per node per
round, false convictions and detection time. Start from a scenario file
(--scenario) for fault timelines; flags given explicitly override its values.
On a terminal, progress is shown on stderr. docs/simulator.md has examples.

Flags:
`)
	fs.PrintDefaults()
}

// runSim runs s and prints its report; it returns an error when the run
// failed or broke an invariant.
func runSim(ctx context.Context, s sim.Scenario, r *runFlags, skip func(nodes int) bool, env Env) error {
	opt := sim.Options{SkipDecode: skip(s.Nodes), Workers: r.workers}
	if limit, ok := memoryLimit(s.Nodes, os.Getenv("GOMEMLIMIT")); ok {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	}
	if env.Live {
		p := newProgressLine(env.Stderr, time.Now)
		opt.Progress = p.update
		defer p.clear()
	}
	if r.eventLog != "" {
		f, err := os.Create(r.eventLog)
		if err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		defer f.Close()
		opt.EventLog = f
	}
	rep, err := sim.Run(ctx, s, opt)
	if err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	if r.json {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the report: %w", err)
		}
		if _, err := fmt.Fprintf(env.Stdout, "%s\n", b); err != nil {
			return err
		}
	} else if err := writeReport(env.Stdout, s, rep); err != nil {
		return err
	}
	if r.plot != "" {
		paths, notes, err := plotRun(r.plot, s, rep)
		for _, p := range paths {
			fmt.Fprintf(env.Stderr, "wrote %s\n", p)
		}
		for _, n := range notes {
			fmt.Fprintf(env.Stderr, "%s\n", n)
		}
		if err != nil {
			return err
		}
	}
	if len(rep.Violations) > 0 {
		return fmt.Errorf("%d invariant violation(s), the first: %s", len(rep.Violations), rep.Violations[0])
	}
	return nil
}

// decodeFrom is the smallest cluster --decode=auto runs without decoding:
// decoding checks the wire round trip but changes nothing in the run, and
// from a few thousand nodes its time and garbage add up (docs/simulator.md).
const decodeFrom = 2000

// skipDecode parses --decode into whether a run of a given size skips
// decoding (sim.Options.SkipDecode).
func skipDecode(v string) (func(nodes int) bool, error) {
	switch v {
	case "auto":
		return func(nodes int) bool { return nodes >= decodeFrom }, nil
	case "on":
		return func(int) bool { return false }, nil
	case "off":
		return func(int) bool { return true }, nil
	}
	return nil, fmt.Errorf("--decode %q: want auto, on or off", v)
}
