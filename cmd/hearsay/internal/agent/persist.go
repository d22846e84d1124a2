package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// statesFile is the file of the data directory that keeps the node's own
// application states, so that a restarted node publishes them again (in
// its new generation) instead of losing them: {"states": {key: value}}.
const statesFile = "states.json"

// maxStatesFile bounds the states file when it is read: the limits allow
// 256 KiB of state, which JSON escaping can make at most six times longer.
const maxStatesFile = 8 << 20

// savedStates is the content of the states file.
type savedStates struct {
	States map[string]string `json:"states"`
}

// loadStates reads the states saved in dir: none if there is no file. A
// file that cannot be read, is too large or holds a key or value the
// limits refuse is an error naming the file.
func loadStates(dir string) (map[string]string, error) {
	path := filepath.Join(dir, statesFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("saved states: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStatesFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("saved states %s: %w", path, err)
	case len(b) > maxStatesFile:
		return nil, fmt.Errorf("saved states %s: larger than %d bytes; move it away to start without them", path, maxStatesFile)
	}
	var s savedStates
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("saved states %s: %w; move it away to start without them", path, err)
	}
	lim := endpointstate.DefaultLimits()
	for k, v := range s.States {
		if err := errors.Join(lim.CheckUserKey(k), lim.CheckValue(v)); err != nil {
			return nil, fmt.Errorf("saved states %s: key %q: %w; move it away to start without them", path, k, err)
		}
	}
	return s.States, nil
}

// saveStates replaces the states file of dir atomically: a temporary file
// written and synced, renamed over the old one, and the directory synced,
// so that a crash at any point leaves the old file or the new one.
func saveStates(dir string, states map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving states: %w", err)
	}
	b, err := json.Marshal(savedStates{States: states})
	if err != nil {
		return fmt.Errorf("saving states: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".states-*")
	if err != nil {
		return fmt.Errorf("saving states: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, statesFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("saving states: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// persistStates saves the node's current application states (its own
// keys, not hearsay's) in the data directory. It runs after every local
// set and delete; persistMu orders the saves, and each saves the latest
// snapshot, so the file ends with every change that completed.
func (a *Agent) persistStates() error {
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	m, _ := a.g.Member(a.g.LocalID())
	lim := endpointstate.DefaultLimits()
	states := make(map[string]string, m.States.Len())
	for k, v := range m.States.All() {
		if lim.CheckUserKey(k) == nil {
			states[k] = v.Value
		}
	}
	return saveStates(a.opts.DataDir, states)
}

// initialStates returns the states the node starts with: those saved in
// dir by its previous run, overridden by the --state ones.
func initialStates(dir string, flags map[string]string) (map[string]string, error) {
	saved, err := loadStates(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(saved)+len(flags))
	maps.Copy(out, saved)
	maps.Copy(out, flags)
	return out, nil
}
