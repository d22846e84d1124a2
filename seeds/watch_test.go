package seeds

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

const (
	// waitFor bounds every wait for a background refresh.
	waitFor = 10 * time.Second
	// pollEvery is how often a test checks for it.
	pollEvery = 2 * time.Millisecond
	// refresh is the watch interval of the tests.
	refresh = 20 * time.Millisecond
)

// updates records what a Watcher delivers, and at which lookup of a
// counter (the provider's or the watcher's) each delivery happened.
type updates struct {
	mu      sync.Mutex // guards lists and at
	lists   [][]string
	at      []uint64
	counter func() uint64
}

func (u *updates) record(list []string) {
	n := uint64(0)
	if u.counter != nil {
		n = u.counter()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lists = append(u.lists, list)
	u.at = append(u.at, n)
}

func (u *updates) all() [][]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.lists)
}

// last returns the latest delivery and the lookup it happened at.
func (u *updates) last() ([]string, uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.lists) == 0 {
		return nil, 0
	}
	return u.lists[len(u.lists)-1], u.at[len(u.at)-1]
}

// waitForList waits until want is the latest delivery and returns the
// lookup it was delivered at.
func (u *updates) waitForList(t *testing.T, want []string) uint64 {
	t.Helper()
	require.Eventually(t, func() bool {
		got, _ := u.last()
		return slices.Equal(got, want)
	}, waitFor, pollEvery, "waiting for %v; got %v", want, u.all())
	_, at := u.last()
	return at
}

// run starts fn in a goroutine until the test ends, then cancels it and
// waits for it to return.
func run(t *testing.T, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(waitFor):
			t.Error("watcher did not return after cancel")
		}
	})
}

// TestWatchPicksUpDNSChanges runs a Watcher over a real DNS server whose
// records change: the new seeds arrive by the next poll after the change.
func TestWatchPicksUpDNSChanges(t *testing.T) {
	srv := dnstest.NewServer(t)
	const name = "_gossip._tcp.hearsay.test"
	srv.SetSRV(name, dnstest.SRV{Target: "node-0.hearsay.test", Port: 7000}, dnstest.SRV{Target: "node-1.hearsay.test", Port: 7000})
	srv.SetA("node-0.hearsay.test", "127.0.0.1")
	srv.SetA("node-1.hearsay.test", "127.0.0.2")
	srv.SetA("node-2.hearsay.test", "127.0.0.3") // where the redeploy will put them
	srv.SetA("node-3.hearsay.test", "127.0.0.4")
	cfg := fastDNS(srv, name, 0)
	cfg.SRV = true
	d := newDNSProvider(t, cfg)

	u := &updates{}
	w, err := NewWatcher(d, WatcherConfig{Interval: refresh, Timeout: time.Second}, u.record)
	require.NoError(t, err)
	u.counter = func() uint64 { return w.Stats().Lookups }
	run(t, w.Run)
	u.waitForList(t, []string{"127.0.0.1:7000", "127.0.0.2:7000"})

	// A redeploy: the pods come back with new addresses and a new port, in
	// one change of the zone, so that no poll sees half of it.
	before := w.Stats().Lookups
	srv.SetSRV(name, dnstest.SRV{Target: "node-2.hearsay.test", Port: 7100}, dnstest.SRV{Target: "node-3.hearsay.test", Port: 7100})
	at := u.waitForList(t, []string{"127.0.0.3:7100", "127.0.0.4:7100"})
	assert.LessOrEqual(t, at, before+1, "picked up within one refresh: by the poll after the one in flight")
	assert.Equal(t, []string{"127.0.0.3:7100", "127.0.0.4:7100"}, w.Seeds())
}

// TestWatchServerGoesAway checks that a watcher keeps the last good seeds
// when the DNS server disappears, and that the failures are counted.
func TestWatchServerGoesAway(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.1")
	log, logs := newLogger()
	cfg := fastDNS(srv, "seeds.test", 7000)
	cfg.Logger = log
	d := newDNSProvider(t, cfg)
	u := &updates{}
	w, err := NewWatcher(d, WatcherConfig{Interval: refresh}, u.record)
	require.NoError(t, err)
	run(t, w.Run)
	u.waitForList(t, []string{"127.0.0.1:7000"})

	srv.Close()
	require.Eventually(t, func() bool { return d.Stats().Failures >= 2 }, waitFor, pollEvery)
	assert.Equal(t, [][]string{{"127.0.0.1:7000"}}, u.all(), "nothing new delivered")
	assert.Equal(t, []string{"127.0.0.1:7000"}, w.Seeds())
	assert.Contains(t, d.Stats().LastError, srv.Addr())
	assert.Contains(t, logs.String(), "keeping last good answer")
}

// TestWatchJoinsWhenSeedsRecover is the lone node: it starts while its seed
// name does not resolve, keeps running, and gets the seeds once they exist.
func TestWatchJoinsWhenSeedsRecover(t *testing.T) {
	srv := dnstest.NewServer(t)
	d := newDNSProvider(t, fastDNS(srv, "seeds.test", 7000))
	u := &updates{}
	w, err := NewWatcher(d, WatcherConfig{Interval: refresh}, u.record)
	require.NoError(t, err)
	run(t, w.Run)

	require.Eventually(t, func() bool { return w.Stats().Failures >= 3 }, waitFor, pollEvery)
	assert.Empty(t, u.all(), "errors are not delivered")
	assert.Nil(t, w.Seeds())
	assert.Contains(t, w.Stats().LastError, "name not found")

	srv.SetA("seeds.test", "127.0.0.1")
	u.waitForList(t, []string{"127.0.0.1:7000"})
}

// scripted is a Provider that gives one scripted answer per call, then
// repeats the last one.
type scripted struct {
	calls  atomic.Int64
	script []fixed
}

func (s *scripted) Seeds(ctx context.Context) ([]string, error) {
	i := int(s.calls.Add(1)) - 1
	return s.script[min(i, len(s.script)-1)].Seeds(ctx)
}

func TestWatchDeliversOnlyChanges(t *testing.T) {
	a := []string{"10.0.0.2:7000", "10.0.0.1:7000"}
	b := []string{"10.0.0.3:7000"}
	p := &scripted{script: []fixed{
		{err: errors.New("dns down")},
		{list: nil}, // empty: not delivered
		{list: a},   // delivered, sorted
		{list: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}, // same list: not delivered
		{err: errors.New("dns down again")},                // kept a
		{list: []string{}},                                 // kept a
		{list: b},                                          // delivered
	}}
	u := &updates{}
	log, logs := newLogger()
	w, err := NewWatcher(p, WatcherConfig{Interval: time.Millisecond, Logger: log}, u.record)
	require.NoError(t, err)
	run(t, w.Run)

	require.Eventually(t, func() bool { return w.Stats().Lookups >= uint64(len(p.script)+2) }, waitFor, pollEvery)
	assert.Equal(t, [][]string{{"10.0.0.1:7000", "10.0.0.2:7000"}, b}, u.all())
	assert.Equal(t, b, w.Seeds())
	st := w.Stats()
	assert.Equal(t, uint64(4), st.Failures)
	assert.Equal(t, uint64(2), st.Stale, "two failures while a list was current")
	assert.Equal(t, uint64(2), st.Changes)
	assert.Contains(t, logs.String(), "seed refresh failed")
	assert.Contains(t, logs.String(), "provider returned an empty list")
}

func TestWatchFileEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds")
	writeFile(t, path, "10.0.0.1\n")
	f, err := NewFile(path, 7000)
	require.NoError(t, err)
	u := &updates{counter: func() uint64 { return f.Stats().Lookups }}
	run(t, func(ctx context.Context) error { return Watch(ctx, f, refresh, u.record) })
	u.waitForList(t, []string{"10.0.0.1:7000"})

	before := f.Stats().Lookups
	writeFile(t, path, "# two seeds now\n10.0.0.1\n10.0.0.2:7001\n")
	at := u.waitForList(t, []string{"10.0.0.1:7000", "10.0.0.2:7001"})
	assert.LessOrEqual(t, at, before+1, "picked up within one refresh")

	writeFile(t, path, "10.0.0.1\nnot a seed\n")
	require.Eventually(t, func() bool { return f.Stats().Failures > 0 }, waitFor, pollEvery)
	got, _ := u.last()
	assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7001"}, got, "a bad edit changes nothing")
}

func TestWatcherRunOnce(t *testing.T) {
	w, err := NewWatcher(fixed{list: []string{"10.0.0.1:7000"}}, WatcherConfig{Interval: refresh}, nil)
	require.NoError(t, err)
	run(t, w.Run)
	require.Eventually(t, func() bool { return w.Seeds() != nil }, waitFor, pollEvery)
	require.ErrorContains(t, w.Run(t.Context()), "already running")
}

func TestWatchReturnsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w, err := NewWatcher(fixed{list: []string{"10.0.0.1:7000"}}, DefaultWatcherConfig(), nil)
	require.NoError(t, err)
	require.NoError(t, w.Run(ctx))
	assert.Zero(t, w.Stats().Failures, "a poll cut short by shutdown is not a failure")
}

func TestWatcherValidation(t *testing.T) {
	require.NoError(t, DefaultWatcherConfig().Validate())
	err := WatcherConfig{Interval: -time.Second, Timeout: 48 * time.Hour}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Interval -1s is out of range")
	assert.Contains(t, err.Error(), "Timeout 48h0m0s is out of range")
	_, err = NewWatcher(nil, DefaultWatcherConfig(), nil)
	require.ErrorContains(t, err, "provider is nil")
	_, err = NewWatcher(fixed{}, WatcherConfig{Interval: -1}, nil)
	require.Error(t, err)
	require.ErrorContains(t, Watch(t.Context(), fixed{}, 0, nil), "interval 0s is not positive")
	require.ErrorContains(t, Watch(t.Context(), nil, time.Second, nil), "provider is nil")
}
