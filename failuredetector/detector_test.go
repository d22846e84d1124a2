package failuredetector

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

// The tests in this file drive a Detector with a fake clock: instants are a
// fixed epoch plus an offset, so every expectation is exact and no test
// sleeps or measures time.

// at returns the fake-clock instant d after the epoch.
func at(d time.Duration) time.Time {
	return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC).Add(d)
}

// seconds returns s seconds as a Duration.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

// newDetector builds a Detector from DefaultConfig changed by change.
func newDetector(t *testing.T, change func(*Config)) *Detector {
	t.Helper()
	cfg := DefaultConfig()
	if change != nil {
		change(&cfg)
	}
	d, err := NewDetector(cfg)
	require.NoError(t, err)
	return d
}

// reportAll reports endpoint at each offset, in order.
func reportAll(d *Detector, endpoint string, offsets []time.Duration) {
	for _, o := range offsets {
		d.Report(endpoint, at(o))
	}
}

// wantPhi computes phi from the model definitions, given the intervals the
// window should hold and the silence t. Exponential uses the closed form;
// Normal uses gonum's distuv.Normal.Survival; Akka uses the published
// logistic formula.
func wantPhi(cfg Config, window []time.Duration, t time.Duration) float64 {
	mean, variance := twoPass(window)
	switch cfg.Model {
	case Exponential:
		return -math.Log10(math.Exp(-t.Seconds() / (mean / 1e9)))
	case Normal:
		n := distuv.Normal{
			Mu:    mean + float64(cfg.AcceptablePause),
			Sigma: math.Max(math.Sqrt(variance), float64(cfg.MinStdDev)),
		}
		return -math.Log10(n.Survival(float64(t)))
	default:
		return logistic(float64(t), mean+float64(cfg.AcceptablePause),
			math.Max(math.Sqrt(variance), float64(cfg.MinStdDev)))
	}
}

// checkEndpoint checks the detector's view of endpoint "a" at now against
// the window it should hold and the last arrival it should remember.
func checkEndpoint(t *testing.T, d *Detector, window []time.Duration, last, now time.Duration) {
	t.Helper()
	snap := d.Snapshot(at(now))
	require.Len(t, snap, 1)
	s := snap[0]
	mean, variance := twoPass(window)
	assert.Equal(t, "a", s.Endpoint)
	assert.Equal(t, len(window), s.Samples, "samples")
	assert.Equal(t, at(last), s.LastArrival, "last arrival")
	assert.Equal(t, nanos(mean), s.Mean, "mean")
	assert.Equal(t, nanos(math.Sqrt(variance)), s.StdDev, "stddev")
	want := wantPhi(d.Config(), window, now-last)
	got := d.Phi("a", at(now))
	assert.InDelta(t, want, got, 1e-9*math.Max(1, want), "phi")
	assert.InDelta(t, want, s.Phi, 1e-9*math.Max(1, want), "snapshot phi")
	assert.Equal(t, got > d.Config().PhiConvictThreshold, d.Interpret("a", at(now)), "interpret")
}

func TestExponentialReports(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		change  func(*Config)
		reports []time.Duration
		window  []time.Duration // what the window should hold
		last    time.Duration   // the last arrival the detector should keep
		now     time.Duration
	}{
		{"first report seeds InitialInterval", nil,
			[]time.Duration{0}, []time.Duration{2 * s}, 0, s},
		{"custom InitialInterval", func(c *Config) { c.InitialInterval = 5 * s },
			[]time.Duration{0}, []time.Duration{5 * s}, 0, 3 * s},
		{"learns one-second intervals", nil,
			[]time.Duration{0, s, 2 * s, 3 * s}, []time.Duration{2 * s, s, s, s}, 3 * s, seconds(3.5)},
		{"learns an interval equal to MaxInterval", nil,
			[]time.Duration{0, 2 * s}, []time.Duration{2 * s, 2 * s}, 2 * s, 3 * s},
		{"does not learn a longer interval but moves the last arrival", nil,
			[]time.Duration{0, s, 4 * s}, []time.Duration{2 * s, s}, 4 * s, 5 * s},
		{"custom MaxInterval learns longer intervals", func(c *Config) { c.MaxInterval = 10 * s },
			[]time.Duration{0, 4 * s}, []time.Duration{2 * s, 4 * s}, 4 * s, 5 * s},
		{"window evicts the synthetic interval", func(c *Config) { c.WindowSize = 3 },
			[]time.Duration{0, s, 2 * s, 3 * s, 4 * s}, []time.Duration{s, s, s}, 4 * s, 10 * s},
		{"threshold reached after 8·ln10 means", func(c *Config) { c.WindowSize = 1 },
			[]time.Duration{0, s}, []time.Duration{s}, s, s + seconds(8*math.Ln10) + 1},
		{"duplicate report ignored", nil,
			[]time.Duration{0, s, s}, []time.Duration{2 * s, s}, s, 2 * s},
		{"out-of-order report ignored", nil,
			[]time.Duration{0, 2 * s, s}, []time.Duration{2 * s, 2 * s}, 2 * s, 3 * s},
		{"now before the last arrival is no silence", nil,
			[]time.Duration{0, s}, []time.Duration{2 * s, s}, s, s},
		{"sub-millisecond heartbeats", func(c *Config) { *c = DefaultConfigFor(100 * time.Microsecond) },
			[]time.Duration{0, 100 * time.Microsecond, 200 * time.Microsecond},
			[]time.Duration{200 * time.Microsecond, 100 * time.Microsecond, 100 * time.Microsecond},
			200 * time.Microsecond, 2 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, tc.change)
			reportAll(d, "a", tc.reports)
			checkEndpoint(t, d, tc.window, tc.last, tc.now)
		})
	}
}

func TestNormalAndAkkaReports(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name    string
		change  func(*Config)
		reports []time.Duration
		window  []time.Duration
		last    time.Duration
		now     time.Duration
	}{
		{"bootstrap history m ± m/4 with m = InitialInterval/2", nil,
			[]time.Duration{0}, []time.Duration{750 * ms, 1250 * ms}, 0, 4 * s},
		{"bootstrap follows InitialInterval", func(c *Config) { c.InitialInterval = 4 * s },
			[]time.Duration{0}, []time.Duration{1500 * ms, 2500 * ms}, 0, 5 * s},
		{"no acceptable pause", func(c *Config) { c.AcceptablePause = 0 },
			[]time.Duration{0}, []time.Duration{750 * ms, 1250 * ms}, 0, 1800 * ms},
		{"acceptable pause shifts the mean", func(c *Config) { c.AcceptablePause = 10 * s },
			[]time.Duration{0}, []time.Duration{750 * ms, 1250 * ms}, 0, 11 * s},
		{"learns while available", nil,
			[]time.Duration{0, 1200 * ms, 2 * s}, []time.Duration{750 * ms, 1250 * ms, 1200 * ms, 800 * ms}, 2 * s, 5 * s},
		{"steady heartbeats fall back to MinStdDev", func(c *Config) { c.WindowSize = 2 },
			[]time.Duration{0, s, 2 * s, 3 * s}, []time.Duration{s, s}, 3 * s, 4400 * ms},
		{"MinStdDev floor is configurable", func(c *Config) { c.WindowSize = 2; c.MinStdDev = 400 * ms },
			[]time.Duration{0, s, 2 * s, 3 * s}, []time.Duration{s, s}, 3 * s, 5 * s},
		{"window stddev above the floor is used", func(c *Config) { c.MinStdDev = time.Nanosecond },
			[]time.Duration{0}, []time.Duration{750 * ms, 1250 * ms}, 0, 5 * s},
		{"does not learn the interval that ends an outage", func(c *Config) { c.AcceptablePause = 0 },
			[]time.Duration{0, 30 * s}, []time.Duration{750 * ms, 1250 * ms}, 30 * s, 31 * s},
		{"ignores MaxInterval", func(c *Config) { c.MaxInterval = s },
			[]time.Duration{0, 1500 * ms}, []time.Duration{750 * ms, 1250 * ms, 1500 * ms}, 1500 * ms, 4 * s},
		{"window of one keeps the latest interval", func(c *Config) { c.WindowSize = 1 },
			[]time.Duration{0, 900 * ms}, []time.Duration{900 * ms}, 900 * ms, 4 * s},
		{"duplicate and out-of-order reports ignored", nil,
			[]time.Duration{0, s, s, 500 * ms}, []time.Duration{750 * ms, 1250 * ms, s}, s, 4 * s},
	}
	for _, model := range []Model{Normal, Akka} {
		for _, tc := range tests {
			t.Run(model.String()+"/"+tc.name, func(t *testing.T) {
				d := newDetector(t, func(c *Config) {
					c.Model = model
					if tc.change != nil {
						tc.change(c)
					}
				})
				reportAll(d, "a", tc.reports)
				checkEndpoint(t, d, tc.window, tc.last, tc.now)
			})
		}
	}
}

// TestAkkaAvailabilityRule checks at which point Akka's learning rule stops
// recording: an interval is learned only if phi at its arrival, computed
// before adding it, is below the threshold. A threshold below log10 2 puts
// that point before μ′.
func TestAkkaAvailabilityRule(t *testing.T) {
	for _, tc := range []struct {
		model     Model
		threshold float64
	}{{Normal, 8}, {Akka, 8}, {Normal, 0.2}, {Akka, 0.2}, {Akka, 0.5}} {
		model := tc.model
		t.Run(fmt.Sprintf("%v/threshold %g", model, tc.threshold), func(t *testing.T) {
			d := newDetector(t, func(c *Config) {
				c.Model = model
				c.PhiConvictThreshold = tc.threshold
			})
			d.Report("a", at(0))
			// Find the first whole millisecond at which phi reaches the
			// threshold, with a fresh bootstrap history.
			limit := time.Duration(0)
			for d.Phi("a", at(limit)) < d.Config().PhiConvictThreshold {
				limit += time.Millisecond
			}
			for _, tc := range []struct {
				gap   time.Duration
				learn bool
			}{{limit - time.Millisecond, true}, {limit, false}} {
				d.Remove("a")
				d.Report("a", at(0))
				d.Report("a", at(tc.gap))
				snap := d.Snapshot(at(tc.gap))
				require.Len(t, snap, 1)
				want := 2
				if tc.learn {
					want = 3
				}
				assert.Equal(t, want, snap[0].Samples, "gap %v", tc.gap)
				assert.Equal(t, at(tc.gap), snap[0].LastArrival)
			}
		})
	}
}

// TestAkkaReferenceDetectionTimes reproduces the detection times computed
// for Akka's detector with steady 1 s heartbeats (peers.md §3.3), to the
// millisecond, by driving a Detector and bisecting on the silence.
func TestAkkaReferenceDetectionTimes(t *testing.T) {
	thresholds := []float64{1, 3, 5, 8, 10, 12, 16}
	tests := []struct {
		minStd, pause time.Duration
		wantMillis    []int64
	}{
		{100 * time.Millisecond, 0, []int64{1128, 1306, 1412, 1523, 1580, 1629, 1712}},
		{100 * time.Millisecond, 3 * time.Second, []int64{4128, 4306, 4412, 4523, 4580, 4629, 4712}},
		{200 * time.Millisecond, 3 * time.Second, []int64{4256, 4612, 4824, 5045, 5160, 5258, 5424}},
		{500 * time.Millisecond, 3 * time.Second, []int64{4641, 5529, 6060, 6613, 6900, 7146, 7560}},
	}
	for _, tc := range tests {
		for i, th := range thresholds {
			d := newDetector(t, func(c *Config) {
				c.Model = Akka
				c.PhiConvictThreshold = th
				c.MinStdDev = tc.minStd
				c.AcceptablePause = tc.pause
				c.WindowSize = 10
			})
			for k := range 12 { // 11 one-second intervals evict the bootstrap
				d.Report("a", at(time.Duration(k)*time.Second))
			}
			last := 11 * time.Second
			lo, hi := time.Duration(0), time.Minute
			for hi-lo > time.Microsecond {
				mid := (lo + hi) / 2
				if d.Interpret("a", at(last+mid)) {
					hi = mid
				} else {
					lo = mid
				}
			}
			d.Remove("a")
			assert.InDelta(t, tc.wantMillis[i], hi.Seconds()*1000, 0.5,
				"minStd %v pause %v threshold %g", tc.minStd, tc.pause, th)
		}
	}
}

func TestLocalPauseGuard(t *testing.T) {
	type call struct {
		endpoint string
		now      time.Duration
		convict  bool
	}
	s := time.Second
	tests := []struct {
		name   string
		change func(*Config)
		calls  []call
	}{
		{"a pause is discounted from the silence", nil, []call{
			{"a", s, false},      // phi 0.2
			{"a", 38 * s, false}, // 37 s gap: its 32 s beyond MaxLocalPause are discounted, silence 6 s
			{"a", 42 * s, false}, // silence 10 s
		}},
		// Cassandra's guard blocked every conviction for 5 s after each
		// gap over 5 s, so with these 10 s stalls it never convicted; the
		// discount leaves 5 s of each gap counted, and convicts once the
		// counted silence passes 36.8 s (at 67 s, silence 67 − 6·5 = 37).
		{"recurring pauses still convict", nil, []call{
			{"a", s, false},
			{"a", 11 * s, false}, {"a", 12 * s, false},
			{"a", 22 * s, false}, {"a", 23 * s, false},
			{"a", 33 * s, false}, {"a", 34 * s, false},
			{"a", 44 * s, false}, {"a", 45 * s, false},
			{"a", 55 * s, false}, {"a", 56 * s, false},
			{"a", 66 * s, false}, // counted silence 36 s
			{"a", 67 * s, true},
		}},
		{"a gap of exactly MaxLocalPause is not a pause", nil, []call{
			{"a", 33 * s, false},
			{"a", 38 * s, true},
		}},
		{"the first call detects no pause", nil, []call{
			{"a", 38 * s, true},
		}},
		{"calls for unknown endpoints count", nil, []call{
			{"a", 30 * s, false},
			{"x", 34 * s, false},
			{"y", 38 * s, false},
			{"a", 42 * s, true},
		}},
		{"custom MaxLocalPause", func(c *Config) { c.MaxLocalPause = 20 * s }, []call{
			{"a", s, false},
			{"a", 38 * s, false}, // 37 s gap: 17 s discounted, silence 21 s
			{"a", 53 * s, false}, // 15 s gap: no pause; silence 36 s
			{"a", 54 * s, true},  // silence 37 s > 36.8 s
		}},
		{"MaxLocalPause 0 disables the guard", func(c *Config) { c.MaxLocalPause = 0 }, []call{
			{"a", s, false},
			{"a", 38 * s, true},
			{"a", 24 * time.Hour, true},
		}},
		{"a clock going backwards is not a pause", nil, []call{
			{"a", 40 * s, true},
			{"a", 38 * s, true},
			{"a", 37 * s, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, tc.change)
			d.Report("a", at(0)) // window [2 s]: convicted after 36.8 s
			for _, c := range tc.calls {
				assert.Equal(t, c.convict, d.Interpret(c.endpoint, at(c.now)), "%s at %v", c.endpoint, c.now)
			}
		})
	}
}

// TestLocalPauseDiscount: the discount applies only to peers silent across
// the gap, shows in Phi and Snapshot, is counted, and a conviction it
// defers is counted once per peer and pause.
func TestLocalPauseDiscount(t *testing.T) {
	s := time.Second
	d := newDetector(t, nil)
	d.Report("quiet", at(0))
	d.Report("heard", at(0))
	assert.Zero(t, d.Tick(at(s)))
	d.Report("heard", at(20*s)) // processed during the gap, before the next Tick
	assert.Equal(t, 35*s, d.Tick(at(41*s)), "a 40 s gap: 35 s beyond MaxLocalPause")
	assert.InDelta(t, phiExponential(float64(6*s), float64(2*s)), d.Phi("quiet", at(41*s)), 1e-9, "silence 41 − 35 s")
	assert.InDelta(t, phiExponential(float64(21*s), float64(2*s)), d.Phi("heard", at(41*s)), 1e-9, "heard during the gap: nothing discounted")
	assert.False(t, d.Interpret("quiet", at(41*s)), "raw phi 8.9 > 8, discounted 1.3")
	assert.False(t, d.Interpret("quiet", at(42*s)))
	assert.Equal(t, PauseStats{Pauses: 1, Stalled: 35 * s, Deferred: 1}, d.PauseStats(), "deferred once per pause")
	for _, st := range d.Snapshot(at(41 * s)) {
		assert.InDelta(t, ClampPhi(d.Phi(st.Endpoint, at(41*s))), st.Phi, 1e-9)
	}
	d.Report("quiet", at(43*s)) // the learned interval is 43 − 35 = 8 s: over MaxInterval, not learned
	assert.Equal(t, 1, d.Snapshot(at(43 * s))[1].Samples)
	d.Report("quiet", at(44*s))
	assert.InDelta(t, float64(1500*time.Millisecond), float64(d.Snapshot(at(44 * s))[1].Mean), 1)
}

// TestLocalPauseArrivalBeforeStall: a heartbeat applied just after a
// round, before the process stalled (or its clock jumped an hour), is no
// proof that the peer spoke during the stall: its silence across the
// stall is discounted like a silent peer's. Found by the simulator
// (gossiper/sim, TestClockJumpHour and TestPause1Percent): a node whose
// clock jumped convicted every peer whose Ack arrived in the milliseconds
// after its last round, at phi +Inf.
func TestLocalPauseArrivalBeforeStall(t *testing.T) {
	s := time.Second
	for _, gap := range []time.Duration{30 * s, time.Hour} {
		d := newDetector(t, nil)
		d.Report("a", at(0))
		assert.Zero(t, d.Tick(at(s)))
		d.Report("a", at(s+2*time.Millisecond)) // the round's Ack, then the stall
		now := s + gap
		assert.Equal(t, gap-5*s, d.Tick(at(now)))
		assert.Less(t, d.Phi("a", at(now)), 2.0, "silence 5 s less 2 ms, not %v", gap)
		assert.False(t, d.Interpret("a", at(now)), "gap %v", gap)
	}
}

// TestRepeatedStallsBound (issue 11, item 11): an observer that runs 2 s
// (rounds every second) and then stalls 6 s, over and over, with default
// settings, still convicts a silent peer within 32 s of its last
// heartbeat (the bound docs/failure-detection.md states: a cycle of c
// seconds with a stall of s > MaxLocalPause counts c − s + MaxLocalPause of
// silence, here 7 s of every 8, so the 18.4 s to convict at a 1 s mean
// take at most ⌈18.4/7⌉+1 = 4 cycles); and never convicts a live peer
// whose heartbeats arrive only while the observer runs. Cassandra's guard
// convicts neither.
func TestRepeatedStallsBound(t *testing.T) {
	for _, model := range []Model{Exponential, Normal, Akka} {
		t.Run(model.String(), func(t *testing.T) {
			d := newDetector(t, func(c *Config) { *c = DefaultConfig(); c.Model = model })
			var now time.Duration
			for range 60 { // a healthy minute: both peers learn a 1 s mean
				d.Report("dead", at(now))
				d.Report("live", at(now))
				require.False(t, d.Interpret("dead", at(now)))
				now += time.Second
			}
			died := now - time.Second
			convictedAt := time.Duration(-1)
			for cycle := range 30 {
				for i := range 3 { // rounds at +0, +1 and +2 s, then a 6 s stall
					tick := now + time.Duration(i)*time.Second
					d.Report("live", at(tick)) // queued during the stall, or sent while running
					assert.False(t, d.Interpret("live", at(tick)), "live peer convicted in cycle %d", cycle)
					if d.Interpret("dead", at(tick)) && convictedAt < 0 {
						convictedAt = tick - died
					}
				}
				now += 8 * time.Second
			}
			require.Positive(t, convictedAt, "the silent peer is convicted")
			t.Logf("%v: convicted %v after the last heartbeat", model, convictedAt)
			assert.LessOrEqual(t, convictedAt, 32*time.Second)
			assert.Positive(t, d.PauseStats().Pauses)
		})
	}
}

func TestUnknownEndpoint(t *testing.T) {
	for _, model := range []Model{Exponential, Normal, Akka} {
		t.Run(model.String(), func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Model = model })
			assert.Zero(t, d.Phi("nobody", at(time.Hour)))
			assert.False(t, d.Interpret("nobody", at(time.Hour)))
			assert.Empty(t, d.Snapshot(at(time.Hour)))
			d.Remove("nobody")
			assert.Empty(t, d.Snapshot(at(time.Hour)))
		})
	}
}

func TestRemoveThenReport(t *testing.T) {
	for _, model := range []Model{Exponential, Normal, Akka} {
		t.Run(model.String(), func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Model = model })
			reportAll(d, "a", []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second})
			reportAll(d, "b", []time.Duration{0})
			d.Remove("a")
			assert.Zero(t, d.Phi("a", at(time.Hour)))
			assert.False(t, d.Interpret("a", at(time.Hour)))
			snap := d.Snapshot(at(time.Hour))
			require.Len(t, snap, 1)
			assert.Equal(t, "b", snap[0].Endpoint)

			// Reported again, even at an earlier time, it starts afresh.
			d.Report("a", at(500*time.Millisecond))
			fresh := newDetector(t, func(c *Config) { c.Model = model })
			fresh.Report("a", at(500*time.Millisecond))
			now := at(2 * time.Second)
			assert.Equal(t, fresh.Phi("a", now), d.Phi("a", now))
			assert.Equal(t, fresh.Snapshot(now), d.Snapshot(now)[:1])
		})
	}
}

func TestHugeGaps(t *testing.T) {
	tests := []struct {
		model   Model
		silence time.Duration
		rawInf  bool // whether the unclamped phi is +Inf
	}{
		{Exponential, 24 * time.Hour, false},
		{Exponential, math.MaxInt64, false},
		{Normal, 24 * time.Hour, false},
		{Normal, math.MaxInt64, false},
		{Akka, time.Minute, true},
		{Akka, math.MaxInt64, true},
	}
	for _, tc := range tests {
		t.Run(tc.model.String()+"/"+tc.silence.String(), func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Model = tc.model })
			d.Report("a", at(0))
			now := at(0).Add(tc.silence)
			phi := d.Phi("a", now)
			assert.False(t, math.IsNaN(phi))
			assert.Equal(t, tc.rawInf, math.IsInf(phi, 1), "phi %g", phi)
			assert.Greater(t, phi, MaxPhi)
			assert.True(t, d.Interpret("a", now))
			snap := d.Snapshot(now)
			require.Len(t, snap, 1)
			assert.Equal(t, MaxPhi, snap[0].Phi)
		})
	}
}

func TestExtremeTimes(t *testing.T) {
	// Times far apart make time.Time.Sub saturate; nothing may panic or
	// produce NaN.
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
	}
	for _, model := range []Model{Exponential, Normal, Akka} {
		t.Run(model.String(), func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Model = model })
			for _, a := range times {
				d.Report("a", a)
				for _, b := range times {
					phi := d.Phi("a", b)
					assert.False(t, math.IsNaN(phi))
					assert.GreaterOrEqual(t, phi, 0.0)
					d.Interpret("a", b)
					for _, s := range d.Snapshot(b) {
						assert.True(t, s.Phi >= 0 && s.Phi <= MaxPhi)
					}
				}
			}
		})
	}
}

func TestSnapshotSorted(t *testing.T) {
	d := newDetector(t, nil)
	for i, ep := range []string{"c", "a", "b", "10.0.0.2:7000", "10.0.0.10:7000"} {
		d.Report(ep, at(time.Duration(i)*time.Second))
	}
	snap := d.Snapshot(at(10 * time.Second))
	var names []string
	for _, s := range snap {
		names = append(names, s.Endpoint)
	}
	assert.Equal(t, []string{"10.0.0.10:7000", "10.0.0.2:7000", "a", "b", "c"}, names)
	assert.Equal(t, at(time.Second), snap[2].LastArrival)
	assert.InDelta(t, 9.0/2/math.Ln10, snap[2].Phi, 1e-12)
	assert.Equal(t, 2*time.Second, snap[2].Mean)
	assert.Zero(t, snap[2].StdDev)
	assert.Equal(t, 1, snap[2].Samples)
}
