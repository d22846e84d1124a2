package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimBinary runs "hearsay sim" as a process, piped: the JSON report
// on stdout, nothing on stderr (no progress line when not a terminal),
// exit 0; and a bad flag exits 2 with a message and no report.
func TestSimBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, binPath(), "sim", "--nodes", "16", "--rounds", "12", "--seed", "3", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
	assert.Empty(t, stderr.String(), "piped, the run is quiet")
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep), stdout.String())
	assert.EqualValues(t, 16, rep["nodes"])
	assert.EqualValues(t, 3, rep["seed"])
	assert.Contains(t, rep, "rounds_to_converge")

	code, out := runCLI(t, "sim", "--nodes", "1")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "--nodes")
	assert.NotContains(t, out, "rounds to converge")

	code, out = runCLI(t, "sim", "--scenario", filepath.Join("..", "..", "docs", "scenarios", "partition.json"), "--nodes", "24")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "hearsay sim: 24 nodes, seed 7, 150 rounds", "flags override the file, the file's seed stays")
}
