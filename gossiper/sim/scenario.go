package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
)

// Scenario describes one run. [DefaultScenario] gives safe values;
// [Scenario.Validate] errors name the field. In JSON (see [ParseScenario])
// durations are Go duration strings ("1s", "250ms").
type Scenario struct {
	// Nodes is the cluster size, 2..100,000. Memory and the work of a
	// round grow as Nodes²: every node holds every other's state,
	// failure-detector window and liveness record, about 1.2 KB a pair
	// at this writing (1.2 GB at 1,000 nodes; docs/performance.md).
	Nodes int `json:"nodes"`
	// Seed seeds every random choice of the run: the same seed gives the
	// same run, event for event.
	Seed int64 `json:"seed"`
	// Rounds is how many rounds (intervals) to simulate, 1..1,000,000.
	Rounds int `json:"rounds"`
	// Interval is the gossip interval, 1ms..1m; default 1s.
	Interval time.Duration `json:"interval"`
	// Fanout is how many live peers a round sends a Syn to; 0 = the
	// gossiper's default (1), else 1..64.
	Fanout int `json:"fanout"`
	// PushFanout is how many peers a change is pushed to: 0 = automatic
	// (the gossiper's default), -1 = push off (the digest rounds alone),
	// else 1..64. Note the shift from gossiper.Config.PushFanout, where 0
	// is off and -1 automatic: here the zero value is the default.
	PushFanout int `json:"push_fanout"`
	// FDModel is the failure detector's model: "exponential" (Cassandra),
	// "normal" (Hayashibara), "akka"; "" = exponential.
	FDModel string `json:"fd_model"`
	// Phi is the conviction threshold; 0 = the default 8.
	Phi float64 `json:"phi"`
	// FDWindow is how many inter-arrival samples each detector window
	// keeps; 0 = the default (100). A smaller window saves memory at large
	// N (4 bytes a sample, per peer, per node).
	FDWindow int `json:"fd_window"`
	// Network is the simulated network at the start of the run.
	Network Network `json:"network"`
	// KeepConnections keeps one connection per pair of nodes for the
	// whole run (until one of them crashes or restarts), so the lean
	// encoding's tables stay warm, as they do in the runtime when
	// TCPConfig.MaxConns is at least the cluster size. Off by default:
	// every message is then encoded as a fresh connection's first frame,
	// the runtime's cost when nodes meet more peers than they keep
	// connections to. Memory grows with the pairs that met times N: for
	// small clusters.
	KeepConnections bool `json:"keep_connections"`
	// UpdateEvery: every UpdateEvery rounds a random live node sets a new
	// value (the updates whose spread Report.RoundsToConverge measures);
	// 0 = default 5, -1 = none. Updates stop in the last rounds of the run
	// (the quiet tail, see [Report.QuietRounds]) so the run can end
	// converged.
	UpdateEvery int `json:"update_every"`
	// Events is the timeline of faults and actions, sorted by Round.
	Events []Event `json:"events"`
}

// Network is the simulated network: every message is delayed by a latency
// drawn per message, and may be lost, duplicated or reordered.
type Network struct {
	// Latency is the mean one-way latency, >= 0.
	Latency time.Duration `json:"latency"`
	// Jitter is the latency's standard deviation (a normal distribution,
	// cut 4 standard deviations below the mean, and at 0: see
	// minLatency), >= 0.
	Jitter time.Duration `json:"jitter"`
	// Loss is the probability a message is lost, 0 <= Loss < 1.
	Loss float64 `json:"loss"`
	// Duplicate is the probability a message is delivered twice, 0..1.
	Duplicate float64 `json:"duplicate"`
	// Reorder is the probability a message is delayed by an extra random
	// time of up to one interval (so later messages overtake it), 0..1.
	Reorder float64 `json:"reorder"`
}

// minLatency is the smallest latency a message can have: the mean less 4
// standard deviations (a draw below is raised to it, about 3 in 100,000
// draws), or 0. It is the engine's lookahead (parallel.go): a window of
// that length is stepped in parallel.
func (n Network) minLatency() time.Duration {
	return max(0, n.Latency-4*n.Jitter)
}

// Event kinds (see [Event]).
const (
	KindCrash     = "crash"
	KindRestart   = "restart"
	KindPartition = "partition"
	KindOneway    = "oneway"
	KindHeal      = "heal"
	KindLoss      = "loss"
	KindClockJump = "clock_jump"
	KindPause     = "pause"
	KindSlow      = "slow"
	KindSet       = "set"
	KindRemove    = "remove"
	KindShutdown  = "shutdown"
)

var kinds = []string{KindCrash, KindRestart, KindPartition, KindOneway, KindHeal, KindLoss,
	KindClockJump, KindPause, KindSlow, KindSet, KindRemove, KindShutdown}

// Event is one fault or action at the start of a round. Kind is one of:
//
//   - "crash": Nodes (or a random Fraction of them) stop at once, silently;
//   - "restart": Nodes start again with a new generation (a running node
//     is crashed first), through a shadow round with the seeds;
//   - "partition": messages between Nodes and the rest are dropped both
//     ways; or, with Groups, between any two groups (nodes in no group
//     form one more);
//   - "oneway": messages from the nodes in From to the nodes in To are
//     dropped (To empty: to every other node);
//   - "heal": every partition and one-way block ends;
//   - "loss": Network.Loss becomes Value;
//   - "clock_jump": Nodes' clocks jump by Duration (may be negative);
//   - "pause": Nodes, or a random Fraction of the nodes, stop for Duration
//     (a GC or VM stall: messages wait, no rounds), then resume;
//   - "slow": Nodes skip a random fraction Value of their rounds (0 ends it);
//   - "set": Nodes set application state Key to Text;
//   - "remove": an operator removes Nodes (which must be down) from the
//     first live node not among them;
//   - "shutdown": Nodes shut down gracefully.
type Event struct {
	// Round is when the event happens: at the start of that round,
	// 0..Rounds-1.
	Round int `json:"round"`
	// Kind is what happens (see above).
	Kind string `json:"kind"`
	// Nodes are node indexes 0..Nodes-1.
	Nodes []int `json:"nodes,omitempty"`
	// Fraction, for crash and pause without Nodes: a random fraction of
	// the live nodes (at least one).
	Fraction float64 `json:"fraction,omitempty"`
	// Duration is a pause's length or a clock jump.
	Duration time.Duration `json:"duration,omitempty"`
	// Value is the loss probability or the fraction of rounds skipped.
	Value float64 `json:"value,omitempty"`
	// Groups are a partition's groups of node indexes.
	Groups [][]int `json:"groups,omitempty"`
	// From and To are a one-way block's senders and receivers.
	From []int `json:"from,omitempty"`
	// To are the one-way block's receivers (empty: every other node).
	To []int `json:"to,omitempty"`
	// Key and Text are the state a "set" event sets.
	Key string `json:"key,omitempty"`
	// Text is the value a "set" event sets.
	Text string `json:"text,omitempty"`
}

// DefaultScenario returns a clean 100-node run of 60 one-second rounds,
// seed 1, an update every 5 rounds, a 1 ms ± 0.2 ms network without loss,
// and no faults.
func DefaultScenario() Scenario {
	return Scenario{
		Nodes:    100,
		Seed:     1,
		Rounds:   60,
		Interval: time.Second,
		Network:  Network{Latency: time.Millisecond, Jitter: 200 * time.Microsecond},
	}
}

// Limits of a scenario.
const (
	// MaxNodes is the largest cluster a scenario may ask for.
	MaxNodes = 100_000
	// MaxRounds is the longest run a scenario may ask for.
	MaxRounds = 1_000_000
)

// Validate reports every problem with s, joined, each naming the field,
// its value and the rule; it does not change s.
func (s Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("scenario: "+format, args...)) }
	if s.Nodes < 2 || s.Nodes > MaxNodes {
		bad("nodes %d: want 2..%d", s.Nodes, MaxNodes)
	}
	if s.Rounds < 1 || s.Rounds > MaxRounds {
		bad("rounds %d: want 1..%d", s.Rounds, MaxRounds)
	}
	if s.Interval < time.Millisecond || s.Interval > time.Minute {
		bad("interval %v: want 1ms..1m (a Go duration such as \"1s\")", s.Interval)
	}
	if s.Fanout < 0 || s.Fanout > 64 {
		bad("fanout %d: want 0 (default) or 1..64", s.Fanout)
	}
	if s.PushFanout < -1 || s.PushFanout > 64 {
		bad("push_fanout %d: want 0 (automatic), -1 (push off) or 1..64", s.PushFanout)
	}
	if _, err := s.model(); err != nil {
		bad("fd_model %q: want \"exponential\", \"normal\" or \"akka\" (or \"\" for exponential)", s.FDModel)
	}
	if math.IsNaN(s.Phi) || math.IsInf(s.Phi, 0) || s.Phi < 0 {
		bad("phi %v: want a finite threshold > 0, or 0 for the default 8", s.Phi)
	}
	if s.FDWindow < 0 || s.FDWindow > 1<<20 {
		bad("fd_window %d: want 0 (default) or 1..%d samples", s.FDWindow, 1<<20)
	}
	if s.UpdateEvery < -1 {
		bad("update_every %d: want -1 (no updates), 0 (default 5) or a number of rounds", s.UpdateEvery)
	}
	errs = append(errs, s.Network.validate()...)
	for i, e := range s.Events {
		if i > 0 && e.Round < s.Events[i-1].Round {
			bad("events[%d]: round %d before the previous event's %d: sort events by round", i, e.Round, s.Events[i-1].Round)
		}
		if err := e.validate(s); err != nil {
			errs = append(errs, fmt.Errorf("scenario: events[%d] (%s at round %d): %w", i, e.Kind, e.Round, err))
		}
	}
	return errors.Join(errs...)
}

func (n Network) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("scenario: network: "+format, args...))
	}
	if n.Latency < 0 || n.Latency > time.Hour {
		bad("latency %v: want 0..1h", n.Latency)
	}
	if n.Jitter < 0 || n.Jitter > time.Hour {
		bad("jitter %v: want 0..1h", n.Jitter)
	}
	if !(n.Loss >= 0 && n.Loss < 1) {
		bad("loss %v: want a probability 0 <= loss < 1", n.Loss)
	}
	if !(n.Duplicate >= 0 && n.Duplicate <= 1) {
		bad("duplicate %v: want a probability 0..1", n.Duplicate)
	}
	if !(n.Reorder >= 0 && n.Reorder <= 1) {
		bad("reorder %v: want a probability 0..1", n.Reorder)
	}
	return errs
}

func (e Event) validate(s Scenario) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !slices.Contains(kinds, e.Kind) {
		bad("kind %q: want one of %v", e.Kind, kinds)
	}
	if e.Round < 0 || e.Round >= s.Rounds {
		bad("round %d: want 0..%d (rounds are numbered from 0)", e.Round, s.Rounds-1)
	}
	checkNodes := func(field string, nodes []int) {
		for _, i := range nodes {
			if i < 0 || i >= s.Nodes {
				bad("%s: node %d: want 0..%d", field, i, s.Nodes-1)
			}
		}
	}
	checkNodes("nodes", e.Nodes)
	checkNodes("from", e.From)
	checkNodes("to", e.To)
	for g, group := range e.Groups {
		checkNodes(fmt.Sprintf("groups[%d]", g), group)
	}
	if !(e.Fraction >= 0 && e.Fraction <= 1) {
		bad("fraction %v: want 0..1", e.Fraction)
	}
	needNodes := func(fraction bool) {
		if len(e.Nodes) == 0 && (!fraction || e.Fraction == 0) {
			if fraction {
				bad("want nodes or a fraction")
			} else {
				bad("want nodes")
			}
		}
	}
	switch e.Kind {
	case KindCrash, KindPause:
		needNodes(true)
	case KindRestart, KindClockJump, KindSlow, KindSet, KindRemove, KindShutdown:
		needNodes(false)
	case KindPartition:
		if len(e.Nodes) == 0 && len(e.Groups) == 0 {
			bad("want nodes (one side) or groups")
		}
	case KindOneway:
		if len(e.From) == 0 {
			bad("want from (the senders whose messages are dropped)")
		}
	case KindLoss:
		if !(e.Value >= 0 && e.Value < 1) {
			bad("value %v: want a loss probability 0 <= value < 1", e.Value)
		}
	}
	switch e.Kind {
	case KindPause:
		if e.Duration <= 0 {
			bad("duration %v: want a pause > 0", e.Duration)
		}
	case KindClockJump:
		if e.Duration == 0 {
			bad("duration 0: want a clock jump (may be negative)")
		}
	case KindSlow:
		if !(e.Value >= 0 && e.Value < 1) {
			bad("value %v: want the fraction of rounds skipped, 0 <= value < 1", e.Value)
		}
	case KindSet:
		if e.Key == "" {
			bad("want key (the application state to set)")
		}
	}
	return errors.Join(errs...)
}

// model returns the failure detector model s names.
func (s Scenario) model() (failuredetector.Model, error) {
	if s.FDModel == "" {
		return failuredetector.Exponential, nil
	}
	return failuredetector.ParseModel(s.FDModel)
}

// ParseScenario reads a scenario from JSON: the fields of [Scenario] by
// their JSON names, durations as Go duration strings ("1s", "250ms").
// Fields absent from data keep [DefaultScenario]'s values; unknown fields,
// trailing data and invalid values are errors (see [Scenario.Validate]).
func ParseScenario(data []byte) (Scenario, error) {
	j := toJSON(DefaultScenario())
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Scenario{}, fmt.Errorf("parse scenario: %w", err)
	}
	if dec.More() {
		return Scenario{}, errors.New("parse scenario: trailing data after the JSON object")
	}
	s := j.scenario()
	if err := s.Validate(); err != nil {
		return Scenario{}, fmt.Errorf("parse scenario: %w", err)
	}
	return s, nil
}

// MarshalJSON writes s as ParseScenario reads it, durations as strings.
func (s Scenario) MarshalJSON() ([]byte, error) { return json.Marshal(toJSON(s)) }

// UnmarshalJSON reads s as ParseScenario does, without the defaults and
// without validating.
func (s *Scenario) UnmarshalJSON(data []byte) error {
	var j scenarioJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*s = j.scenario()
	return nil
}

// duration is a time.Duration written as a Go duration string.
type duration time.Duration

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a Go duration such as \"1s\" or \"250ms\"", b)
	}
	*d = duration(v)
	return nil
}

// The JSON mirrors of Scenario, Network and Event (durations as strings).
type scenarioJSON struct {
	Nodes       int         `json:"nodes"`
	Seed        int64       `json:"seed"`
	Rounds      int         `json:"rounds"`
	Interval    duration    `json:"interval"`
	Fanout      int         `json:"fanout"`
	PushFanout  int         `json:"push_fanout"`
	FDModel     string      `json:"fd_model"`
	Phi         float64     `json:"phi"`
	FDWindow    int         `json:"fd_window"`
	Network     networkJSON `json:"network"`
	KeepConns   bool        `json:"keep_connections"`
	UpdateEvery int         `json:"update_every"`
	Events      []eventJSON `json:"events"`
}

type networkJSON struct {
	Latency   duration `json:"latency"`
	Jitter    duration `json:"jitter"`
	Loss      float64  `json:"loss"`
	Duplicate float64  `json:"duplicate"`
	Reorder   float64  `json:"reorder"`
}

type eventJSON struct {
	Round    int      `json:"round"`
	Kind     string   `json:"kind"`
	Nodes    []int    `json:"nodes,omitempty"`
	Fraction float64  `json:"fraction,omitempty"`
	Duration duration `json:"duration,omitempty"`
	Value    float64  `json:"value,omitempty"`
	Groups   [][]int  `json:"groups,omitempty"`
	From     []int    `json:"from,omitempty"`
	To       []int    `json:"to,omitempty"`
	Key      string   `json:"key,omitempty"`
	Text     string   `json:"text,omitempty"`
}

func toJSON(s Scenario) scenarioJSON {
	j := scenarioJSON{Nodes: s.Nodes, Seed: s.Seed, Rounds: s.Rounds, Interval: duration(s.Interval),
		Fanout: s.Fanout, PushFanout: s.PushFanout, FDModel: s.FDModel, Phi: s.Phi, FDWindow: s.FDWindow,
		Network: networkJSON{Latency: duration(s.Network.Latency), Jitter: duration(s.Network.Jitter),
			Loss: s.Network.Loss, Duplicate: s.Network.Duplicate, Reorder: s.Network.Reorder},
		KeepConns: s.KeepConnections, UpdateEvery: s.UpdateEvery}
	for _, e := range s.Events {
		j.Events = append(j.Events, eventJSON{Round: e.Round, Kind: e.Kind, Nodes: e.Nodes, Fraction: e.Fraction,
			Duration: duration(e.Duration), Value: e.Value, Groups: e.Groups, From: e.From, To: e.To, Key: e.Key, Text: e.Text})
	}
	return j
}

func (j scenarioJSON) scenario() Scenario {
	s := Scenario{Nodes: j.Nodes, Seed: j.Seed, Rounds: j.Rounds, Interval: time.Duration(j.Interval),
		Fanout: j.Fanout, PushFanout: j.PushFanout, FDModel: j.FDModel, Phi: j.Phi, FDWindow: j.FDWindow,
		Network: Network{Latency: time.Duration(j.Network.Latency), Jitter: time.Duration(j.Network.Jitter),
			Loss: j.Network.Loss, Duplicate: j.Network.Duplicate, Reorder: j.Network.Reorder},
		KeepConnections: j.KeepConns, UpdateEvery: j.UpdateEvery}
	for _, e := range j.Events {
		s.Events = append(s.Events, Event{Round: e.Round, Kind: e.Kind, Nodes: e.Nodes, Fraction: e.Fraction,
			Duration: time.Duration(e.Duration), Value: e.Value, Groups: e.Groups, From: e.From, To: e.To, Key: e.Key, Text: e.Text})
	}
	return s
}
