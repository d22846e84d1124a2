package gossiper

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// TestFarFutureGenerationRefusedAtStart (issue 11, item 7): a generation
// beyond the acceptance window fails NextGeneration with the file's name
// (and leaves the file) and Gossiper.Start; 2^63-1 does not overflow into
// a small generation. TestFarFutureGenerationRefusedByNode checks
// Node.Start (gossiper/core).
func TestFarFutureGenerationRefusedAtStart(t *testing.T) {
	now := time.Now()
	for _, far := range []int64{now.Unix() + endpointstate.MaxGenerationDrift, now.Unix() + 2*endpointstate.MaxGenerationDrift, math.MaxInt64} {
		path := filepath.Join(t.TempDir(), "generation")
		content := fmt.Sprintf("%d\n", far)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		gen, err := NextGeneration(path, now)
		require.Error(t, err, "generation %d", far)
		assert.ErrorIs(t, err, endpointstate.ErrGenerationTooFar)
		assert.Contains(t, err.Error(), path)
		assert.Zero(t, gen)
		b, _ := os.ReadFile(path)
		assert.Equal(t, content, string(b), "the file is left as it was")

		if far == now.Unix()+endpointstate.MaxGenerationDrift {
			// At the very edge only while the clock reads now's second:
			// Start reads the clock itself, and a second that turns
			// before it puts far inside the window (NextGeneration
			// above checked the edge, with the clock given).
			continue
		}
		cfg := DefaultConfig()
		cfg.ID, cfg.BindAddr, cfg.GenerationFile, cfg.ShadowTimeout = "far", "127.0.0.1:0", path, 0
		g, err := New(cfg)
		require.NoError(t, err)
		err = g.Start(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		_ = g.Stop(t.Context())
	}
	prev := now.Unix() + endpointstate.MaxGenerationDrift - 1
	path := filepath.Join(t.TempDir(), "generation")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprint(prev)), 0o644))
	gen, err := NextGeneration(path, now)
	require.NoError(t, err, "the last generation with room below the window")
	assert.Equal(t, prev+1, gen)

	cfg := DefaultConfig()
	cfg.ID = "far"
	cfg.Generation = now.Unix() + 2*endpointstate.MaxGenerationDrift
	g, err := New(cfg)
	require.NoError(t, err)
	err = g.Start(t.Context())
	require.ErrorIs(t, err, endpointstate.ErrGenerationTooFar)
	assert.Contains(t, err.Error(), "Config.Generation")
	_ = g.Stop(t.Context())

}
