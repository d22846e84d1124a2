package agent

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPErrorLogRateLimited: a burst of server errors (failed TLS
// handshakes) logs errorLogBurst warnings, then one a second, and the
// next line let through says how many were dropped.
func TestHTTPErrorLogRateLimited(t *testing.T) {
	var out bytes.Buffer
	l := newHTTPErrorLog(zerolog.New(&out))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 1000 {
		_, err := l.Write([]byte("http: TLS handshake error from 127.0.0.1:1: EOF\n"))
		require.NoError(t, err)
	}
	assert.Equal(t, errorLogBurst, strings.Count(out.String(), "\n"))
	now = now.Add(errorLogEvery)
	_, _ = l.Write([]byte("http: TLS handshake error from 127.0.0.1:2: EOF\n"))
	_, _ = l.Write([]byte("dropped\n"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, errorLogBurst+1)
	var last struct {
		Level   string `json:"level"`
		Message string `json:"message"`
		Dropped int    `json:"dropped_before"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[errorLogBurst]), &last))
	assert.Equal(t, "warn", last.Level)
	assert.Equal(t, "http: TLS handshake error from 127.0.0.1:2: EOF", last.Message)
	assert.Equal(t, 1000-errorLogBurst, last.Dropped)
}
