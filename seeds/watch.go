package seeds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Defaults and limits of [WatcherConfig].
const (
	defaultWatchInterval = 30 * time.Second
	defaultWatchTimeout  = 10 * time.Second
	minWatchDuration     = time.Millisecond
	maxWatchDuration     = 24 * time.Hour
	// seedCountWarn is Cassandra's seed_count_warn_threshold.
	seedCountWarn = 20
)

// WatcherConfig configures a [Watcher]. Zero fields mean their default.
type WatcherConfig struct {
	// Interval is the time between the starts of two Seeds calls,
	// 1ms-24h. Default 30s. A call that takes longer than Interval delays
	// the next one; calls never overlap.
	Interval time.Duration
	// Timeout bounds one Seeds call, 1ms-24h. Default 10s, enough for
	// DNSConfig's default 3 attempts of 2s.
	Timeout time.Duration
	// Logger receives refresh failures (warn) and changed lists (info).
	// Default zerolog.Nop(), the zero value, which logs nothing.
	Logger zerolog.Logger
}

// DefaultWatcherConfig returns a configuration with every default filled
// in.
func DefaultWatcherConfig() WatcherConfig {
	return WatcherConfig{Interval: defaultWatchInterval, Timeout: defaultWatchTimeout, Logger: zerolog.Nop()}
}

// Validate reports every problem of the configuration at once, joined with
// errors.Join. It does not change c.
func (c WatcherConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", c.Interval}, {"Timeout", c.Timeout}} {
		if d.v != 0 && (d.v < minWatchDuration || d.v > maxWatchDuration) {
			errs = append(errs, fmt.Errorf("field %s %s is out of range 1ms-24h (0 = default)", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Watcher keeps a seed list fresh off the gossip loop: it calls a
// provider's Seeds at once and then every interval, and hands each new list
// to a callback. The gossiper runs it in a goroutine of its own, so a slow
// or failing DNS server never delays a gossip round.
//
// What it delivers:
//   - onUpdate gets the first non-empty list, then every list that differs
//     from the previous one (lists are sorted and deduplicated before they
//     are compared). An unchanged list is not delivered again.
//   - An error, or an empty list, is logged at warn and counted in Stats;
//     nothing is delivered and the previous list stays current. The
//     watcher keeps polling, so a provider that recovers delivers its new
//     list at the next poll. onUpdate never sees an empty list.
//
// onUpdate runs on the watcher's goroutine, never concurrently with itself;
// it should hand the list off quickly (a slow callback delays the next poll,
// not gossip). It owns the slice it gets. Seeds and Stats are safe to call
// from any goroutine.
type Watcher struct {
	p        Provider
	cfg      WatcherConfig
	onUpdate func([]string)
	log      zerolog.Logger
	running  atomic.Bool
	t        tracker
}

// NewWatcher returns a watcher of p. onUpdate may be nil, for callers that
// read [Watcher.Seeds] instead.
func NewWatcher(p Provider, cfg WatcherConfig, onUpdate func([]string)) (*Watcher, error) {
	if p == nil {
		return nil, errors.New("new seed watcher: provider is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new seed watcher: %w", err)
	}
	if cfg.Interval == 0 {
		cfg.Interval = defaultWatchInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultWatchTimeout
	}
	log := cfg.Logger.With().Str("seed_provider", fmt.Sprintf("%T", p)).Logger()
	return &Watcher{p: p, cfg: cfg, onUpdate: onUpdate, log: log}, nil
}

// Run polls the provider until ctx is done, then returns nil. It returns an
// error at once if the watcher is already running.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("seed watcher is already running")
	}
	defer w.running.Store(false)
	w.poll(ctx)
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.poll(ctx)
		}
	}
}

// Seeds returns the list delivered last, or nil before the first one.
func (w *Watcher) Seeds() []string { return w.t.current() }

// Stats returns the watcher's counters: Lookups counts polls, Failures the
// polls that returned an error or no seeds, Changes the lists delivered.
func (w *Watcher) Stats() Stats { return w.t.stats() }

// poll calls the provider once and delivers a changed list.
func (w *Watcher) poll(ctx context.Context) {
	w.t.lookups.Add(1)
	pctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	list, err := w.p.Seeds(pctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: not a failure
	}
	if err == nil && len(list) == 0 {
		err = fmt.Errorf("provider returned an empty list: %w", ErrNoSeeds)
	}
	if err != nil {
		_, kept := w.t.fail(err)
		w.log.Warn().Err(err).Bool("keeping_previous", kept).Msg("seed refresh failed")
		return
	}
	list = normalizeList(list)
	if !w.t.succeed(list) {
		return
	}
	w.log.Info().Strs("seeds", list).Msg("seeds updated")
	if len(list) > seedCountWarn {
		w.log.Warn().Int("seeds", len(list)).Msg("more than 20 seeds: a long seed list weakens the seed round; about 3 per datacenter is enough")
	}
	if w.onUpdate != nil {
		w.onUpdate(slices.Clone(list))
	}
}

// Watch runs a [Watcher] of p with the given interval and the other
// defaults of [WatcherConfig] until ctx is done. It returns an error only
// if p is nil or interval is out of range.
func Watch(ctx context.Context, p Provider, interval time.Duration, onUpdate func([]string)) error {
	if interval <= 0 {
		return fmt.Errorf("watch seeds: interval %s is not positive", interval)
	}
	w, err := NewWatcher(p, WatcherConfig{Interval: interval}, onUpdate)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
