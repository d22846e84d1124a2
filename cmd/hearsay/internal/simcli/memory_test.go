package simcli

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckMemory(t *testing.T) {
	const gb = 1 << 30
	assert.NoError(t, checkMemory(10000, 0), "unknown memory: no check")
	assert.NoError(t, checkMemory(1000, 2*gb), "1,000 nodes fit in 2 GiB")
	err := checkMemory(10000, 22*gb)
	require.Error(t, err, "10,000 nodes (about 41 GiB) do not fit in 22 GiB")
	assert.Contains(t, err.Error(), "--nodes 10000 needs about 41.0 GiB")
	assert.Contains(t, err.Error(), "22.0 GiB available: run at most about 7")
	assert.Contains(t, err.Error(), "--force")
	assert.Contains(t, checkMemory(10, 1<<20).Error(), "at most about 0 nodes", "not even the base fits")
}

// TestRunRefusedPastMemory: a run whose estimate exceeds the memory the
// machine has available is refused before it starts (exit 2, nothing on
// stdout); --force runs it.
func TestRunRefusedPastMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, MemAvailable: 1 << 20}
	code := Main(ctx, []string{"--nodes", "20", "--rounds", "5"}, env)
	assert.Equal(t, 2, code)
	assert.Empty(t, out.String(), "nothing ran")
	assert.Contains(t, errb.String(), "hearsay sim: --nodes 20 needs about")

	out.Reset()
	errb.Reset()
	code = Main(ctx, []string{"--nodes", "20", "--rounds", "5", "--force"}, env)
	assert.Equal(t, 0, code, errb.String())
	assert.Contains(t, out.String(), "20 nodes")
}

func TestParseMemAvailable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"MemTotal:       24572812 kB\nMemFree:        1000 kB\nMemAvailable:   23000000 kB\n", 23000000 << 10},
		{"MemTotal: 1 kB\n", 0},
		{"MemAvailable: lots kB\n", 0},
		{"MemAvailable: 12 MB\n", 0},
		{"MemAvailable: 99999999999999999999 kB\n", 0},
	} {
		assert.Equal(t, tc.want, parseMemAvailable(bufio.NewScanner(strings.NewReader(tc.in))), tc.in)
	}
}
