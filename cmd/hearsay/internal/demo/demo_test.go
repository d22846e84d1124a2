package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearsay-io/hearsay/failuredetector"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func fastOptions(live bool) (Options, *strings.Builder) {
	var out strings.Builder
	o := DefaultOptions()
	o.Nodes, o.Interval, o.Duration = 3, 40*time.Millisecond, time.Second // 40 ms: a loaded CI machine stalls 20 ms rounds into false convictions
	o.FailureDetector = failuredetector.DefaultConfigFor(o.Interval)
	o.Out, o.Live = &out, live
	return o, &out
}

func TestRun(t *testing.T) {
	o, out := fastOptions(false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := Run(ctx, o)
	require.NoError(t, err, out.String())
	assert.False(t, sum.Interrupted)
	assert.Positive(t, sum.Convergence)
	assert.Positive(t, sum.Propagation)
	assert.Equal(t, "node-3", sum.Crashed)
	require.Len(t, sum.Convictions, 2, "both peers convicted the crashed node")
	for _, c := range sum.Convictions {
		assert.GreaterOrEqual(t, c.Phi, o.FailureDetector.PhiConvictThreshold)
		assert.Positive(t, c.After)
	}
	assert.GreaterOrEqual(t, sum.AllConvicted, sum.Convictions["node-1"].After)
	assert.Greater(t, sum.NewGeneration, sum.OldGeneration)
	assert.Positive(t, sum.Recovery)
	assert.Positive(t, sum.Rounds)
	assert.Positive(t, sum.Messages)
	assert.Positive(t, sum.ByType["syn"])

	text := out.String()
	assert.Equal(t, "node-2", sum.Stopped)
	assert.Positive(t, sum.ShutdownSeen)
	for _, want := range []string{"Phase 1/6", "Phase 3/6: node-3 crashes", "phi of node-3 as seen by",
		"Phase 6/6: node-2 shuts down gracefully", "Membership as seen by node-1", "DN      node-3", "DN      node-2"} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "\x1b[", "no ANSI sequences off a terminal")

	var b strings.Builder
	sum.Write(&b)
	for _, want := range []string{"convergence", "state change", "crash detection", "recovery", "traffic", "graceful shutdown"} {
		assert.Contains(t, b.String(), want)
	}
	assert.NotContains(t, b.String(), "not measured")
}

// TestRunSecure: --secure runs the demo on a keyring, shows a node
// without the key refused and never listed, and deletes the keyring.
func TestRunSecure(t *testing.T) {
	o, out := fastOptions(false)
	o.Secure = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := Run(ctx, o)
	require.NoError(t, err, out.String())
	require.NotEmpty(t, sum.Keyring)
	assert.Positive(t, sum.IntruderRefused)
	assert.False(t, sum.IntruderListed)
	assert.Positive(t, sum.Recovery, "the whole demo ran on the keyring")
	assert.Positive(t, sum.ShutdownSeen)
	assert.NoFileExists(t, sum.Keyring, "the temporary keyring is removed")
	assert.Contains(t, out.String(), "a node without the key tried to join: refused")
	var b strings.Builder
	sum.Write(&b)
	assert.Contains(t, b.String(), "gossip sealed with AES-256-GCM")
}

func TestRunLive(t *testing.T) {
	o, out := fastOptions(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Run(ctx, o)
	require.NoError(t, err)
	text := out.String()
	assert.True(t, strings.HasPrefix(text, hideCursor+clearAll))
	assert.Contains(t, text, home)
	assert.Contains(t, text, "Recent events")
	assert.True(t, strings.HasSuffix(text, showCursor))
}

func TestRunInterrupted(t *testing.T) {
	o, _ := fastOptions(false)
	o.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	o.Out = cancelAfter{"every node sees all", cancel}
	sum, err := Run(ctx, o)
	require.NoError(t, err)
	assert.True(t, sum.Interrupted)
	assert.Positive(t, sum.Convergence)
	assert.Zero(t, sum.Recovery)
	var b strings.Builder
	sum.Write(&b)
	assert.Contains(t, b.String(), "  recovery           not measured (interrupted)\n")
}

// cancelAfter cancels when marker is written.
type cancelAfter struct {
	marker string
	cancel context.CancelFunc
}

func (c cancelAfter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func TestMainFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "2"}, {"--interval", "1ms"}, {"--fd-model", "x"}, {"--phi", "-1"}, {"--bogus"}, {"extra"},
	} {
		var out, errb strings.Builder
		assert.Equal(t, 2, Main(context.Background(), args, &out, &errb, false), args)
		assert.NotEmpty(t, errb.String())
	}
}
