// Package ratelog keeps a flood of identical warnings from becoming a flood
// of log lines: a [Limiter] lets a few lines through per interval and
// counts the rest, and the next line it lets through says how many it
// suppressed. Counters of the underlying events are kept elsewhere and
// never depend on what was logged.
package ratelog

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Limiter lets at most Burst log lines through per Interval and suppresses
// the rest. One Limiter guards one kind of message (for example "dropped
// undecodable frame"); give each kind its own, so that a flood of one
// cannot hide another. The zero value lets [DefaultBurst] lines through
// per second. A Limiter is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	burst    int

	mu          sync.Mutex // guards the fields below
	windowStart time.Time
	inWindow    int    // lines let through since windowStart
	suppressed  uint64 // lines suppressed since the last one let through
}

// DefaultBurst is the burst of a zero Limiter, per second.
const DefaultBurst = 5

// New returns a Limiter that lets burst lines through per interval.
// burst < 1 is taken as 1 and interval <= 0 as one second.
func New(interval time.Duration, burst int) *Limiter {
	if interval <= 0 {
		interval = time.Second
	}
	return &Limiter{interval: interval, burst: max(burst, 1)}
}

// Allow reports whether a line may be logged at now and, if so, how many
// lines were suppressed since the last one allowed.
func (l *Limiter) Allow(now time.Time) (ok bool, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.interval == 0 {
		l.interval, l.burst = time.Second, DefaultBurst
	}
	if now.Sub(l.windowStart) >= l.interval || now.Before(l.windowStart) {
		l.windowStart, l.inWindow = now, 0
	}
	if l.inWindow >= l.burst {
		l.suppressed++
		return false, 0
	}
	l.inWindow++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Event returns an event of the given level on log, or nil (on which
// zerolog's methods, Msg included, do nothing) when the line is
// suppressed. A line that follows suppressed ones carries their number in
// the field "suppressed".
//
//	lim.Event(&log, zerolog.WarnLevel).Err(err).Msg("dropped undecodable frame")
func (l *Limiter) Event(log *zerolog.Logger, level zerolog.Level) *zerolog.Event {
	if log.GetLevel() > level {
		return nil // disabled: do not spend the budget
	}
	ok, n := l.Allow(time.Now())
	if !ok {
		return nil
	}
	e := log.WithLevel(level)
	if n > 0 {
		e = e.Uint64("suppressed", n)
	}
	return e
}
