// Command peerbench runs hearsay, hashicorp/memberlist and hashicorp/serf
// side by side on loopback, N nodes of each in one process, with each
// library's default settings, and prints what each one costs and how fast
// it is: join time, update propagation, steady bytes and CPU per node,
// crash detection, restart and false convictions. See docs/performance.md
// ("Peer comparison") for what every figure means.
//
//	cd cmd/peerbench && go run . --sizes 8,32 > peers.md
//
// Every system and size runs in a child process of its own (the same
// binary), so that CPU time, open files and memory are that case's alone.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the parsed command line.
type config struct {
	systems []string
	sizes   []int
	opts    options
	format  string
	args    []string // the command line, for the report

	// child mode: run one case and print its result as JSON.
	child       bool
	childSystem string
	childN      int
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(2)
	}
	if _, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench: raising the open-files limit:", err)
	}
	if cfg.child {
		os.Exit(runChild(cfg))
	}
	os.Exit(runParent(cfg, os.Stdout, os.Stderr))
}

func parseFlags(args []string, errOut io.Writer) (config, error) {
	fs := flag.NewFlagSet("peerbench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	systems := fs.String("systems", strings.Join(systemNames, ","), "systems to run, comma-separated: "+strings.Join(systemNames, ", "))
	sizes := fs.String("sizes", "8,32,64,128,256", "cluster sizes N, comma-separated")
	steady := fs.Duration("steady", 30*time.Second, "duration of the steady byte and CPU measurement (memberlist and serf push-pull every 30 s, more above 32 nodes: a shorter window samples fewer of those)")
	settle := fs.Duration("settle", 3*time.Second, "quiet time after the updates, before the steady measurement")
	updates := fs.Int("updates", 5, "number of key/value updates timed")
	timeout := fs.Duration("timeout", 60*time.Second, "bound of each phase's wait (join, each update, crash, restart)")
	crash := fs.Bool("crash", true, "run the crash and restart phases")
	fast := fs.Bool("fast", false, "hearsay runs the documented fast setting (interval 200ms, Akka failure detector, phi 8; docs/operations.md) instead of its defaults; memberlist and serf keep theirs")
	quick := fs.Bool("quick", false, "smoke test: N = 8 unless --sizes, steady 2s, settle 1s, 2 updates, timeout 20s, no crash/restart unless --crash")
	format := fs.String("format", "md", "output format: md (Markdown tables) or json")
	asJSON := fs.Bool("json", false, "same as --format json")
	child := fs.String("child", "", "internal: run one case, system:N, and print its result as JSON")
	fs.Usage = func() {
		fmt.Fprintf(errOut, "usage: peerbench [flags]\n\nRuns hearsay, memberlist and serf side by side on loopback and prints a comparison.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		for name, v := range map[string]string{"sizes": "8", "steady": "2s", "settle": "1s", "updates": "2", "timeout": "20s", "crash": "false"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	cfg := config{
		format: *format, args: args,
		opts: options{steady: *steady, settle: *settle, updates: *updates, timeout: *timeout, crash: *crash, fast: *fast, jitter: time.Second},
	}
	if *quick {
		cfg.opts.jitter = 200 * time.Millisecond
	}
	if *asJSON {
		cfg.format = "json"
	}
	var errs []error
	if cfg.format != "md" && cfg.format != "json" {
		errs = append(errs, fmt.Errorf("--format %q: want md or json", cfg.format))
	}
	for _, s := range strings.Split(*systems, ",") {
		s = strings.TrimSpace(s)
		if _, err := newSystem(s); err != nil {
			errs = append(errs, fmt.Errorf("--systems: %w", err))
		} else if !slices.Contains(cfg.systems, s) {
			cfg.systems = append(cfg.systems, s)
		}
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 || n > 1000 {
			errs = append(errs, fmt.Errorf("--sizes: %q is not a size: want whole numbers from 2 to 1000, like 8,32,64", s))
		} else if !slices.Contains(cfg.sizes, n) {
			cfg.sizes = append(cfg.sizes, n)
		}
	}
	if cfg.opts.steady <= 0 || cfg.opts.settle < 0 || cfg.opts.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--steady %v, --settle %v, --timeout %v: want steady and timeout > 0, settle >= 0", cfg.opts.steady, cfg.opts.settle, cfg.opts.timeout))
	}
	if cfg.opts.updates < 1 || cfg.opts.updates > 1000 {
		errs = append(errs, fmt.Errorf("--updates %d: want 1 to 1000", cfg.opts.updates))
	}
	if *child != "" {
		sys, n, ok := strings.Cut(*child, ":")
		size, err := strconv.Atoi(n)
		if _, serr := newSystem(sys); !ok || err != nil || serr != nil {
			errs = append(errs, fmt.Errorf("--child %q: want system:N", *child))
		}
		cfg.child, cfg.childSystem, cfg.childN = true, sys, size
	}
	return cfg, errors.Join(errs...)
}

// childArgs are the flags a child needs to run one case like the parent
// would.
func childArgs(cfg config, sys string, n int) []string {
	o := cfg.opts
	return []string{
		"--child", fmt.Sprintf("%s:%d", sys, n),
		"--steady", o.steady.String(), "--settle", o.settle.String(),
		"--updates", strconv.Itoa(o.updates), "--timeout", o.timeout.String(),
		"--crash=" + strconv.FormatBool(o.crash), "--quick=" + strconv.FormatBool(o.jitter < time.Second),
		"--fast=" + strconv.FormatBool(o.fast),
		"--sizes", strconv.Itoa(n), "--systems", sys,
	}
}

// runChild runs one case, with progress lines on stderr and the result
// as JSON on stdout.
func runChild(cfg config) int {
	progress := func(s string) { fmt.Fprintln(os.Stderr, "progress\t"+s) }
	res, err := runCase(cfg.childSystem, cfg.childN, cfg.opts, progress)
	if err != nil {
		res.Notes = append(res.Notes, err.Error())
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		return 1
	}
	return 0
}

// report is the --json output.
type report struct {
	Command string `json:"command"`
	Date    string `json:"date"`
	Go      string `json:"go"`
	CPUs    int    `json:"cpus"`
	Steady  string `json:"steady"`
	Updates int    `json:"updates"`
	Timeout string `json:"timeout"`
	// Load is /proc/loadavg when the run started: other work on the
	// machine skews every figure.
	Load string `json:"load,omitempty"`
	// Fast: hearsay ran the documented fast setting, not its defaults.
	Fast    bool     `json:"fast,omitempty"`
	Results []result `json:"results"`
}

func runParent(cfg config, out, errOut io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(errOut, "peerbench:", err)
		return 1
	}
	rep := report{
		Command: strings.TrimSpace("peerbench " + strings.Join(cfg.args, " ")),
		Date:    time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Go:      runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:    runtime.NumCPU(), Steady: cfg.opts.steady.String(), Updates: cfg.opts.updates,
		Timeout: cfg.opts.timeout.String(), Load: loadAverage(), Fast: cfg.opts.fast,
	}
	prog := newProgress(errOut)
	failed := false
	for _, n := range cfg.sizes {
		for _, sys := range cfg.systems {
			res := runOne(exe, cfg, sys, n, prog)
			if len(res.Notes) > 0 && res.Join.Count == 0 {
				failed = true
			}
			rep.Results = append(rep.Results, res)
		}
	}
	prog.done()
	if cfg.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(errOut, "peerbench:", err)
			return 1
		}
	} else {
		writeMarkdown(out, rep, cfg.systems, cfg.sizes)
	}
	if failed {
		fmt.Fprintln(errOut, "peerbench: some case did not run at all; see the notes")
		return 1
	}
	return 0
}

// runOne runs one case in a child process, bounded in time.
func runOne(exe string, cfg config, sys string, n int, prog *progress) result {
	o := cfg.opts
	bound := time.Duration(4+o.updates)*o.timeout + time.Duration(o.updates)*o.jitter + o.settle + o.steady + 2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, childArgs(cfg, sys, n)...)
	cmd.WaitDelay = 10 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{System: sys, N: n, Notes: []string{err.Error()}}
	}
	label := fmt.Sprintf("%s N=%d", sys, n)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return result{System: sys, N: n, Notes: []string{err.Error()}}
	}
	var other []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if msg, ok := strings.CutPrefix(line, "progress\t"); ok {
			prog.line(label, time.Since(started), msg)
		} else if len(other) < 20 {
			other = append(other, line)
		}
	}
	waitErr := cmd.Wait()
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		res = result{System: sys, N: n}
		msg := fmt.Sprintf("the case did not finish (%v)", waitErr)
		if ctx.Err() != nil {
			msg = fmt.Sprintf("the case was killed after %v", bound)
		}
		res.Notes = append(res.Notes, msg)
		res.Notes = append(res.Notes, other...)
	}
	prog.finished(label, time.Since(started), res)
	return res
}

// loadAverage is the 1, 5 and 15 minute load averages, "" if unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
