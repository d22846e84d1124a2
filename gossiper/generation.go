package gossiper

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NextGeneration returns the generation for a node starting now and
// persists it in path: the wall-clock seconds, or one more than the value
// persisted by the previous start if the clock went back (Cassandra's
// rule), so generations strictly increase across restarts. The file is
// replaced atomically. A persisted generation that leaves no room below
// the acceptance window (endpointstate.MaxGenerationDrift ahead of now,
// beyond which every peer refuses the node) is an error naming the file,
// and the file is left as it was.
func NextGeneration(path string, now time.Time) (int64, error) {
	gen := now.Unix()
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		prev, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil || prev < 0 {
			return 0, fmt.Errorf("generation file %s: %q is not a generation", path, strings.TrimSpace(string(b)))
		}
		// prev+1 must stay within the window (and cannot overflow then).
		if prev >= generationLimit(now) {
			return 0, fmt.Errorf("%w; fix the clock or delete the file", farGeneration(prev, now, "generation file "+path))
		}
		gen = max(gen, prev+1)
	case !os.IsNotExist(err):
		return 0, fmt.Errorf("generation file: %w", err)
	}
	if err := SaveGeneration(path, gen); err != nil {
		return 0, err
	}
	return gen, nil
}

// SaveGeneration persists gen in path, replacing the file atomically. The
// Gossiper calls it when the node takes a new generation while running (to
// refute an announcement that it left, or to beat a previous incarnation).
func SaveGeneration(path string, gen int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("generation file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".generation-*")
	if err != nil {
		return fmt.Errorf("generation file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", gen); err != nil {
		tmp.Close()
		return fmt.Errorf("generation file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("generation file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("generation file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("generation file: %w", err)
	}
	return nil
}
