package simcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/simplot"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// tuneConfig is what one "hearsay sim tune-phi" sweeps.
type tuneConfig struct {
	Profile    profile   `json:"profile"`
	Nodes      int       `json:"nodes"`
	Rounds     int       `json:"rounds"`
	Runs       int       `json:"runs"` // runs (seeds) per setting, one crash each
	Seed       int64     `json:"seed"`
	FDWindow   int       `json:"fd_window"`
	Thresholds []float64 `json:"thresholds"`
	Models     []string  `json:"models"`
	Workers    int       `json:"-"`
}

// defaultTune is the default sweep: small enough to finish in under a
// minute on two cores, large enough for one false conviction per
// node-hour to show.
func defaultTune() tuneConfig {
	p, _ := profileNamed("cloud")
	return tuneConfig{
		Profile: p, Nodes: 24, Rounds: 600, Runs: 3, Seed: 1,
		Thresholds: []float64{5, 6, 8, 10, 12, 16},
		Models:     []string{"exponential", "normal"},
		Workers:    2,
	}
}

// tuneRow is the result of one failure-detector setting over all runs.
type tuneRow struct {
	Model            string  `json:"model"`
	Threshold        float64 `json:"threshold"`
	DetectionP50     maybe   `json:"detection_seconds_p50"` // crash → convicted by every live node, over the runs; null if none was
	DetectionP99     maybe   `json:"detection_seconds_p99"`
	Missed           int     `json:"missed"` // crashes not convicted by all before the run ended
	FalseConvictions int     `json:"false_convictions"`
	NodeHours        float64 `json:"node_hours"`
	FalsePerNodeHour float64 `json:"false_convictions_per_node_hour"`
	Violations       int     `json:"violations"`
}

// tuneReport is the JSON output of tune-phi.
type tuneReport struct {
	Config      tuneConfig `json:"config"`
	Rows        []tuneRow  `json:"rows"`
	WallSeconds float64    `json:"wall_seconds"`
}

// tuneOutput is where tune-phi's results go besides the table.
type tuneOutput struct {
	json bool   // print JSON instead of the table
	plot string // directory for the figure, "" for none
}

// tuneMain runs "hearsay sim tune-phi" and returns the exit status: 0 when
// the sweep ran, 1 when a run failed, 2 for bad flags (nothing ran).
func tuneMain(ctx context.Context, args []string, env Env) int {
	c, out, err := parseTune(args, env.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2 // the flag package has said why
	case err != nil:
		fmt.Fprintf(env.Stderr, "hearsay sim tune-phi: %v\n", err)
		return 2
	}
	if err := runTune(ctx, c, out, env); err != nil {
		fmt.Fprintf(env.Stderr, "hearsay sim tune-phi: %v\n", err)
		return 1
	}
	return 0
}

// errUsage is parseTune's error when the flag package rejected the
// arguments and printed why.
var errUsage = errors.New("usage")

// parseTune reads tune-phi's flags into a validated sweep.
func parseTune(args []string, stderr io.Writer) (tuneConfig, tuneOutput, error) {
	c, out := defaultTune(), tuneOutput{}
	fs := flag.NewFlagSet("hearsay sim tune-phi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prof := fs.String("profile", c.Profile.Name, "network profile: lan, cloud or cross-region (above); --interval, --latency, --jitter, --loss, --pause and --pause-every override its numbers")
	var p profile // the overrides; which apply is known from fs.Visit
	fs.DurationVar(&p.Interval, "interval", 0, "gossip interval (default: the profile's)")
	fs.DurationVar(&p.Latency, "latency", 0, "mean one-way latency (default: the profile's)")
	fs.DurationVar(&p.Jitter, "jitter", 0, "latency standard deviation, which makes heartbeat arrival times irregular (default: the profile's)")
	fs.Float64Var(&p.Loss, "loss", 0, "fraction of messages lost, 0 to below 1 (default: the profile's)")
	fs.DurationVar(&p.Pause, "pause", 0, "length of each host pause, 0 for none (default: the profile's)")
	fs.IntVar(&p.PauseGap, "pause-every", 0, "rounds between two pauses; one random live node pauses each time (default: the profile's)")
	fs.IntVar(&c.Nodes, "nodes", c.Nodes, "cluster size, at least 3")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "rounds per run; the crash comes late enough for the highest threshold to convict")
	fs.IntVar(&c.Runs, "runs", c.Runs, "runs per setting, each with its own seed and one crash")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the first run; run i uses seed+i for every setting")
	fs.IntVar(&c.FDWindow, "fd-window", 0, "failure-detector arrival window, in samples (0 = the simulator's default)")
	thresholds := fs.String("thresholds", joinFloats(c.Thresholds), "comma-separated phi thresholds to sweep")
	models := fs.String("models", strings.Join(c.Models, ","), "comma-separated failure-detector models: exponential, normal, akka")
	fs.BoolVar(&out.json, "json", false, "print the results as JSON")
	fs.StringVar(&out.plot, "plot", "", "write tune-phi.{png,svg} (detection time against false convictions) into this `directory`")
	fs.Usage = func() { tuneUsage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, out, err
		}
		return c, out, errUsage
	}
	if fs.NArg() > 0 {
		return c, out, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	base, err := profileNamed(*prof)
	if err != nil {
		return c, out, err
	}
	c.Profile = base.with(fs, p)
	if c.Thresholds, err = parseFloats(*thresholds); err != nil {
		return c, out, err
	}
	c.Models = splitList(*models)
	return c, out, c.validate()
}

// runTune runs the sweep and writes its table or JSON, and its figure.
func runTune(ctx context.Context, c tuneConfig, out tuneOutput, env Env) error {
	start := time.Now()
	rows, err := sweep(ctx, c, env)
	if err != nil {
		return err
	}
	rep := tuneReport{Config: c, Rows: rows, WallSeconds: time.Since(start).Seconds()}
	if out.json {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the results: %w", err)
		}
		if _, err := fmt.Fprintf(env.Stdout, "%s\n", b); err != nil {
			return err
		}
	} else if err := writeTuneTable(env.Stdout, rep); err != nil {
		return err
	}
	if out.plot == "" {
		return nil
	}
	paths, err := simplot.Tuning(out.plot, tuningSeries(c, rows))
	for _, p := range paths {
		fmt.Fprintf(env.Stderr, "wrote %s\n", p)
	}
	return err
}

func tuneUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: hearsay sim tune-phi [flags]

Sweeps failure-detector thresholds and models under a network profile: for
every setting it simulates --runs runs of --nodes nodes for --rounds rounds,
each with one node crashing late in the run and random host pauses, and
prints the detection time (crash → convicted by every live node, p50 and p99
over the runs, in seconds) and the false convictions per node-hour. Pick the
lowest threshold whose false-conviction rate you can live with.
docs/tuning.md explains the table and recommends settings.

Profiles (--profile):
`)
	for _, p := range profiles() {
		fmt.Fprintf(w, "  %s\n", p)
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.PrintDefaults()
}

func (c tuneConfig) validate() error {
	var errs []error
	p := c.Profile
	if c.Nodes < 3 {
		errs = append(errs, fmt.Errorf("invalid value %d for --nodes: want at least 3", c.Nodes))
	}
	if c.Runs < 1 {
		errs = append(errs, fmt.Errorf("invalid value %d for --runs: want at least 1", c.Runs))
	}
	if c.FDWindow < 0 {
		errs = append(errs, fmt.Errorf("invalid value %d for --fd-window: want 0 or more", c.FDWindow))
	}
	if p.Interval <= 0 {
		errs = append(errs, positive("interval", p.Interval))
	}
	for _, e := range []error{notNegative("latency", p.Latency), notNegative("jitter", p.Jitter),
		notNegative("pause", p.Pause), lossFraction("loss", p.Loss), atLeast("pause-every", p.PauseGap, 0)} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if len(c.Thresholds) == 0 {
		errs = append(errs, errors.New("--thresholds: want at least one threshold"))
	}
	for _, t := range c.Thresholds {
		if t <= 0 || math.IsInf(t, 0) {
			errs = append(errs, fmt.Errorf("invalid threshold %g in --thresholds: want a finite number > 0", t))
		}
	}
	if len(c.Models) == 0 {
		errs = append(errs, errors.New("--models: want at least one of exponential, normal, akka"))
	}
	for _, m := range c.Models {
		if m == "" {
			errs = append(errs, errors.New("--models: empty model name"))
		} else if err := checkModel(m); err != nil {
			errs = append(errs, fmt.Errorf("invalid model %q in --models: want exponential, normal or akka", m))
		}
	}
	if cr := c.crashRound(); cr < 1 {
		errs = append(errs, fmt.Errorf("invalid value %d for --rounds: want at least %d, so that the crash comes after a round and every threshold up to %g has time to convict",
			c.Rounds, c.Rounds-cr+1, slices.Max(append([]float64{0}, c.Thresholds...))))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Check one scenario of the sweep with the simulator's own rules, so
	// that no run fails halfway through.
	for _, m := range c.Models {
		for _, t := range c.Thresholds {
			if err := c.scenario(m, t, 0).Validate(); err != nil {
				return fmt.Errorf("invalid setting %s phi %g: %w", m, t, err)
			}
		}
	}
	return nil
}

// tail returns how many rounds before the end the crash comes: enough for
// the exponential model at the highest threshold, which convicts after
// threshold·ln 10 mean intervals of silence, to convict twice over, plus
// room for the news to reach every node.
func (c tuneConfig) tail() int {
	hi := 0.0
	for _, t := range c.Thresholds {
		hi = max(hi, t)
	}
	return int(math.Ceil(2*hi*math.Ln10)) + 15
}

// crashRound is the round at which each run crashes one node.
func (c tuneConfig) crashRound() int {
	return c.Rounds - c.tail()
}

// scenario returns the scenario of run i for one setting. Every setting
// gets the same seeds, crash and pauses for the same i, so that the
// settings are compared on the same network weather.
func (c tuneConfig) scenario(model string, threshold float64, i int) sim.Scenario {
	s := sim.DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = c.Nodes, c.Rounds, c.Seed+int64(i)
	s.Interval, s.FDModel, s.Phi, s.FDWindow = c.Profile.Interval, model, threshold, c.FDWindow
	s.UpdateEvery = -1
	s.Network = sim.Network{Latency: c.Profile.Latency, Jitter: c.Profile.Jitter, Loss: c.Profile.Loss}
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x7475_6e65)) // "tune"
	crashed := rng.IntN(c.Nodes)
	crash := c.crashRound()
	if c.Profile.Pause > 0 && c.Profile.PauseGap > 0 {
		for r := c.Profile.PauseGap; r < crash; r += c.Profile.PauseGap {
			n := rng.IntN(c.Nodes - 1)
			if n >= crashed {
				n++
			}
			s.Events = append(s.Events, sim.Event{Round: r, Kind: "pause", Nodes: []int{n}, Duration: c.Profile.Pause})
		}
	}
	s.Events = append(s.Events, sim.Event{Round: crash, Kind: "crash", Nodes: []int{crashed}})
	return s
}

// sweep runs every setting c.Runs times, on c.Workers goroutines (each run
// on one worker, sim.Options.Workers 1, and independent), and returns one row per setting in
// the order of c.Models then c.Thresholds.
func sweep(ctx context.Context, c tuneConfig, env Env) ([]tuneRow, error) {
	type job struct{ row, run int }
	var jobs []job
	var rows []tuneRow
	for _, m := range c.Models {
		for _, t := range c.Thresholds {
			for i := range c.Runs {
				jobs = append(jobs, job{len(rows), i})
			}
			rows = append(rows, tuneRow{Model: m, Threshold: t})
		}
	}
	reports := make([][]sim.Report, len(rows))
	for i := range reports {
		reports[i] = make([]sim.Report, c.Runs)
	}
	var (
		mu    sync.Mutex
		done  int
		first error
		next  = make(chan job)
		wg    sync.WaitGroup
		line  *progressLine
		start = time.Now()
	)
	if env.Live {
		line = newProgressLine(env.Stderr, time.Now)
		defer line.clear()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range max(c.Workers, 1) {
		wg.Go(func() {
			for j := range next {
				r := rows[j.row]
				rep, err := sim.Run(ctx, c.scenario(r.Model, r.Threshold, j.run), sim.Options{Workers: 1}) // the sweep runs on c.Workers goroutines already
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("%s phi %g, seed %d: %w", r.Model, r.Threshold, c.Seed+int64(j.run), err)
					cancel()
				}
				reports[j.row][j.run] = rep
				done++
				if line != nil {
					n, el := done, time.Since(start)
					line.show(n == len(jobs), func() string { return sweepText(n, len(jobs), el) })
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i] = summarize(c, rows[i], reports[i])
	}
	return rows, nil
}

// summarize fills a row from the reports of its runs.
func summarize(c tuneConfig, row tuneRow, reps []sim.Report) tuneRow {
	var detect []float64
	for _, rep := range reps {
		row.FalseConvictions += rep.FalseConvictions
		row.Violations += len(rep.Violations)
		row.NodeHours += float64(rep.Nodes) * (time.Duration(rep.Rounds) * c.Profile.Interval).Hours()
		if d := rep.DetectionRounds.Max; math.IsNaN(d) || d <= 0 {
			row.Missed++
		} else {
			detect = append(detect, d*c.Profile.Interval.Seconds())
		}
	}
	row.DetectionP50, row.DetectionP99 = maybe(quantile(detect, 0.5)), maybe(quantile(detect, 0.99))
	if row.NodeHours > 0 {
		row.FalsePerNodeHour = float64(row.FalseConvictions) / row.NodeHours
	}
	return row
}

// maybe is a number that may be missing (NaN), encoded in JSON as null
// then.
type maybe float64

// MarshalJSON encodes m as a number, or null when it is NaN.
func (m maybe) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(m))
}

// quantile is the nearest-rank q-quantile of xs, or NaN for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// writeTuneTable prints the sweep as a table and the lowest threshold per
// model that made no false conviction and missed no crash.
func writeTuneTable(w io.Writer, rep tuneReport) error {
	c := rep.Config
	fmt.Fprintf(w, "tune-phi: profile %s\n%d nodes, %d rounds, %d runs per setting (seeds %d..%d), one crash per run at round %d\n\n",
		c.Profile, c.Nodes, c.Rounds, c.Runs, c.Seed, c.Seed+int64(c.Runs-1), c.crashRound())
	rows := [][]string{{"model", "threshold", "detect p50 (s)", "detect p99 (s)", "missed", "false convictions", "per node-hour"}}
	for _, r := range rep.Rows {
		rows = append(rows, []string{r.Model, fmt.Sprintf("%g", r.Threshold), seconds(float64(r.DetectionP50)), seconds(float64(r.DetectionP99)),
			fmt.Sprint(r.Missed), fmt.Sprint(r.FalseConvictions), fmt.Sprintf("%.3g", r.FalsePerNodeHour)})
	}
	if err := term.Table(w, rows, nil); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, m := range c.Models {
		best := -1
		for i, r := range rep.Rows {
			if r.Model == m && r.FalseConvictions == 0 && r.Missed == 0 && (best < 0 || r.Threshold < rep.Rows[best].Threshold) {
				best = i
			}
		}
		if best < 0 {
			fmt.Fprintf(w, "%s: every threshold swept made false convictions or missed a crash; try higher thresholds or more runs.\n", m)
			continue
		}
		r := rep.Rows[best]
		fmt.Fprintf(w, "%s: lowest threshold with no false conviction in %.3g node-hours: %g (detection p50 %s s)\n",
			m, r.NodeHours, r.Threshold, seconds(float64(r.DetectionP50)))
	}
	var bad int
	for _, r := range rep.Rows {
		bad += r.Violations
	}
	if bad > 0 {
		fmt.Fprintf(w, "warning: %d invariant violation(s) in the runs; run one setting with hearsay sim to see them\n", bad)
	}
	_, err := fmt.Fprintf(w, "wall time %.1f s\n", rep.WallSeconds)
	return err
}

func seconds(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// tuningSeries turns the rows into one plot series per model.
func tuningSeries(c tuneConfig, rows []tuneRow) []simplot.TuningSeries {
	var out []simplot.TuningSeries
	for _, m := range c.Models {
		s := simplot.TuningSeries{Model: m}
		for _, r := range rows {
			if d := float64(r.DetectionP50); r.Model == m && !math.IsNaN(d) {
				s.Points = append(s.Points, simplot.TuningPoint{Threshold: r.Threshold, DetectionSeconds: d, FalsePerNodeHour: r.FalsePerNodeHour})
			}
		}
		out = append(out, s)
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(f)))
	}
	if len(out) == 1 && out[0] == "" {
		return nil
	}
	return out
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid threshold %q in --thresholds: want numbers separated by commas, like 5,8,12", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func joinFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}
