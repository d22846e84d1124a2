package core

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewNodeCountsItsAddress: NewNode checks the frame size against the
// address it is given (it is in every envelope and in the endpoint
// state), not a runtime field.
func TestNewNodeCountsItsAddress(t *testing.T) {
	nc := DefaultNodeConfig()
	nc.ID = "n1"
	nc.MaxFrameSize = nc.Limits.StateSizeBound()
	for range 64 {
		if nc.Validate() == nil {
			break
		}
		nc.MaxFrameSize++
	}
	require.NoError(t, nc.Validate(), "smallest frame size without an address")
	_, err := NewNode(nc, "a-rather-long-host-name.example.com:7000", 1, nil)
	assert.ErrorContains(t, err, "MaxFrameSize")
}
