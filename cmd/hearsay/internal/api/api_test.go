package api

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecurityListsMaxJoinAddrs: docs/security.md's table of limits has
// the bound on join addresses with the value of MaxJoinAddrs.
func TestSecurityListsMaxJoinAddrs(t *testing.T) {
	b, err := os.ReadFile("../../../../docs/security.md")
	require.NoError(t, err)
	var row string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "|") && strings.Contains(line, "`api.MaxJoinAddrs`") {
			row = line
		}
	}
	require.NotEmpty(t, row, "a row for api.MaxJoinAddrs")
	assert.Contains(t, row, fmt.Sprintf("| %d |", MaxJoinAddrs))
}
