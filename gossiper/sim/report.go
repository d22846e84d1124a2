package sim

import (
	"encoding/json"
	"io"
	"math"
	"slices"
	"time"
)

// Quantiles summarise a distribution: its median, 99th percentile and
// maximum (0 for an empty one). JSON: p50, p99, max.
type Quantiles struct {
	// P50 is the median.
	P50 float64 `json:"p50"`
	// P99 is the 99th percentile (nearest rank).
	P99 float64 `json:"p99"`
	// Max is the largest value.
	Max float64 `json:"max"`
}

// Mean summarises a quantity by its mean and maximum. JSON: mean, max.
type Mean struct {
	// Mean is the average.
	Mean float64 `json:"mean"`
	// Max is the largest value.
	Max float64 `json:"max"`
}

// PhiSample is the phi of one endpoint at one observer's tick. JSON:
// t_seconds (since the start of the run), phi.
type PhiSample struct {
	// Time is the virtual time since the start of the run.
	Time time.Duration
	// Phi is the observer's phi for the endpoint then.
	Phi float64
}

type phiSampleJSON struct {
	T   float64 `json:"t_seconds"`
	Phi float64 `json:"phi"`
}

// MarshalJSON writes {"t_seconds": …, "phi": …}.
func (p PhiSample) MarshalJSON() ([]byte, error) {
	return json.Marshal(phiSampleJSON{T: p.Time.Seconds(), Phi: p.Phi})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *PhiSample) UnmarshalJSON(b []byte) error {
	var j phiSampleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = PhiSample{Time: time.Duration(math.Round(j.T * float64(time.Second))), Phi: j.Phi}
	return nil
}

// Report is what a run measured. Everything but WallSeconds and
// PeakMemoryBytes depends on the scenario alone: two runs of one scenario
// give equal reports.
type Report struct {
	// Nodes, Seed and Rounds repeat the scenario's.
	Nodes int `json:"nodes"`
	// Seed is the scenario's seed.
	Seed int64 `json:"seed"`
	// Rounds is the number of rounds simulated.
	Rounds int `json:"rounds"`
	// RoundsToConverge is, over every update that reached every live
	// node, the time it took, in intervals (fractional: push delivers
	// within a round).
	RoundsToConverge Quantiles `json:"rounds_to_converge"`
	// Updates counts the updates made; UpdatesUnconverged those that had
	// not reached every live node by the end of the run.
	Updates int `json:"updates"`
	// UpdatesUnconverged counts updates that had not reached every live
	// node by the end.
	UpdatesUnconverged int `json:"updates_unconverged"`
	// BytesPerNodePerRound is what a node sent per round, in real encoded
	// wire bytes (the messaging package's lean encoding, see doc.go):
	// the mean over nodes and rounds, and the largest of any node in any
	// round.
	BytesPerNodePerRound Mean `json:"bytes_per_node_per_round"`
	// MessagesPerNodePerRound is the mean number of messages a node sent
	// per round.
	MessagesPerNodePerRound float64 `json:"messages_per_node_per_round"`
	// Messages counts the messages sent, per type ("syn", "ack", …).
	Messages map[string]int `json:"messages"`
	// FalseConvictions counts convictions of a node that was running,
	// not paused, and reachable from the observer.
	FalseConvictions int `json:"false_convictions"`
	// Convictions counts every conviction by the failure detectors.
	Convictions int `json:"convictions"`
	// DetectionRounds is, per crashed node, the time from the crash
	// until every live node that saw it up had convicted it, in intervals.
	DetectionRounds Quantiles `json:"detection_rounds"`
	// PeakMemoryBytes is the most memory the Go runtime held from the OS
	// (runtime.MemStats Sys less HeapReleased, close to the resident
	// size), sampled once the views are built and at each round's end;
	// the process's, so run one simulation at a time.
	PeakMemoryBytes uint64 `json:"peak_memory_bytes"`
	// WallSeconds is the run's wall-clock time.
	WallSeconds float64 `json:"wall_seconds"`
	// Converged reports whether all live nodes held the same endpoints,
	// generations and application states at the end (beyond 500 nodes,
	// the first max(32, 250,000/N) of them, see doc.go).
	//
	// Update spread, detection and convictions are followed at every
	// node, whatever N.
	Converged bool `json:"converged"`
	// ConvergeBound is the bound the invariant checks, in rounds:
	// 2·log₃N + 5.
	ConvergeBound int `json:"converge_bound"`
	// RecoveryRounds is how many rounds after the last fault stopped (a
	// heal, the loss back to 0, a pause over, a crash or restart on a
	// clean network; the start for a run without faults) every live node
	// held what any live node held then, counted at round boundaries; -1
	// if that took more than ConvergeBound rounds (a violation), had not
	// happened by the end of the run, or faults never stopped.
	RecoveryRounds int `json:"recovery_rounds"`
	// QuietRounds is the run's last rounds without updates.
	QuietRounds int `json:"quiet_rounds"`
	// Violations are the invariant violations (empty on success); the
	// first 100, then a count.
	Violations []string `json:"violations"`
	// Findings are known protocol limitations the run hit (not
	// violations of an invariant the protocol promises; see doc.go).
	Findings []string `json:"findings,omitempty"`
	// Spread is the mean fraction of live nodes informed k rounds after an
	// update (k = 0, 1, …), over the updates made.
	Spread []float64 `json:"spread"`
	// PhiTrace is the phi of the first crashed node at observer 0 (or 1
	// if node 0 crashed first), per observer tick, from five rounds before
	// the crash until five rounds after every live node convicted it.
	PhiTrace []PhiSample `json:"phi_trace"`
}

// Progress is reported once per round to Options.Progress.
type Progress struct {
	// Round is the number of rounds done; Rounds the total.
	Round, Rounds int
	// Converged is how many live nodes hold every update made so far;
	// Nodes how many nodes are live.
	Converged, Nodes int
	// Elapsed is the wall-clock time since the run started.
	Elapsed time.Duration
}

// Options are a run's outputs besides its Report.
type Options struct {
	// Progress, when set, is called at most once per round, from Run's
	// goroutine.
	Progress func(Progress)
	// EventLog, when set, gets one line per protocol event and fault
	// (deterministic text: same scenario, same bytes).
	EventLog io.Writer
	// SkipDecode hands each receiver the sender's envelope instead of
	// decoding the frame the sender's message was encoded to (the
	// frame's bytes are still counted, without encoding it:
	// messaging.Encoder.FreshSize). The run is the same, event
	// for event (the core only reads the messages it is given), and
	// faster: decoding costs 10 to 45 % of a run's time, most of it in
	// allocations and garbage collection (BenchmarkDecode).
	SkipDecode bool
	// Workers is the number of goroutines that step the nodes' cores
	// (see the package doc, "Workers"): 0 = one per CPU the Go runtime
	// uses (runtime.GOMAXPROCS), 1 = all on Run's goroutine, at most
	// MaxWorkers. The run is the same, event for event, for any number.
	Workers int

	// ownBuffers gives every core buffers of its own rather than the
	// run's shared Scratch: for the tests that check the Scratch changes
	// nothing.
	ownBuffers bool
	// oneAtATime carries out one item at a time, without windows or
	// workers (the engine before windows): for the tests that check the
	// windows change nothing.
	oneAtATime bool
	// taken leaves runWith's workers to take the groups as they come
	// free, as Run does, rather than dealing them (parallel_test.go).
	taken bool
}

// quantiles returns the p50, p99 (nearest rank) and max of xs, sorting
// xs.
func quantiles(xs []float64) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	slices.Sort(xs)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return xs[min(max(i, 0), len(xs)-1)]
	}
	return Quantiles{P50: rank(0.5), P99: rank(0.99), Max: xs[len(xs)-1]}
}
