package seeds

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger returns a logger that writes JSON lines to a fresh buffer.
func newLogger() (zerolog.Logger, *logBuffer) {
	b := &logBuffer{}
	return zerolog.New(b).Level(zerolog.DebugLevel), b
}

// fastDNS returns a configuration that asks srv, with short timeouts and a
// seeded jitter source, so failing lookups end quickly.
func fastDNS(srv *dnstest.Server, name string, port int) DNSConfig {
	cfg := DefaultDNSConfig()
	cfg.Name, cfg.Port, cfg.Server = name, port, srv.Addr()
	// Long enough that the in-process server's answer never times out on
	// a loaded machine, short enough for the tests of a silent server.
	cfg.Timeout = 300 * time.Millisecond
	cfg.Attempts = 2
	cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	cfg.Rand = rand.New(rand.NewPCG(1, 2))
	return cfg
}
