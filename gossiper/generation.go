package gossiper

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/core"
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
		if prev >= core.GenerationLimit(now) {
			return 0, fmt.Errorf("%w; fix the clock or delete the file", core.GenerationTooFar(prev, now, "generation file "+path))
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

// lastGenerations remembers, per node ID, the last generation this process
// handed out (or the node took while running) without a GenerationFile, and
// the clock reading it was recorded at, so that an in-process restart within
// the same second (a test's restart, a supervisor inside the program) still
// gets a higher generation. This is the package's one piece of process-wide
// state, because the Gossiper being restarted is a new value and nothing
// else of the old one outlives it in the process.
//
// Several clocks share the table: the wall clock and every
// testing/synctest bubble, whose clock starts again at 2000-01-01. An entry
// recorded after the current reading comes from a clock that went back (a
// new bubble, a clock step) and is dropped, so one bubble's starts do not
// push the next bubble's generations up. Entries the clock has passed are
// dropped too (the clock alone is enough again), as are entries older than
// generationMemory, and the table holds at most maxGenerationEntries IDs
// (the oldest recorded goes first): it holds only IDs started just now.
var lastGenerations = struct {
	sync.Mutex
	byID map[string]generationEntry
}{byID: map[string]generationEntry{}}

// generationEntry is one ID's entry in lastGenerations.
type generationEntry struct {
	gen int64     // the last generation handed out or taken
	at  time.Time // the clock reading it was recorded at
}

const (
	// generationMemory bounds how long an entry ahead of the clock (a
	// generation taken while running, to beat an older incarnation) is
	// remembered.
	generationMemory = 24 * time.Hour
	// maxGenerationEntries bounds lastGenerations.
	maxGenerationEntries = 1024
)

// processGeneration returns the generation for node id starting at now
// without a GenerationFile: the wall-clock seconds, or one more than the
// last generation this process gave id (at or before now on this clock) if
// that is not below them.
func processGeneration(id string, now time.Time) int64 {
	return rememberGeneration(id, now, 0)
}

// rememberGeneration records that node id runs in generation gen (> 0:
// taken while running, to beat an older incarnation), so that its next
// start in this process goes above it; with gen 0 it hands out the next
// generation. Either way it returns the generation recorded.
func rememberGeneration(id string, now time.Time, gen int64) int64 {
	sec := now.Unix()
	lastGenerations.Lock()
	defer lastGenerations.Unlock()
	table := lastGenerations.byID
	oldest := ""
	for k, e := range table {
		if e.at.After(now) || e.gen < sec || now.Sub(e.at) > generationMemory {
			delete(table, k)
		} else if oldest == "" || e.at.Before(table[oldest].at) {
			oldest = k
		}
	}
	prev, ok := table[id]
	switch {
	case gen > 0 && ok:
		gen = max(gen, prev.gen)
	case gen > 0:
	case ok:
		gen = max(sec, prev.gen+1)
	default:
		gen = sec
	}
	if !ok && len(table) >= maxGenerationEntries {
		delete(table, oldest)
	}
	table[id] = generationEntry{gen: gen, at: now}
	return gen
}
