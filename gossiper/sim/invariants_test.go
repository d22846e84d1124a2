package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCrashDetected(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 50, 5
	s.Events = []Event{{Round: 10, Kind: KindCrash, Nodes: []int{0}}}
	r := runOK(t, s)
	assertInvariants(t, r)
	assert.Zero(t, r.FalseConvictions)
	assert.Equal(t, s.Nodes-1, r.Convictions, "every live node convicts the crashed one, once")
	// Threshold 8 under the exponential model: 8·ln 10 ≈ 18.4 mean
	// inter-arrival times of silence, where a heartbeat advance reaches a
	// node a little less often than once a round (the last of the live
	// nodes decides the detection time).
	assert.Greater(t, r.DetectionRounds.P50, 10.0)
	assert.Less(t, r.DetectionRounds.Max, 40.0)
	// The phi trace of node 0 at observer 1: from round 5, rising past
	// the threshold after the crash.
	require.NotEmpty(t, r.PhiTrace)
	assert.GreaterOrEqual(t, r.PhiTrace[0].Time, 5*time.Second)
	assert.Less(t, r.PhiTrace[0].Time, 6*time.Second)
	peak := 0.0
	for _, p := range r.PhiTrace {
		if p.Time < 10*time.Second {
			assert.Less(t, p.Phi, 8.0, "before the crash at %v", p.Time)
		}
		peak = max(peak, p.Phi)
	}
	assert.Greater(t, peak, 8.0)
}

func TestShutdownNotResurrected(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 60, 8
	s.Events = []Event{{Round: 10, Kind: KindShutdown, Nodes: []int{2, 3}}}
	r := runOK(t, s)
	assertInvariants(t, r)
	assert.Zero(t, r.Convictions, "a shut-down node is marked down by its announcement, not convicted")
}

func TestRemoveAfterCrash(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 60, 9
	s.Events = []Event{
		{Round: 5, Kind: KindCrash, Nodes: []int{7}},
		{Round: 38, Kind: KindRemove, Nodes: []int{7}},
	}
	r := runOK(t, s)
	assertInvariants(t, r)
	assert.Empty(t, r.Findings, "the remove was accepted")
}

func TestRemoveOfALiveNodeIsAFinding(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds = 10, 20
	s.Events = []Event{{Round: 5, Kind: KindRemove, Nodes: []int{7}}}
	r := runOK(t, s)
	require.Len(t, r.Findings, 1)
	assert.Contains(t, r.Findings[0], "member is alive")
}

// The invariant checks can fail: a threshold of 0.5 convicts live nodes
// on a clean network.
func TestFalseConvictionIsAViolation(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Phi = 20, 30, 0.5
	r := runOK(t, s)
	assert.Positive(t, r.FalseConvictions)
	require.NotEmpty(t, r.Violations)
	assert.Contains(t, r.Violations[0], "false conviction on a clean network")
}

// The view checks can fail: a watched node that held an endpoint at a
// higher version than it holds now, a convergence target nobody reached,
// a shut-down node still held up.
func TestViewChecksCatch(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds = 10, 20
	e, err := newEngine(context.Background(), s, Options{}, true)
	require.NoError(t, err)
	e.m.checkViews(e, 1)
	require.Empty(t, e.m.violations)

	e.m.hw[0][3].ver += 1000
	e.m.checkViews(e, 2)
	require.Len(t, e.m.violations, 1)
	assert.Contains(t, e.m.violations[0], "n0 went back from")

	e.m.target[4].StatesVersion += 1000
	e.m.checkConverged(e, 3)
	require.Len(t, e.m.violations, 1, "behind, but the bound has not passed")
	e.m.checkConverged(e, e.m.checkAt)
	require.Len(t, e.m.violations, 2)
	assert.Contains(t, e.m.violations[1], "not converged")
	assert.Equal(t, -1, e.m.recovery)

	e.m.markGone(e, e.nodes[5], e.nodes[5].core.Generation())
	e.m.checkViews(e, e.m.bound-1)
	require.Len(t, e.m.violations, 2, "the news has bound rounds to spread")
	e.m.checkViews(e, e.m.bound)
	require.Len(t, e.m.violations, 2+s.Nodes, "every node still holds n5 up")
	assert.Contains(t, e.m.violations[2], "resurrected")
	e.m.checkViews(e, e.m.bound+1)
	assert.Len(t, e.m.violations, 2+s.Nodes, "reported once per observer")
}

func TestProgress(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds = 10, 12
	var seen []Progress
	_, err := Run(context.Background(), s, Options{Progress: func(p Progress) { seen = append(seen, p) }})
	require.NoError(t, err)
	require.Len(t, seen, 12)
	for i, p := range seen {
		assert.Equal(t, i+1, p.Round)
		assert.Equal(t, 12, p.Rounds)
		assert.Equal(t, 10, p.Nodes)
		assert.Equal(t, 10, p.Converged)
	}
}

func TestRunStopsWithTheContext(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds = 10, 1000
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Run(ctx, s, Options{Progress: func(p Progress) {
		if p.Round == 3 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 3, r.Rounds)
}

func TestRunRefusesAnInvalidScenario(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes = 1
	_, err := Run(context.Background(), s, Options{})
	assert.ErrorContains(t, err, "nodes 1")
}

func TestOnewayAndSlow(t *testing.T) {
	t.Parallel()
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = size(), 70, 13
	s.Network = Network{Latency: 3 * time.Millisecond, Jitter: 2 * time.Millisecond, Duplicate: 0.05, Reorder: 0.1}
	s.Events = []Event{
		{Round: 5, Kind: KindOneway, From: []int{0}},
		{Round: 5, Kind: KindSlow, Nodes: []int{1, 2}, Value: 0.5},
		{Round: 40, Kind: KindHeal},
		{Round: 40, Kind: KindSlow, Nodes: []int{1, 2}},
		{Round: 50, Kind: KindSet, Nodes: []int{3}, Key: "color", Text: "blue"},
	}
	r := runOK(t, s)
	assertInvariants(t, r)
	assert.Positive(t, r.Convictions, "node 0, heard by nobody, is convicted")
}
