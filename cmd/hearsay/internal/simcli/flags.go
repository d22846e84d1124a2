package simcli

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// runFlags are the parsed flags of "hearsay sim".
type runFlags struct {
	json     bool
	plot     string
	file     string
	eventLog string
	decode   string // --decode: auto, on or off
	force    bool   // --force: run past the memory estimate
	workers  int    // --workers: sim.Options.Workers
	// apply holds, per scenario flag, how to copy its value into a
	// Scenario; only the flags given on the command line are applied, so
	// that they override the scenario file and nothing else does.
	apply map[string]func(*sim.Scenario)
	// check holds, per scenario flag, the test of its value alone.
	check map[string]func() error
}

// scenarioFlags registers the flags that set Scenario fields on fs, with
// the defaults of sim.DefaultScenario, and returns them.
func scenarioFlags(fs *flag.FlagSet) *runFlags {
	d := sim.DefaultScenario()
	r := &runFlags{apply: map[string]func(*sim.Scenario){}, check: map[string]func() error{}}

	nodes := fs.Int("nodes", d.Nodes, "cluster size, at least 2")
	r.apply["nodes"] = func(s *sim.Scenario) { s.Nodes = *nodes }
	r.check["nodes"] = func() error { return atLeast("nodes", *nodes, 2) }

	seed := fs.Int64("seed", d.Seed, "random seed: the same seed gives the same run")
	r.apply["seed"] = func(s *sim.Scenario) { s.Seed = *seed }

	rounds := fs.Int("rounds", d.Rounds, "gossip rounds (intervals) to simulate, at least 1")
	r.apply["rounds"] = func(s *sim.Scenario) { s.Rounds = *rounds }
	r.check["rounds"] = func() error { return atLeast("rounds", *rounds, 1) }

	interval := fs.Duration("interval", d.Interval, "gossip interval (virtual time)")
	r.apply["interval"] = func(s *sim.Scenario) { s.Interval = *interval }
	r.check["interval"] = func() error { return positive("interval", *interval) }

	fanout := fs.Int("fanout", d.Fanout, "peers each node sends a digest Syn to per round (0 = the gossiper's default, 1)")
	r.apply["fanout"] = func(s *sim.Scenario) { s.Fanout = *fanout }
	r.check["fanout"] = func() error { return atLeast("fanout", *fanout, 0) }

	push := fs.Int("push-fanout", d.PushFanout, "peers a change is pushed to (0 = automatic, -1 = no push: digest rounds alone)")
	r.apply["push-fanout"] = func(s *sim.Scenario) { s.PushFanout = *push }
	r.check["push-fanout"] = func() error { return atLeast("push-fanout", *push, -1) }

	model := fs.String("fd-model", d.FDModel, "failure-detector model: exponential (Cassandra's), normal (Hayashibara's) or akka (\"\" = exponential)")
	r.apply["fd-model"] = func(s *sim.Scenario) { s.FDModel = strings.ToLower(strings.TrimSpace(*model)) }
	r.check["fd-model"] = func() error { return checkModel(*model) }

	phi := fs.Float64("phi", d.Phi, "phi conviction threshold (0 = the default, 8)")
	r.apply["phi"] = func(s *sim.Scenario) { s.Phi = *phi }
	r.check["phi"] = func() error { return checkPhi(*phi) }

	window := fs.Int("fd-window", d.FDWindow, "failure-detector arrival window, in samples (0 = the simulator's default)")
	r.apply["fd-window"] = func(s *sim.Scenario) { s.FDWindow = *window }
	r.check["fd-window"] = func() error { return atLeast("fd-window", *window, 0) }

	updates := fs.Int("update-every", d.UpdateEvery, "a random node sets a new value every N rounds (0 = the default, -1 = never)")
	r.apply["update-every"] = func(s *sim.Scenario) { s.UpdateEvery = *updates }
	r.check["update-every"] = func() error { return atLeast("update-every", *updates, -1) }

	networkFlags(fs, d.Network, r)
	return r
}

// networkFlags registers the flags of Scenario.Network on fs.
func networkFlags(fs *flag.FlagSet, d sim.Network, r *runFlags) {
	latency := fs.Duration("latency", d.Latency, "mean one-way network latency")
	r.apply["latency"] = func(s *sim.Scenario) { s.Network.Latency = *latency }
	r.check["latency"] = func() error { return notNegative("latency", *latency) }

	jitter := fs.Duration("jitter", d.Jitter, "standard deviation of the latency (normal, cut 4 deviations below the mean and at 0: that floor is the lookahead --workers needs)")
	r.apply["jitter"] = func(s *sim.Scenario) { s.Network.Jitter = *jitter }
	r.check["jitter"] = func() error { return notNegative("jitter", *jitter) }

	loss := fs.Float64("loss", d.Loss, "fraction of messages lost, 0 to below 1 (0.2 = 20 %)")
	r.apply["loss"] = func(s *sim.Scenario) { s.Network.Loss = *loss }
	r.check["loss"] = func() error { return lossFraction("loss", *loss) }

	dup := fs.Float64("duplicate", d.Duplicate, "fraction of messages delivered twice, 0 to 1")
	r.apply["duplicate"] = func(s *sim.Scenario) { s.Network.Duplicate = *dup }
	r.check["duplicate"] = func() error { return fraction("duplicate", *dup) }

	reorder := fs.Float64("reorder", d.Reorder, "fraction of messages delayed by up to one more interval, 0 to 1")
	r.apply["reorder"] = func(s *sim.Scenario) { s.Network.Reorder = *reorder }
	r.check["reorder"] = func() error { return fraction("reorder", *reorder) }
}

// scenario returns the scenario to run: sim.DefaultScenario, or the
// scenario file when one was given, with every flag set on fs applied on
// top, and validated.
func (r *runFlags) scenario(fs *flag.FlagSet) (sim.Scenario, error) {
	var errs []string
	fs.Visit(func(f *flag.Flag) {
		if c := r.check[f.Name]; c != nil {
			if err := c(); err != nil {
				errs = append(errs, err.Error())
			}
		}
	})
	if len(errs) > 0 {
		return sim.Scenario{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	s := sim.DefaultScenario()
	if r.file != "" {
		data, err := os.ReadFile(r.file)
		if err != nil {
			return sim.Scenario{}, fmt.Errorf("reading the scenario: %w", err)
		}
		if s, err = sim.ParseScenario(data); err != nil {
			return sim.Scenario{}, fmt.Errorf("scenario file %s: %w", r.file, err)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if a := r.apply[f.Name]; a != nil {
			a(&s)
		}
	})
	if err := s.Validate(); err != nil {
		return sim.Scenario{}, fmt.Errorf("invalid scenario: %w", err)
	}
	return s, nil
}

// checkWorkers tests --workers.
func checkWorkers(w int) error {
	if (sim.Options{Workers: w}).Validate() != nil {
		return fmt.Errorf("invalid value %d for --workers: want 0 (one per CPU) or 1 to %d", w, sim.MaxWorkers)
	}
	return nil
}

func atLeast(name string, v, lo int) error {
	if v < lo {
		return fmt.Errorf("invalid value %d for --%s: want at least %d", v, name, lo)
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("invalid value %s for --%s: want more than 0", d, name)
	}
	return nil
}

func notNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("invalid value %s for --%s: want 0 or more", d, name)
	}
	return nil
}

func fraction(name string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("invalid value %g for --%s: want a fraction from 0 to 1 (0.2 = 20 %%)", v, name)
	}
	return nil
}

func lossFraction(name string, v float64) error {
	if !(v >= 0 && v < 1) {
		return fmt.Errorf("invalid value %g for --%s: want a fraction from 0 to below 1 (0.2 = 20 %%)", v, name)
	}
	return nil
}

func checkModel(m string) error {
	switch strings.ToLower(strings.TrimSpace(m)) {
	case "", "exponential", "normal", "akka":
		return nil
	}
	return fmt.Errorf("invalid value %q for --fd-model: want exponential, normal or akka", m)
}

func checkPhi(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("invalid value %g for --phi: want a finite threshold > 0 (0 = the default, 8)", v)
	}
	return nil
}
