package simcli

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossyArgs is a small, very lossy sweep: 30 % of messages lost, 100 ms
// of jitter, host pauses, thresholds from reckless to safe.
var lossyArgs = []string{"tune-phi", "--profile", "cross-region", "--loss", "0.3", "--jitter", "100ms",
	"--nodes", "10", "--rounds", "240", "--runs", "2", "--thresholds", "2,3,5,8,12"}

// TestTunePhiFalseConvictionsFall checks the table's point on a lossy
// profile: as the threshold rises, false convictions fall (allowing a
// little noise between neighbours), from many at threshold 2 to a few at
// 12, while detection gets slower under the exponential model.
func TestTunePhiFalseConvictionsFall(t *testing.T) {
	code, stdout, stderr := run(t, false, append(lossyArgs, "--json")...)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr, "piped: quiet")
	var rep struct {
		Rows []tuneRow `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Len(t, rep.Rows, 10, "2 models × 5 thresholds")
	byModel := map[string][]tuneRow{}
	for _, r := range rep.Rows {
		byModel[r.Model] = append(byModel[r.Model], r)
		assert.Equal(t, 0, r.Violations, "%s %g", r.Model, r.Threshold)
		assert.InDelta(t, 2*10*240.0/3600, r.NodeHours, 1e-9)
	}
	for model, rows := range byModel {
		for i := 1; i < len(rows); i++ {
			prev, cur := rows[i-1].FalseConvictions, rows[i].FalseConvictions
			assert.LessOrEqual(t, float64(cur), 1.25*float64(prev)+3,
				"%s: false convictions at %g (%d) should not rise much above those at %g (%d)", model, rows[i].Threshold, cur, rows[i-1].Threshold, prev)
		}
		first, last := rows[0], rows[len(rows)-1]
		assert.Greater(t, first.FalseConvictions, 10, "%s: a threshold of 2 convicts live nodes under 30 %% loss", model)
		assert.Less(t, 2*last.FalseConvictions, first.FalseConvictions, "%s: threshold 12 convicts far fewer than threshold 2", model)
		assert.InDelta(t, float64(first.FalseConvictions)/first.NodeHours, first.FalsePerNodeHour, 1e-9)
	}
	exp := byModel["exponential"]
	require.Len(t, exp, 5)
	assert.Less(t, float64(exp[0].DetectionP50), float64(exp[4].DetectionP50), "a higher threshold detects later")
	assert.Equal(t, 0, exp[4].Missed, "the crash comes early enough for threshold 12 to convict")
}

// TestTunePhiTable checks the printed table and the figure.
func TestTunePhiTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fig")
	code, stdout, stderr := run(t, false, "tune-phi", "--profile", "lan", "--nodes", "6", "--rounds", "120",
		"--runs", "1", "--thresholds", "5,8", "--plot", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "tune-phi: profile lan: interval 1s, latency 200µs ± 100µs, loss 0.1 %")
	lines := strings.Split(stdout, "\n")
	var header int
	for i, l := range lines {
		if strings.HasPrefix(l, "model ") {
			header = i
		}
	}
	require.NotZero(t, header, stdout)
	assert.Regexp(t, `^model\s+threshold\s+detect p50 \(s\)\s+detect p99 \(s\)\s+missed\s+false convictions\s+per node-hour$`, lines[header])
	row := regexp.MustCompile(`^(exponential|normal)\s+(5|8)\s+[0-9.]+\s+[0-9.]+\s+0\s+\d+\s+[0-9.e+-]+$`)
	for i := 1; i <= 4; i++ {
		assert.Regexp(t, row, lines[header+i])
	}
	assert.Contains(t, stdout, "exponential: lowest threshold")
	for _, f := range []string{"tune-phi.png", "tune-phi.svg"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if assert.NoError(t, err) {
			assert.Greater(t, fi.Size(), int64(1000))
		}
	}
}

func TestQuantile(t *testing.T) {
	assert.True(t, math.IsNaN(quantile(nil, 0.5)))
	xs := []float64{5, 1, 3, 2, 4}
	assert.Equal(t, 3.0, quantile(xs, 0.5))
	assert.Equal(t, 5.0, quantile(xs, 0.99))
	assert.Equal(t, []float64{5, 1, 3, 2, 4}, xs, "the input is not reordered")
	b, err := json.Marshal(struct{ A, B maybe }{maybe(math.NaN()), 2.5})
	require.NoError(t, err)
	assert.JSONEq(t, `{"A": null, "B": 2.5}`, string(b))
}

// TestTuneScenario checks what one run of the sweep simulates: the
// profile's network, one crash late enough, pauses of other nodes, and the
// same weather for every setting.
func TestTuneScenario(t *testing.T) {
	c := defaultTune()
	s := c.scenario("normal", 6, 1)
	require.NoError(t, s.Validate())
	assert.Equal(t, c.Seed+1, s.Seed)
	assert.Equal(t, "normal", s.FDModel)
	assert.Equal(t, 6.0, s.Phi)
	assert.Equal(t, c.Profile.Loss, s.Network.Loss)
	last := s.Events[len(s.Events)-1]
	require.Equal(t, "crash", last.Kind)
	assert.Equal(t, c.crashRound(), last.Round)
	assert.GreaterOrEqual(t, c.Rounds-last.Round, 74, "threshold 16 (2·16·ln 10 ≈ 73.7 intervals) has time to convict")
	pauses := s.Events[:len(s.Events)-1]
	assert.Len(t, pauses, (c.crashRound()-1)/c.Profile.PauseGap)
	for _, e := range pauses {
		assert.Equal(t, "pause", e.Kind)
		assert.NotEqual(t, last.Nodes, e.Nodes, "the crashed node does not pause")
	}
	other := c.scenario("exponential", 12, 1)
	assert.Equal(t, s.Events, other.Events, "every setting gets the same faults for a seed")
	assert.NotEqual(t, s.Events, c.scenario("normal", 6, 2).Events, "another seed, other faults")
}

// TestProfileOverrides: only the flags given replace a profile's numbers.
func TestProfileOverrides(t *testing.T) {
	c, _, err := parseTune([]string{"--profile", "lan", "--loss", "0.2", "--pause", "0s"}, io.Discard)
	require.NoError(t, err)
	lan, err := profileNamed("lan")
	require.NoError(t, err)
	want := lan
	want.Name, want.Loss, want.Pause = "lan (custom)", 0.2, 0
	assert.Equal(t, want, c.Profile)

	c, _, err = parseTune([]string{"--profile", "cross-region", "--nodes", "5"}, io.Discard)
	require.NoError(t, err)
	cr, _ := profileNamed("cross-region")
	assert.Equal(t, cr, c.Profile, "--nodes is not a profile flag")
	assert.Equal(t, 5, c.Nodes)
}
