package simcli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// partitionFile is the example scenario of docs/simulator.md.
var partitionFile = filepath.Join("..", "..", "..", "..", "docs", "scenarios", "partition.json")

// run runs "hearsay sim" with args and returns the exit status and what
// it printed.
func run(t *testing.T, live bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, args, Env{Stdout: &out, Stderr: &errb, Live: live})
	return code, out.String(), errb.String()
}

func TestBadFlagsRunNothing(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "1"}, "invalid value 1 for --nodes: want at least 2"},
		{[]string{"--rounds", "0"}, "--rounds"},
		{[]string{"--loss", "1.5"}, "invalid value 1.5 for --loss: want a fraction from 0 to below 1"},
		{[]string{"--loss", "-0.1"}, "--loss"},
		{[]string{"--duplicate", "2"}, "--duplicate"},
		{[]string{"--latency", "-1ms"}, "invalid value -1ms for --latency"},
		{[]string{"--interval", "0s"}, "--interval: want more than 0"},
		{[]string{"--fd-model", "weibull"}, `invalid value "weibull" for --fd-model: want exponential, normal or akka`},
		{[]string{"--phi", "-3"}, "--phi"},
		{[]string{"--phi", "NaN"}, "--phi"},
		{[]string{"--fanout", "-1"}, "--fanout"},
		{[]string{"--push-fanout", "-2"}, "--push-fanout"},
		{[]string{"--nodes", "ten"}, "invalid value \"ten\" for flag -nodes"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--decode", "maybe"}, `--decode "maybe": want auto, on or off`},
		{[]string{"--workers", "-1"}, "invalid value -1 for --workers: want 0 (one per CPU) or 1 to 256"},
		{[]string{"--workers", "257"}, "invalid value 257 for --workers"},
		{[]string{"--scenario", "/nonexistent/scenario.json"}, "reading the scenario"},
		{[]string{"tune-phi", "--profile", "mars"}, `invalid value "mars" for --profile: want lan, cloud, cross-region`},
		{[]string{"tune-phi", "--thresholds", "5,x"}, `invalid threshold "x" in --thresholds`},
		{[]string{"tune-phi", "--thresholds", "0"}, "invalid threshold 0"},
		{[]string{"tune-phi", "--models", "exponential,weibull"}, `invalid model "weibull"`},
		{[]string{"tune-phi", "--nodes", "2"}, "--nodes: want at least 3"},
		{[]string{"tune-phi", "--rounds", "20"}, "invalid value 20 for --rounds: want at least"},
		{[]string{"tune-phi", "--loss", "3"}, "--loss"},
		{[]string{"tune-phi", "--runs", "0"}, "--runs"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plots")
			code, stdout, stderr := run(t, false, append(tc.args, "--plot", dir)...)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.want)
			assert.Empty(t, stdout, "no report")
			assert.NoDirExists(t, dir, "nothing ran")
		})
	}
}

func TestBadScenarioFile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown field": `{"nodes": 10, "rounds": 5, "nodez": 3}`,
		"not json":      `nodes: 10`,
		"bad duration":  `{"nodes": 10, "rounds": 5, "interval": "fast"}`,
	} {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		require.NoError(t, os.WriteFile(f, []byte(body), 0o644))
		code, stdout, stderr := run(t, false, "--scenario", f)
		assert.Equal(t, 2, code, name)
		assert.Contains(t, stderr, "scenario file "+f, name)
		assert.Empty(t, stdout, name)
	}
}

func TestHelp(t *testing.T) {
	code, stdout, stderr := run(t, false, "-h")
	assert.Equal(t, 0, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "flags given explicitly override its values")
	for _, f := range []string{"-nodes", "-seed", "-rounds", "-loss", "-latency", "-fanout", "-fd-model", "-phi", "-interval", "-scenario", "-json", "-plot", "-workers"} {
		assert.Regexp(t, `(?m)^  `+f+`\b`, stderr, "the help lists %s", f)
	}
	code, _, stderr = run(t, false, "tune-phi", "-h")
	assert.Equal(t, 0, code)
	for _, p := range profiles() {
		assert.Contains(t, stderr, p.String(), "the help states the numbers of every profile")
	}
}

// TestJSONReport checks the field names in --json.
func TestJSONReport(t *testing.T) {
	code, stdout, stderr := run(t, false, "--nodes", "12", "--rounds", "15", "--seed", "5", "--json")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr, "piped, progress stays quiet")
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	assert.EqualValues(t, 12, rep["nodes"])
	assert.EqualValues(t, 5, rep["seed"])
	for _, k := range []string{"messages_per_node_per_round", "false_convictions", "peak_memory_bytes", "wall_seconds"} {
		assert.Contains(t, rep, k)
	}
	for k, sub := range map[string][]string{
		"rounds_to_converge":       {"p50", "p99", "max"},
		"bytes_per_node_per_round": {"mean", "max"},
		"detection_rounds":         {"p50", "p99", "max"},
	} {
		require.IsType(t, map[string]any{}, rep[k], k)
		for _, s := range sub {
			assert.Contains(t, rep[k], s, "%s.%s", k, s)
		}
	}
	assert.Greater(t, rep["bytes_per_node_per_round"].(map[string]any)["mean"], 0.0, "gossip was measured")
}

// seededRun runs 10 nodes for 20 rounds of seed 9 at 10 % loss through
// the CLI with extra flags, and returns its JSON report, less the wall
// time and memory (which belong to the host), and its event log.
func seededRun(t *testing.T, extra ...string) (sim.Report, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "events.log")
	args := append([]string{"--nodes", "10", "--rounds", "20", "--seed", "9", "--loss", "0.1", "--json", "--event-log", log}, extra...)
	code, stdout, stderr := run(t, false, args...)
	require.Equal(t, 0, code, stderr)
	var rep sim.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	rep.WallSeconds, rep.PeakMemoryBytes = 0, 0
	events, err := os.ReadFile(log)
	require.NoError(t, err)
	return rep, string(events)
}

// TestDeterministicReport runs the same seed twice through the CLI: the
// same report but for the wall time and memory, which belong to the host.
func TestDeterministicReport(t *testing.T) {
	rep0, log0 := seededRun(t)
	rep1, log1 := seededRun(t)
	assert.Equal(t, rep0, rep1)
	assert.NotEmpty(t, log0)
	assert.Equal(t, log0, log1, "the same event log, byte for byte")
}

// TestDecodeChangesNothing: with --decode on (every message decoded by
// its receiver) and off (handed over as sent), the same seed gives the
// same report and event log; auto decodes below decodeFrom nodes.
func TestDecodeChangesNothing(t *testing.T) {
	repOn, logOn := seededRun(t, "--decode", "on")
	repOff, logOff := seededRun(t, "--decode", "off")
	assert.Equal(t, repOn, repOff)
	assert.Equal(t, logOn, logOff, "the same event log, byte for byte")
	auto, err := skipDecode("auto")
	require.NoError(t, err)
	assert.False(t, auto(decodeFrom-1))
	assert.True(t, auto(decodeFrom))
}

// TestWorkersChangeNothing: --workers 1, 2 and 3 give the same report
// and event log.
func TestWorkersChangeNothing(t *testing.T) {
	rep1, log1 := seededRun(t, "--workers", "1")
	for _, w := range []string{"2", "3"} {
		rep, log := seededRun(t, "--workers", w)
		assert.Equal(t, rep1, rep, "--workers %s", w)
		assert.Equal(t, log1, log, "--workers %s: the same event log, byte for byte", w)
	}
}

// TestFlagsOverrideScenarioFile runs the example scenario with two flags
// that override it; the file's other values stay.
func TestFlagsOverrideScenarioFile(t *testing.T) {
	data, err := os.ReadFile(partitionFile)
	require.NoError(t, err)
	file, err := sim.ParseScenario(data)
	require.NoError(t, err, "the committed example parses")
	require.NotEqual(t, 24, file.Nodes)

	code, stdout, stderr := run(t, false, "--scenario", partitionFile, "--nodes", "24", "--json")
	require.Equal(t, 0, code, stderr)
	var rep sim.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 24, rep.Nodes, "--nodes overrides the file")
	assert.Equal(t, file.Seed, rep.Seed, "the file's seed stays")
	assert.Equal(t, file.Rounds, rep.Rounds, "the file's rounds stay")
}

// TestScenarioFileRuns runs the committed example as it is, with plots:
// it converges after the partition heals, detects the crash, and draws
// both figures.
func TestScenarioFileRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots")
	code, stdout, stderr := run(t, false, "--scenario", partitionFile, "--plot", dir)
	require.Equal(t, 0, code, stderr)
	for _, line := range []string{"hearsay sim: 40 nodes, seed 7, 150 rounds of 1s", "rounds to converge", "detection rounds", "converged at the end  yes", "invariant violations  none", "recovery              "} {
		assert.Contains(t, stdout, line)
	}
	assert.NotContains(t, stdout, "detection rounds      none", "the crash at round 100 was detected")
	for _, f := range []string{"spread.png", "spread.svg", "phi.png", "phi.svg"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if assert.NoError(t, err, f) {
			assert.Greater(t, fi.Size(), int64(1000), f)
		}
		assert.Contains(t, stderr, filepath.Join(dir, f))
	}
}

// TestPlotWithoutData: a run with no update and no crash draws nothing
// and says why, and still succeeds.
func TestPlotWithoutData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots")
	code, _, stderr := run(t, false, "--nodes", "6", "--rounds", "10", "--update-every", "-1", "--plot", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "no spread figure: the run made no update")
	assert.Contains(t, stderr, "no phi figure: no node crashed")
	assert.NoFileExists(t, filepath.Join(dir, "spread.png"))
}

func TestProgress(t *testing.T) {
	code, _, stderr := run(t, false, "--nodes", "8", "--rounds", "10")
	require.Equal(t, 0, code)
	assert.Empty(t, stderr, "piped: quiet")

	code, stdout, stderr := run(t, true, "--nodes", "8", "--rounds", "10")
	require.Equal(t, 0, code)
	assert.Contains(t, stderr, "\r\x1b[Kround ", "on a terminal: one line, rewritten")
	assert.Contains(t, stderr, "/10  converged ")
	assert.True(t, strings.HasSuffix(stderr, "\r\x1b[K"), "the line is erased at the end: %q", stderr)
	assert.NotContains(t, stdout, "\r", "progress never goes to stdout")
}

func TestProgressText(t *testing.T) {
	assert.Equal(t, "round 0/30  converged 0/100 nodes  elapsed 0s  ETA ?",
		progressText(sim.Progress{Rounds: 30, Nodes: 100}))
	assert.Equal(t, "round 10/30  converged 95/100 nodes  elapsed 2s  ETA 4s",
		progressText(sim.Progress{Round: 10, Rounds: 30, Converged: 95, Nodes: 100, Elapsed: 2 * time.Second}))

	var b bytes.Buffer
	now := time.Unix(0, 0)
	l := newProgressLine(&b, func() time.Time { return now })
	l.update(sim.Progress{Round: 1, Rounds: 3})
	l.update(sim.Progress{Round: 2, Rounds: 3}) // within 100 ms: skipped
	now = now.Add(time.Second)
	l.update(sim.Progress{Round: 3, Rounds: 3})
	l.clear()
	assert.Equal(t, 3, strings.Count(b.String(), "\r\x1b[K"), "two lines drawn and one erase: %q", b.String())
	assert.NotContains(t, b.String(), "round 2/3")

	assert.Equal(t, "run 0/36  elapsed 0s  ETA ?", sweepText(0, 36, 0))
	assert.Equal(t, "run 12/36  elapsed 10s  ETA 20s", sweepText(12, 36, 10*time.Second))
}

func TestTuneProgress(t *testing.T) {
	args := []string{"tune-phi", "--profile", "lan", "--nodes", "4", "--rounds", "100", "--runs", "1", "--thresholds", "5", "--models", "exponential"}
	code, _, stderr := run(t, false, args...)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr, "piped: quiet")
	code, _, stderr = run(t, true, args...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "\r\x1b[Krun 1/1  elapsed ")
	assert.True(t, strings.HasSuffix(stderr, "\r\x1b[K"), "the line is erased at the end: %q", stderr)
}

// TestDocsShowTheExampleScenario: docs/simulator.md quotes the example
// file as it is.
func TestDocsShowTheExampleScenario(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(partitionFile), "..", "simulator.md"))
	require.NoError(t, err)
	file, err := os.ReadFile(partitionFile)
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(doc), "```json\n")
	require.True(t, ok, "simulator.md has a json block")
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	assert.Equal(t, string(file), block)
}
