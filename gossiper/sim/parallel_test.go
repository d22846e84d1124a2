package sim

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workerScenarios are the runs TestWorkersChangeNothing repeats with
// different numbers of workers: the clean default network, 20 % loss, a
// partition, a rolling restart, slow nodes, pauses; "wide" has a latency
// of 200 ms, so windows of 120 ms hold many items and the flushes a node
// schedules for itself fall inside them, with a crash, a clock jump, a
// slow node, a set and a pause; "wide-reorder" an update a round and
// overtaken messages; "kept" kept connections.
func workerScenarios() map[string]Scenario {
	const n = 40
	base := func(seed int64) Scenario {
		s := DefaultScenario()
		s.Nodes, s.Rounds, s.Seed = n, 40, seed
		return s
	}
	out := map[string]Scenario{}
	out["clean"] = base(1)
	s := base(2)
	s.Network.Loss = 0.2
	s.Events = []Event{{Round: 25, Kind: KindLoss, Value: 0}}
	out["loss20"] = s
	s = base(3)
	s.Events = []Event{{Round: 5, Kind: KindPartition, Nodes: nodes(0, n/2)}, {Round: 20, Kind: KindHeal}}
	out["partition"] = s
	s = base(4)
	for i := range 20 {
		s.Events = append(s.Events, Event{Round: 5 + i, Kind: KindRestart, Nodes: []int{2 * i}})
	}
	out["rolling-restart"] = s
	s = base(5)
	s.Events = []Event{{Round: 5, Kind: KindSlow, Nodes: []int{1, 2, 7}, Value: 0.5}, {Round: 30, Kind: KindSlow, Nodes: []int{1, 2, 7}}}
	out["slow"] = s
	s = base(6)
	s.Events = []Event{{Round: 8, Kind: KindPause, Fraction: 0.1, Duration: 3 * time.Second}, {Round: 15, Kind: KindPause, Nodes: []int{5}, Duration: 30 * time.Second}}
	out["pauses"] = s
	s = base(7)
	s.Network = Network{Latency: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.05, Duplicate: 0.05, Reorder: 0.05}
	s.Events = []Event{
		{Round: 4, Kind: KindCrash, Nodes: []int{3}},
		{Round: 6, Kind: KindClockJump, Nodes: []int{9}, Duration: time.Hour},
		{Round: 8, Kind: KindSlow, Nodes: []int{11}, Value: 0.3},
		{Round: 10, Kind: KindSet, Nodes: []int{12, 13}, Key: "k", Text: "v"},
		{Round: 12, Kind: KindRestart, Nodes: []int{3}},
		{Round: 14, Kind: KindPause, Nodes: []int{20}, Duration: 2 * time.Second},
	}
	out["wide"] = s
	// An update every round, a third of the messages overtaken: a node
	// often learns two versions of one endpoint within a window, and the
	// measurements must see each as it was then (rec.vers).
	s = base(8)
	s.UpdateEvery = 1
	s.Network = Network{Latency: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, Reorder: 0.3}
	out["wide-reorder"] = s
	// Kept connections: their tables are encoded in order, by the serial
	// pass.
	s = base(9)
	s.KeepConnections = true
	s.Network = Network{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.05}
	s.Events = []Event{{Round: 6, Kind: KindRestart, Nodes: []int{4}}}
	out["kept"] = s
	return out
}

// runWith runs s with opt and returns its report (wall time and memory
// zeroed), its event log and the windows' counts.
func runWith(t *testing.T, s Scenario, opt Options) (Report, []byte, parStats) {
	t.Helper()
	var log bytes.Buffer
	opt.EventLog = &log
	e, err := newEngine(context.Background(), s, opt, !opt.SkipDecode)
	require.NoError(t, err)
	e.par.minShared = 1      // share every window the workers can: the test is about them
	e.par.dealt = !opt.taken // and move the nodes between them, unless the workers take the groups as a run does
	stop := e.par.start(e)
	e.loop()
	stop()
	require.NoError(t, e.err)
	require.NoError(t, e.log.Flush())
	r := e.m.report(e)
	r.PeakMemoryBytes = 0
	return r, log.Bytes(), e.par.stats
}

// TestWorkersChangeNothing: the same scenario gives the same report and
// event log with 1, 2 or 3 workers, and the same as one item at a time
// without windows; under -race this also shows the workers share nothing
// unsafely, nodes moving between them (one IDTable for all, each
// worker's Scratch lent to the cores it steps).
func TestWorkersChangeNothing(t *testing.T) {
	t.Parallel()
	for name, s := range workerScenarios() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, skip := range []bool{false, true} {
				want, wantLog, _ := runWith(t, s, Options{SkipDecode: skip, oneAtATime: true})
				require.Positive(t, len(wantLog))
				// Two workers taking the groups as a run does: moving
				// nodes or not, as the timing falls.
				got, log, _ := runWith(t, s, Options{SkipDecode: skip, Workers: 2, taken: true})
				assert.Equal(t, want, got, "SkipDecode %t, 2 workers taking the groups: the report", skip)
				assert.True(t, bytes.Equal(wantLog, log), "SkipDecode %t, 2 workers taking the groups: the event logs differ", skip)
				for _, w := range []int{1, 2, 3} {
					got, log, st := runWith(t, s, Options{SkipDecode: skip, Workers: w})
					assert.Equal(t, want, got, "SkipDecode %t, %d workers: the report", skip, w)
					assert.True(t, bytes.Equal(wantLog, log), "SkipDecode %t, %d workers: the event logs differ", skip, w)
					t.Logf("SkipDecode %t, %d workers: %+v", skip, w, st)
					assert.Positive(t, st.windows, "%d workers: no window", w)
					if w > 1 {
						assert.Positive(t, st.shared, "%d workers: no window was shared", w)
						assert.Positive(t, st.moved, "%d workers: no node was stepped by two workers", w)
					}
					if name == "wide" {
						assert.Positive(t, st.ownFlushes, "no flush inside a window")
						assert.Positive(t, st.stopped, "no node left to the serial pass")
					}
				}
			}
		})
	}
}

// TestWindowsNeedALatencyFloor: a latency that can be 0 leaves the engine
// one item at a time.
func TestWindowsNeedALatencyFloor(t *testing.T) {
	s := DefaultScenario()
	s.Nodes, s.Rounds = 10, 5
	s.Network.Jitter = s.Network.Latency / 4
	_, _, st := runWith(t, s, Options{Workers: 2})
	assert.Zero(t, st.windows)
	s.Network.Jitter = s.Network.Latency / 5
	_, _, st = runWith(t, s, Options{Workers: 2})
	assert.Positive(t, st.windows)
	assert.Equal(t, 200*time.Microsecond, s.Network.minLatency())
}

func TestOptionsValidate(t *testing.T) {
	for _, w := range []int{0, 1, 2, MaxWorkers} {
		assert.NoError(t, Options{Workers: w}.Validate(), "workers %d", w)
	}
	for _, w := range []int{-1, MaxWorkers + 1} {
		err := Options{Workers: w}.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), fmt.Sprintf("workers %d", w))
		_, err = Run(context.Background(), DefaultScenario(), Options{Workers: w})
		assert.Error(t, err)
	}
}
