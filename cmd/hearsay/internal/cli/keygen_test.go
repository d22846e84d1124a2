package cli

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeygen: hearsay keygen prints one line, the standard base64 of 32
// bytes, different each run; it refuses arguments, and its help
// describes the keyring file.
func TestKeygen(t *testing.T) {
	keys := map[string]bool{}
	for range 2 {
		var out, errb strings.Builder
		require.Equal(t, 0, Keygen(nil, &out, &errb), errb.String())
		assert.Empty(t, errb.String())
		line, rest, ok := strings.Cut(out.String(), "\n")
		require.True(t, ok, "a line: %q", out.String())
		assert.Empty(t, rest, "one line")
		key, err := base64.StdEncoding.DecodeString(line)
		require.NoError(t, err)
		assert.Len(t, key, KeySize)
		assert.Equal(t, 32, KeySize)
		keys[line] = true
	}
	assert.Len(t, keys, 2, "two runs print two keys")

	var out, errb strings.Builder
	assert.Equal(t, 2, Keygen([]string{"extra"}, &out, &errb))
	assert.Empty(t, out.String())
	assert.Contains(t, errb.String(), `unexpected argument "extra"`)

	errb.Reset()
	assert.Equal(t, 2, Keygen([]string{"--bits", "128"}, &out, &errb))
	assert.Contains(t, errb.String(), "flag provided but not defined: -bits")
	assert.Empty(t, out.String())

	errb.Reset()
	assert.Equal(t, 0, Keygen([]string{"-h"}, &out, &errb))
	for _, w := range []string{"32 random bytes", "The first key is the primary", "Lines starting with # and blank lines are\nignored"} {
		assert.Contains(t, errb.String(), w)
	}
}
