package sim

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// size is the cluster size of the fault scenarios: small enough that the
// package's tests stay fast under -race on two cores.
func size() int {
	if testing.Short() {
		return 24
	}
	return 50
}

// runOK runs s and fails the test on an error; it logs the replay line.
func runOK(t *testing.T, s Scenario) Report {
	t.Helper()
	r, err := Run(context.Background(), s, Options{})
	require.NoError(t, err)
	t.Logf("seed %d, %d nodes, %d rounds: rounds_to_converge %+v, detection %+v, convictions %d (false %d), %.0f B/node/round, converged %t, %.2f s",
		s.Seed, s.Nodes, s.Rounds, r.RoundsToConverge, r.DetectionRounds, r.Convictions, r.FalseConvictions, r.BytesPerNodePerRound.Mean, r.Converged, r.WallSeconds)
	return r
}

// assertInvariants checks what every fault scenario must keep.
func assertInvariants(t *testing.T, r Report) {
	t.Helper()
	assert.Empty(t, r.Violations, "invariant violations")
	assert.True(t, r.Converged, "live nodes hold different states at the end")
	assert.Zero(t, r.UpdatesUnconverged, "updates that never reached every live node")
	assert.Positive(t, r.Updates)
}

func nodes(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestCleanNetwork(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds = size(), 40
	r := runOK(t, s)
	assertInvariants(t, r)
	assert.Zero(t, r.Convictions)
	assert.Positive(t, r.BytesPerNodePerRound.Mean)
	assert.InDelta(t, 1, r.Spread[len(r.Spread)-1], 1e-9)
}

func TestLoss20(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 60, 20
	s.Network.Loss = 0.2
	s.Events = []Event{{Round: 40, Kind: KindLoss, Value: 0}}
	r := runOK(t, s)
	assertInvariants(t, r)
}

func TestPartitionHealed(t *testing.T) {
	t.Parallel()
	for _, push := range []int{0, -1} {
		t.Run(map[int]string{0: "push", -1: "digests"}[push], func(t *testing.T) {
			t.Parallel()
			s := DefaultScenario()
			n := size()
			s.Nodes, s.Rounds, s.Seed, s.PushFanout = n, 5+60+20, 50, push
			s.Events = []Event{
				{Round: 5, Kind: KindPartition, Nodes: nodes(0, n/2)},
				{Round: 65, Kind: KindHeal},
			}
			r := runOK(t, s)
			assertInvariants(t, r)
			// The sides convicted each other during the partition: that is right.
			assert.Positive(t, r.Convictions)
			assert.Zero(t, r.FalseConvictions)
			assert.Equal(t, int(math.Ceil(2*math.Log(float64(n))/math.Log(3)))+5, r.ConvergeBound)
			t.Logf("converged %d rounds after the heal (bound %d)", r.RecoveryRounds, r.ConvergeBound)
			assert.Positive(t, r.RecoveryRounds, "the convergence after the heal was checked")
			assert.LessOrEqual(t, r.RecoveryRounds, r.ConvergeBound)
		})
	}
}

func TestRollingRestart(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	n := size()
	s.Nodes, s.Seed = n, 7
	for i := range n {
		s.Events = append(s.Events, Event{Round: 5 + i, Kind: KindRestart, Nodes: []int{i}})
	}
	s.Rounds = 5 + n + 20
	r := runOK(t, s)
	assertInvariants(t, r)
}

func TestClockJumpHour(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 60, 3
	s.Events = []Event{{Round: 10, Kind: KindClockJump, Nodes: []int{4}, Duration: time.Hour}}
	r := runOK(t, s)
	assertInvariants(t, r)
	assert.Zero(t, r.Convictions)
}

func TestPause1Percent(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 60, 11
	s.Events = []Event{{Round: 10, Kind: KindPause, Fraction: 0.01, Duration: 30 * time.Second}}
	r := runOK(t, s)
	assertInvariants(t, r)
	// The others convict the paused node (30 s of silence is past the
	// threshold); the paused node convicts nobody when it resumes: that
	// would be a false conviction on a clean network, a violation.
	assert.Positive(t, r.Convictions)
	assert.Zero(t, r.FalseConvictions)
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = 30, 40, 99
	s.Network = Network{Latency: 2 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.05, Duplicate: 0.02, Reorder: 0.05}
	s.Events = []Event{
		{Round: 5, Kind: KindCrash, Nodes: []int{3}},
		{Round: 10, Kind: KindPartition, Nodes: nodes(0, 10)},
		{Round: 25, Kind: KindHeal},
		{Round: 30, Kind: KindRestart, Nodes: []int{3}},
		{Round: 35, Kind: KindPause, Fraction: 0.05, Duration: 3 * time.Second},
	}
	var logs [2]bytes.Buffer
	var reports [2]Report
	for i := range 2 {
		r, err := Run(context.Background(), s, Options{EventLog: &logs[i]})
		require.NoError(t, err)
		r.WallSeconds, r.PeakMemoryBytes = 0, 0
		reports[i] = r
	}
	assert.Equal(t, reports[0], reports[1])
	require.Positive(t, logs[0].Len())
	assert.True(t, bytes.Equal(logs[0].Bytes(), logs[1].Bytes()), "event logs differ")
	// Handing receivers the sender's envelope, rather than decoding its
	// frame, changes nothing: the codec round-trips every message, and
	// the core does not change the messages it is given.
	var skipped bytes.Buffer
	r, err := Run(context.Background(), s, Options{EventLog: &skipped, SkipDecode: true})
	require.NoError(t, err)
	r.WallSeconds, r.PeakMemoryBytes = 0, 0
	assert.Equal(t, reports[0], r)
	assert.True(t, bytes.Equal(logs[0].Bytes(), skipped.Bytes()), "event logs differ with SkipDecode")
	// A different seed gives a different run.
	s.Seed++
	var other bytes.Buffer
	_, err = Run(context.Background(), s, Options{EventLog: &other})
	require.NoError(t, err)
	assert.False(t, bytes.Equal(logs[0].Bytes(), other.Bytes()))
}

// TestScratchChangesNothing: the cores sharing one Scratch, their
// messages' lists reused once every receiver has handled them, run the
// same as cores with buffers of their own, under loss, duplicates,
// reordering, a partition, a crash and restart and pauses (messages held
// in a paused node's inbox), with frames handed over as sent (the lists
// released after the last delivery) or decoded (released once encoded).
func TestScratchChangesNothing(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = 80, 30, 7
	s.Network = Network{Latency: 2 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.05, Duplicate: 0.05, Reorder: 0.1}
	s.Events = []Event{
		{Round: 4, Kind: KindCrash, Nodes: []int{3}},
		{Round: 8, Kind: KindPartition, Nodes: nodes(0, 30)},
		{Round: 14, Kind: KindHeal},
		{Round: 16, Kind: KindRestart, Nodes: []int{3}},
		{Round: 20, Kind: KindPause, Fraction: 0.1, Duration: 2 * time.Second},
	}
	for _, skip := range []bool{true, false} {
		var logs [2]bytes.Buffer
		var reports [2]Report
		for i, own := range []bool{true, false} {
			r, err := Run(context.Background(), s, Options{EventLog: &logs[i], SkipDecode: skip, ownBuffers: own})
			require.NoError(t, err)
			r.WallSeconds, r.PeakMemoryBytes = 0, 0
			reports[i] = r
		}
		assert.Equal(t, reports[0], reports[1], "SkipDecode %t: the report", skip)
		require.Positive(t, logs[0].Len())
		assert.True(t, bytes.Equal(logs[0].Bytes(), logs[1].Bytes()), "SkipDecode %t: the event logs differ", skip)
	}
}
