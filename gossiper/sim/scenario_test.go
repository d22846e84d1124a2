package sim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultScenarioValid(t *testing.T) {
	require.NoError(t, DefaultScenario().Validate())
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Scenario)
		want   string
	}{
		{"one node", func(s *Scenario) { s.Nodes = 1 }, "nodes 1"},
		{"no rounds", func(s *Scenario) { s.Rounds = 0 }, "rounds 0"},
		{"interval", func(s *Scenario) { s.Interval = 0 }, "interval 0s"},
		{"fanout", func(s *Scenario) { s.Fanout = 65 }, "fanout 65"},
		{"push fanout", func(s *Scenario) { s.PushFanout = -2 }, "push_fanout -2"},
		{"model", func(s *Scenario) { s.FDModel = "gauss" }, `fd_model "gauss"`},
		{"phi", func(s *Scenario) { s.Phi = -1 }, "phi -1"},
		{"window", func(s *Scenario) { s.FDWindow = -1 }, "fd_window -1"},
		{"update every", func(s *Scenario) { s.UpdateEvery = -2 }, "update_every -2"},
		{"loss", func(s *Scenario) { s.Network.Loss = 1 }, "network: loss 1"},
		{"jitter", func(s *Scenario) { s.Network.Jitter = -1 }, "network: jitter -1ns"},
		{"unsorted events", func(s *Scenario) {
			s.Events = []Event{{Round: 5, Kind: KindHeal}, {Round: 4, Kind: KindHeal}}
		}, "events[1]: round 4 before"},
		{"unknown kind", func(s *Scenario) { s.Events = []Event{{Kind: "explode"}} }, `kind "explode"`},
		{"node out of range", func(s *Scenario) { s.Events = []Event{{Kind: KindCrash, Nodes: []int{100}}} }, "node 100: want 0..99"},
		{"crash without nodes", func(s *Scenario) { s.Events = []Event{{Kind: KindCrash}} }, "want nodes or a fraction"},
		{"pause without duration", func(s *Scenario) { s.Events = []Event{{Kind: KindPause, Nodes: []int{1}}} }, "want a pause > 0"},
		{"oneway without from", func(s *Scenario) { s.Events = []Event{{Kind: KindOneway}} }, "want from"},
		{"event after the end", func(s *Scenario) { s.Events = []Event{{Round: 60, Kind: KindHeal}} }, "round 60: want 0..59"},
		{"set without key", func(s *Scenario) { s.Events = []Event{{Kind: KindSet, Nodes: []int{0}}} }, "want key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultScenario()
			tc.change(&s)
			err := s.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := DefaultScenario()
	s.Nodes, s.Rounds, s.Phi = 0, 0, -1
	err := s.Validate()
	require.Error(t, err)
	for _, want := range []string{"nodes 0", "rounds 0", "phi -1"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestParseScenario(t *testing.T) {
	s, err := ParseScenario([]byte(`{
		"nodes": 50, "seed": 7, "interval": "500ms",
		"network": {"latency": "2ms", "loss": 0.1},
		"events": [{"round": 10, "kind": "pause", "fraction": 0.1, "duration": "30s"}]
	}`))
	require.NoError(t, err)
	assert.Equal(t, 50, s.Nodes)
	assert.Equal(t, int64(7), s.Seed)
	assert.Equal(t, DefaultScenario().Rounds, s.Rounds, "absent fields keep the default")
	assert.Equal(t, 500*time.Millisecond, s.Interval)
	assert.Equal(t, Network{Latency: 2 * time.Millisecond, Jitter: DefaultScenario().Network.Jitter, Loss: 0.1}, s.Network, "absent network fields keep the default too")
	require.Len(t, s.Events, 1)
	assert.Equal(t, Event{Round: 10, Kind: KindPause, Fraction: 0.1, Duration: 30 * time.Second}, s.Events[0])
}

func TestParseScenarioRefuses(t *testing.T) {
	tests := map[string]string{
		"unknown field":        `{"nodez": 5}`,
		"unknown nested field": `{"network": {"lost": 0.1}}`,
		"unknown event field":  `{"events": [{"round": 1, "kind": "heal", "when": 3}]}`,
		"duration as a number": `{"interval": 1000000000}`,
		"bad duration":         `{"interval": "1 second"}`,
		"invalid value":        `{"nodes": 1}`,
		"trailing data":        `{"nodes": 5} {}`,
		"not json":             `nodes: 5`,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseScenario([]byte(data))
			assert.Error(t, err)
		})
	}
}

func TestScenarioJSONRoundTrip(t *testing.T) {
	s := DefaultScenario()
	s.Events = []Event{
		{Round: 3, Kind: KindPartition, Groups: [][]int{{0, 1}, {2, 3}}},
		{Round: 4, Kind: KindOneway, From: []int{1}, To: []int{2}},
		{Round: 5, Kind: KindClockJump, Nodes: []int{2}, Duration: -time.Minute},
		{Round: 6, Kind: KindSet, Nodes: []int{2}, Key: "k", Text: "v"},
	}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"interval":"1s"`)
	back, err := ParseScenario(b)
	require.NoError(t, err)
	assert.Equal(t, s, back)
	var viaUnmarshal Scenario
	require.NoError(t, json.Unmarshal(b, &viaUnmarshal))
	assert.Equal(t, s, viaUnmarshal)
}

func TestReportJSON(t *testing.T) {
	r := Report{Nodes: 3, RoundsToConverge: Quantiles{P50: 1, P99: 2, Max: 3},
		BytesPerNodePerRound: Mean{Mean: 10, Max: 20}, PhiTrace: []PhiSample{{Time: 1500 * time.Millisecond, Phi: 2.5}}}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	for _, want := range []string{`"rounds_to_converge":{"p50":1,"p99":2,"max":3}`, `"bytes_per_node_per_round":{"mean":10,"max":20}`,
		`"phi_trace":[{"t_seconds":1.5,"phi":2.5}]`, `"peak_memory_bytes":0`, `"wall_seconds":0`, `"false_convictions":0`} {
		assert.Contains(t, string(b), want)
	}
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)
}

func TestQuantiles(t *testing.T) {
	assert.Equal(t, Quantiles{}, quantiles(nil))
	xs := make([]float64, 0, 200)
	for i := 200; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	assert.Equal(t, Quantiles{P50: 100, P99: 198, Max: 200}, quantiles(xs))
}
