package agent

import (
	"bytes"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The admin API server's error log lets errorLogBurst lines through at
// once, then one per errorLogEvery.
const (
	errorLogBurst = 10
	errorLogEvery = time.Second
)

// httpErrorLog is the admin API server's error log (failed TLS handshakes,
// broken connections): each line becomes a warning, at a rate limit, so
// that a scanner or a flood of bad handshakes cannot fill the log. The
// lines it drops are counted and the count goes with the next line let
// through. It is safe for concurrent use.
type httpErrorLog struct {
	log zerolog.Logger
	now func() time.Time

	mu      sync.Mutex // guards the fields below
	tokens  float64    // lines that may go now, up to errorLogBurst
	last    time.Time  // when tokens was last brought up to date
	dropped int        // lines dropped since the last one logged
}

func newHTTPErrorLog(log zerolog.Logger) *httpErrorLog {
	return &httpErrorLog{log: log, now: time.Now, tokens: errorLogBurst}
}

// Write logs one line of the server's error log, or counts it as dropped.
func (l *httpErrorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(errorLogBurst, l.tokens+float64(now.Sub(l.last))/float64(errorLogEvery))
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		l.mu.Unlock()
		return len(p), nil
	}
	l.tokens--
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	e := l.log.Warn()
	if dropped > 0 {
		e = e.Int("dropped_before", dropped)
	}
	e.Msg(string(bytes.TrimSpace(p)))
	return len(p), nil
}
