package gossiper

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// lastGenerations remembers, per node ID, the last generation this process
// handed out without a GenerationFile, so that an in-process restart within
// the same second (a test's restart, a supervisor inside the program) still
// gets a higher generation. This is the package's one piece of process-wide
// state, because the Gossiper being restarted is a new value and nothing
// else of the old one outlives it in the process. Each ID keeps one value
// per clock (see generationAhead), and only while it is not below that
// clock's seconds: after a second or so the clock alone is enough again, so
// entries are dropped and the table holds only IDs started just now.
var lastGenerations = struct {
	sync.Mutex
	byID map[string][]int64
}{byID: map[string][]int64{}}

// generationAhead tells clocks apart: a remembered generation further than
// this from the clock came from another one (a testing/synctest bubble,
// whose clock starts in 2000, or the wall clock seen from a bubble) and is
// kept for that clock but not used. It is far more than a burst of
// restarts can push a generation ahead, and far less than the year within
// which peers accept a generation.
const generationAhead = 24 * time.Hour

// processGeneration returns the generation for node id starting at now
// without a GenerationFile: the wall-clock seconds, or one more than the
// last generation this process gave id on the same clock if that is not
// below them.
func processGeneration(id string, now time.Time) int64 {
	return rememberGeneration(id, now, 0)
}

// rememberGeneration records that node id runs in generation gen (> 0:
// taken while running, to beat an older incarnation), so that its next
// start in this process goes above it; with gen 0 it hands out the next
// generation. Either way it returns the generation recorded.
func rememberGeneration(id string, now time.Time, gen int64) int64 {
	sec := now.Unix()
	ahead := int64(generationAhead / time.Second)
	sameClock := func(v int64) bool { return v > sec-ahead && v < sec+ahead }
	lastGenerations.Lock()
	defer lastGenerations.Unlock()
	for k, vs := range lastGenerations.byID {
		vs = slices.DeleteFunc(vs, func(v int64) bool { return sameClock(v) && v < sec })
		if len(vs) == 0 {
			delete(lastGenerations.byID, k)
		} else {
			lastGenerations.byID[k] = vs
		}
	}
	if gen > 0 && !sameClock(gen) {
		return gen // beyond any use for a restart on this clock
	}
	vs := lastGenerations.byID[id]
	i := slices.IndexFunc(vs, sameClock)
	switch {
	case gen > 0 && i >= 0:
		gen = max(gen, vs[i])
	case gen > 0:
	case i >= 0:
		gen = max(sec, vs[i]+1)
	default:
		gen = sec
	}
	if i >= 0 {
		vs[i] = gen
	} else {
		vs = append(vs, gen)
	}
	lastGenerations.byID[id] = vs
	return gen
}
