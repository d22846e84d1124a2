package seeds

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

// writeFile replaces path atomically (write, then rename), as operators are
// told to.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds")
	writeFile(t, path, strings.Join([]string{
		"# gossip seeds",
		"",
		"10.0.0.2",
		"   10.0.0.1:7001   # rack 1",
		"[::1]:7002\r", // CRLF line ends
		"fd00::3",
		"10.0.0.2:7000 # duplicate",
		"\t",
	}, "\n"))
	f, err := NewFile(path, 7000)
	require.NoError(t, err)
	got, err := f.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7001", "10.0.0.2:7000", "[::1]:7002", "[fd00::3]:7000"}, got)
}

func TestFileHostnames(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.1", "127.0.0.2")
	path := filepath.Join(t.TempDir(), "seeds")
	writeFile(t, path, "seeds.test:7001\n10.0.0.1\n")
	f, err := NewFile(path, 7000, WithDNSConfig(fastDNS(srv, "", 0)))
	require.NoError(t, err)
	got, err := f.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7000", "127.0.0.1:7001", "127.0.0.2:7001"}, got)

	srv.SetA("seeds.test", "127.0.0.3")
	got, err = f.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7000", "127.0.0.3:7001"}, got, "resolved again although the file did not change")
}

func TestFileBadLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds")
	writeFile(t, path, "10.0.0.1\n# ok so far\n10.0.0.2:0\nbad host\n")
	log, logs := newLogger()
	f, err := NewFile(path, 7000, WithDNSConfig(DNSConfig{Logger: log}))
	require.NoError(t, err)

	got, err := f.Seeds(t.Context())
	require.Error(t, err)
	assert.Nil(t, got)
	assert.Contains(t, err.Error(), path+`:3: entry "10.0.0.2:0": port 0`)
	assert.Contains(t, err.Error(), path+`:4: entry "bad host"`)

	writeFile(t, path, "10.0.0.1\n")
	got, err = f.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7000"}, got)

	writeFile(t, path, "10.0.0.1\n10.0.0.5:x\n")
	got, err = f.Seeds(t.Context())
	require.NoError(t, err, "a bad edit keeps the last good list")
	assert.Equal(t, []string{"10.0.0.1:7000"}, got)
	st := f.Stats()
	assert.Equal(t, uint64(2), st.Failures)
	assert.Equal(t, uint64(1), st.Stale)
	assert.Contains(t, st.LastError, path+":2:")
	assert.Contains(t, logs.String(), "keeping last good answer")
}

func TestFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds")
	f, err := NewFile(path, 7000)
	require.NoError(t, err, "the file may appear later")

	got, err := f.Seeds(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)
	assert.Nil(t, got)

	writeFile(t, path, "10.0.0.1\n")
	got, err = f.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7000"}, got)

	require.NoError(t, os.Remove(path))
	got, err = f.Seeds(t.Context())
	require.NoError(t, err, "a deleted file keeps the last good list")
	assert.Equal(t, []string{"10.0.0.1:7000"}, got)
	assert.Contains(t, f.Stats().LastError, "no such file")
}

func TestFileEmptyAndTooLarge(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "# nothing yet\n\n")
	f, err := NewFile(empty, 7000)
	require.NoError(t, err)
	_, err = f.Seeds(t.Context())
	require.ErrorIs(t, err, ErrNoSeeds)

	large := filepath.Join(dir, "large")
	writeFile(t, large, strings.Repeat("# padding\n", maxFileSize/10+1))
	f, err = NewFile(large, 7000)
	require.NoError(t, err)
	_, err = f.Seeds(t.Context())
	require.ErrorContains(t, err, "larger than 1048576 bytes")
}

func TestNewFileValidation(t *testing.T) {
	_, err := NewFile("", 7000)
	require.ErrorContains(t, err, "path is empty")
	_, err = NewFile("x", -1)
	require.ErrorContains(t, err, "default port -1")
	_, err = NewFile("x", 7000, WithDNSConfig(DNSConfig{Server: "a b"}))
	require.ErrorContains(t, err, `Server "a b"`)
}
