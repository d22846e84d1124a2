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
	assert.NoError(t, checkMemory(20000, 0), "unknown memory: no check")
	assert.NoError(t, checkMemory(1000, 1*gb), "1,000 nodes fit in 1 GiB")
	assert.NoError(t, checkMemory(10000, 14*gb), "10,000 nodes fit in 14 GiB")
	err := checkMemory(20000, 22*gb)
	require.Error(t, err, "20,000 nodes (about 53 GiB) do not fit in 22 GiB")
	assert.Contains(t, err.Error(), "--nodes 20000 needs about 53.4 GiB")
	assert.Contains(t, err.Error(), "22.0 GiB available: run at most about 12784 nodes")
	assert.Contains(t, err.Error(), "--force")
	assert.Contains(t, checkMemory(10, 1<<20).Error(), "at most about 0 nodes", "not even the base fits")
	assert.LessOrEqual(t, estimatePeak(12784), uint64(22*gb), "the size named fits")
	assert.Greater(t, estimatePeak(12785), uint64(22*gb), "and is the largest that does")
}

// TestMemoryLimit: a large run sets its estimated peak as the soft memory
// limit, a small one none, and none over a GOMEMLIMIT of the user's.
func TestMemoryLimit(t *testing.T) {
	limit, ok := memoryLimit(10000, "")
	require.True(t, ok, "10,000 nodes set a limit")
	assert.Equal(t, int64(estimatePeak(10000)), limit)
	live := int64(10000*10000*liveBytesPerView + 10000*(liveBytesPerNode+chunkTailBytes(10000)) + baseBytes)
	assert.Greater(t, limit, live, "above the live heap: the collector must not run without end")
	_, ok = memoryLimit(1000, "")
	assert.False(t, ok, "1,000 nodes: the default pacing")
	_, ok = memoryLimit(10000, "12GiB")
	assert.False(t, ok, "GOMEMLIMIT is the user's")
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
