package seeds

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Provider returns the seed addresses the gossiper contacts first.
//
// Addresses are "host:port" strings; entries derived from DNS always have an
// IP literal as host ("10.0.0.7:7000", "[fd00::7]:7000"). Seeds may block, at
// most until ctx is done, so call it off the gossip loop ([Watcher] does).
// Implementations are safe for concurrent use, and the caller owns the
// returned slice.
//
// Seeds is Cassandra's SeedProvider.getSeeds. Like Cassandra, it is called
// again whenever a fresh list is wanted, and resolves names on every call.
type Provider interface {
	Seeds(ctx context.Context) ([]string, error)
}

// Errors returned (wrapped) by the providers. Callers branch on them with
// errors.Is.
var (
	// ErrNotFound is returned when a DNS name does not exist (NXDOMAIN).
	ErrNotFound = errors.New("name not found")
	// ErrNoSeeds is returned when a source has nothing to offer: a DNS name
	// with no records of the wanted family, SRV records that all point
	// nowhere, a seed file without entries.
	ErrNoSeeds = errors.New("no seeds")
)

// Stats counts what a provider or a [Watcher] has done. Counters only grow.
type Stats struct {
	// Lookups counts attempts to compute a fresh answer: Seeds calls for a
	// provider, polls for a Watcher.
	Lookups uint64
	// Failures counts lookups that produced no fresh answer.
	Failures uint64
	// Stale counts failures that were answered with the last good answer
	// and a nil error instead of an error.
	Stale uint64
	// Changes counts fresh answers that differed from the previous one; the
	// first answer counts as a change.
	Changes uint64
	// LastError is the text of the most recent failure, "" if none.
	LastError string
	// LastFailure is when the most recent failure happened; zero if none.
	LastFailure time.Time
	// LastSuccess is when the most recent fresh answer was computed; zero
	// if none.
	LastSuccess time.Time
}

// tracker keeps a provider's last good answer and its Stats.
type tracker struct {
	lookups, failures, stale, changes atomic.Uint64

	mu          sync.Mutex // guards the fields below
	last        []string   // last good answer; nil before the first one
	lastErr     string
	lastFailure time.Time
	lastSuccess time.Time
}

// succeed records a fresh, normalised answer. It reports whether the answer
// differs from the previous one.
func (t *tracker) succeed(list []string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSuccess = time.Now()
	changed := t.last == nil || !slices.Equal(t.last, list)
	if changed {
		t.changes.Add(1)
		t.last = slices.Clone(list)
	}
	return changed
}

// fail records a failure. It returns a copy of the last good answer, and
// false if there is none.
func (t *tracker) fail(err error) ([]string, bool) {
	t.failures.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = err.Error()
	t.lastFailure = time.Now()
	if t.last == nil {
		return nil, false
	}
	t.stale.Add(1)
	return slices.Clone(t.last), true
}

// current returns a copy of the last good answer, nil if none.
func (t *tracker) current() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.last)
}

// stats returns a snapshot of the counters.
func (t *tracker) stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{
		Lookups:     t.lookups.Load(),
		Failures:    t.failures.Load(),
		Stale:       t.stale.Load(),
		Changes:     t.changes.Load(),
		LastError:   t.lastErr,
		LastFailure: t.lastFailure,
		LastSuccess: t.lastSuccess,
	}
}

// answer computes a fresh list with compute and records it in t. On failure
// it returns t's last good answer and a nil error, or the error if there is
// none.
func answer(ctx context.Context, t *tracker, log zerolog.Logger, compute func(context.Context) ([]string, error)) ([]string, error) {
	t.lookups.Add(1)
	list, err := compute(ctx)
	if err == nil {
		if t.succeed(list) {
			log.Info().Strs("seeds", list).Msg("seed addresses changed")
		}
		return list, nil
	}
	last, ok := t.fail(err)
	ev := log.Warn()
	if ctx.Err() != nil {
		ev = log.Debug()
	}
	if ok {
		ev.Err(err).Int("last_good", len(last)).Msg("seed lookup failed; keeping last good answer")
		return last, nil
	}
	ev.Err(err).Msg("seed lookup failed; no answer yet")
	return nil, err
}
