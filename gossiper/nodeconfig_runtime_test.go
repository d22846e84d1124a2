package gossiper

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNodeConfigSeparateFromRuntime: the core takes a NodeConfig, valid
// by itself with an ID, and Config embeds the same defaults, so
// cfg.Interval and the like keep working; Config.Validate reports the
// core's problems and the runtime's.
func TestNodeConfigSeparateFromRuntime(t *testing.T) {
	nc := DefaultNodeConfig()
	assert.ErrorContains(t, nc.Validate(), `config: ID ""`)
	nc.ID = "n1"
	require.NoError(t, nc.Validate())
	assert.Equal(t, nc.Interval, time.Second)

	cfg := DefaultConfig()
	assert.Equal(t, DefaultNodeConfig(), cfg.NodeConfig, "Config's core defaults are DefaultNodeConfig's")
	cfg.ID = "n1"
	cfg.Interval = 2 * time.Second
	assert.Equal(t, 2*time.Second, cfg.NodeConfig.Interval, "promoted field")

	n, err := NewNode(nc, "10.0.0.1:7000", 1, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	assert.Equal(t, "n1", n.ID())

	nc.Fanout = 0
	_, err = NewNode(nc, "10.0.0.1:7000", 1, nil)
	assert.ErrorContains(t, err, "Fanout 0: want 1..64")

	cfg.Fanout, cfg.EventBuffer = 0, 0
	err = cfg.Validate()
	assert.ErrorContains(t, err, "Fanout 0: want 1..64", "the core's check")
	assert.ErrorContains(t, err, "EventBuffer 0: want >= 1", "the runtime's check")
}
