package agent

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatesSurviveRestart: the states set and deleted through the API
// are saved in the data directory and published again, in a new
// generation, by the next agent on that directory; --state flags win.
func TestStatesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	first := startAgent(t, "node-p", func(o *Options) { o.DataDir = dir })
	for _, kv := range [][2]string{{"zone", "eu-west"}, {"temp", "x"}, {"role", "db"}, {"blob", "line1\nline2\x00"}} {
		code, body := first.call(t, "PUT", "/v1/state/"+kv[0], kv[1])
		require.Equal(t, http.StatusOK, code, body)
	}
	code, body := first.call(t, "DELETE", "/v1/state/temp", "")
	require.Equal(t, http.StatusNoContent, code, body)
	before, _ := first.g.Member("node-p")
	require.NoError(t, first.Stop(context.Background()))

	second := startAgent(t, "node-p", func(o *Options) {
		o.DataDir = dir
		o.States = map[string]string{"role": "cache"}
	})
	after, _ := second.g.Member("node-p")
	assert.Greater(t, after.Generation, before.Generation)
	got := map[string]string{}
	for k, v := range after.States.All() {
		got[k] = v.Value
	}
	assert.Equal(t, "eu-west", got["zone"])
	assert.Equal(t, "line1\nline2\x00", got["blob"])
	assert.Equal(t, "cache", got["role"], "--state wins over the saved value")
	assert.NotContains(t, got, "temp", "a deleted key stays deleted")
}

func TestSavedStatesRefusedWhenBad(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":     "{",
		"reserved key": `{"states": {"hearsay.status": "left"}}`,
		"too large":    `{"states": {"k": "` + string(make([]byte, maxStatesFile)) + `"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, statesFile), []byte(content), 0o600))
			o := DefaultOptions()
			o.ID, o.DataDir = "n", dir
			_, err := New(o, zerolog.Nop())
			var ue *UsageError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), filepath.Join(dir, statesFile))
		})
	}
}

func TestSaveStatesReplacesAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	require.NoError(t, saveStates(dir, map[string]string{"a": "1"}))
	require.NoError(t, saveStates(dir, map[string]string{"b": "2"}))
	got, err := loadStates(dir)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"b": "2"}, got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
	assert.Equal(t, statesFile, entries[0].Name())
}
