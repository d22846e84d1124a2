package failuredetector

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config configures a Detector. Start from DefaultConfig or
// DefaultConfigFor and change what you need; the zero Config is not valid.
//
// Validate checks every field, including the fields the chosen Model
// ignores, so that a valid Config stays valid when only Model changes.
type Config struct {
	// Model selects the phi formula and the learning rule.
	// Default Exponential (Cassandra's).
	Model Model

	// Estimator selects how each peer's interval statistics are kept:
	// Decaying (the default: exponentially weighted, 40 bytes per peer
	// whatever WindowSize) or Sliding (the exact window of WindowSize
	// intervals, 4 bytes per interval; the zero value).
	Estimator Estimator

	// PhiConvictThreshold is the phi above which Interpret convicts a peer.
	// Unitless; default 8 (Cassandra's and Akka's default); it must be a
	// finite number > 0. Cassandra accepts 5 to 16. Under Exponential, 8
	// convicts after 8 · ln 10 ≈ 18.4 mean intervals of silence.
	PhiConvictThreshold float64

	// WindowSize is how many recent inter-arrival intervals each peer's
	// ArrivalWindow keeps under Sliding, and the span of the Decaying
	// statistics (each interval weighs 2/(WindowSize+1): the mean age and
	// about the accuracy of a window of that size, in the same 40 bytes
	// whatever the size). Count; default 100 (Cassandra and Akka keep
	// 1000; 100 recent intervals follow a change of pace sooner; see
	// TestWindowSizeAccuracy for the accuracy kept); range 1 to 1<<20
	// (1,048,576). Under Sliding it takes 4 bytes per interval: a
	// simulator holding many nodes may take 8.
	WindowSize int

	// InitialInterval is the interval assumed before any has been observed.
	// Default 2 s, that is 2 × a 1 s gossip interval; it must be > 0.
	//   - Exponential: the first heartbeat of a peer pushes InitialInterval
	//     into its window as a synthetic interval (Cassandra's
	//     fd_initial_value_ms, 2 s), erring towards false negatives.
	//   - Normal and Akka: the first heartbeat installs Akka's bootstrap
	//     history of two intervals, m − m/4 and m + m/4 with
	//     m = InitialInterval / 2 (Akka's first-heartbeat estimate, which is
	//     the heartbeat interval). With the default that is 750 ms and
	//     1250 ms: mean 1 s, standard deviation 250 ms.
	InitialInterval time.Duration

	// MaxInterval is the longest interval the Exponential model learns; a
	// longer gap still moves the last-arrival time but is not added to the
	// window, so one long silence cannot inflate the mean (Cassandra's
	// fd_max_interval_ms). Default 2 s (2 × the gossip interval, as in
	// Cassandra 4.x); it must be > 0. Normal and Akka ignore it.
	MaxInterval time.Duration

	// MinStdDev is the floor for the standard deviation used by Normal and
	// Akka, so that perfectly regular heartbeats do not make a few
	// milliseconds of jitter fatal. Default 100 ms (Akka's
	// min-std-deviation; DefaultConfigFor uses a tenth of the interval);
	// it must be > 0. Exponential ignores it.
	MinStdDev time.Duration

	// AcceptablePause is added to the mean interval by Normal and Akka: the
	// length of a pause or burst of lost heartbeats that should not raise
	// phi much (Akka's acceptable-heartbeat-pause). Default 3 s, Akka's
	// default with its 1 s heartbeat interval (DefaultConfigFor uses three
	// intervals); it must be ≥ 0. Exponential ignores it.
	AcceptablePause time.Duration

	// MaxLocalPause is the local-pause threshold (Cassandra's
	// max_local_pause_in_ms): if more than MaxLocalPause passes between two
	// calls of Tick (or Interpret), the local process was probably paused
	// (GC, VM migration, suspended laptop), and the gap's excess over
	// MaxLocalPause is discounted from every silent peer's silence (see
	// Detector.Tick). Default 5 s (Cassandra's); it must be ≥ 0, and 0
	// turns the guard off. Keep it longer than the interval at which Tick
	// is called and shorter than the time to conviction.
	MaxLocalPause time.Duration
}

// DefaultConfig returns the defaults for a 1 s gossip interval:
// Cassandra's exponential model with threshold 8, a decaying window of span 100,
// InitialInterval and MaxInterval 2 s, MinStdDev 100 ms, AcceptablePause 3 s
// and MaxLocalPause 5 s. It equals DefaultConfigFor(time.Second).
func DefaultConfig() Config {
	return DefaultConfigFor(time.Second)
}

// DefaultConfigFor returns the defaults scaled for peers that gossip every
// gossipInterval, so that every time-to-conviction, measured in intervals,
// is the same as with DefaultConfig:
//
//   - InitialInterval and MaxInterval: 2 × gossipInterval (Cassandra's 2 s
//     for 1 s); this also makes the Normal/Akka first-heartbeat estimate
//     InitialInterval / 2 equal to gossipInterval;
//   - MinStdDev: gossipInterval / 10 (Akka's 100 ms for 1 s);
//   - AcceptablePause: 3 × gossipInterval (Akka's 3 s for 1 s);
//   - MaxLocalPause: 5 × gossipInterval (Cassandra's 5 s for 1 s), shorter
//     than the 18.4 intervals to conviction at threshold 8;
//   - Model Exponential, PhiConvictThreshold 8 and Estimator Decaying, WindowSize 100
//     regardless of the interval.
//
// Products that do not fit in a time.Duration saturate. A gossipInterval
// below 10 ns gives a Config that Validate rejects.
func DefaultConfigFor(gossipInterval time.Duration) Config {
	return Config{
		Model:               Exponential,
		Estimator:           Decaying,
		PhiConvictThreshold: 8,
		WindowSize:          defaultWindowSize,
		InitialInterval:     scale(gossipInterval, 2),
		MaxInterval:         scale(gossipInterval, 2),
		MinStdDev:           gossipInterval / 10,
		AcceptablePause:     scale(gossipInterval, 3),
		MaxLocalPause:       scale(gossipInterval, 5),
	}
}

// scale returns d·k for k > 0, saturating at the extremes of time.Duration.
func scale(d time.Duration, k int64) time.Duration {
	switch {
	case d > math.MaxInt64/time.Duration(k):
		return math.MaxInt64
	case d < math.MinInt64/time.Duration(k):
		return math.MinInt64
	default:
		return d * time.Duration(k)
	}
}

// Validate reports every problem with c, joined with errors.Join, or nil if
// c is valid. Each message names the field, its value and the rule it
// breaks. Validate does not change c.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, rule string) {
		errs = append(errs, fmt.Errorf("failuredetector: Config.%s = %v: %s", field, value, rule))
	}
	if !c.Model.valid() {
		bad("Model", c.Model, "must be Exponential, Normal or Akka")
	}
	if !c.Estimator.valid() {
		bad("Estimator", c.Estimator, "must be Sliding or Decaying")
	}
	if t := c.PhiConvictThreshold; math.IsNaN(t) || math.IsInf(t, 0) || t <= 0 {
		bad("PhiConvictThreshold", t, "must be a finite number > 0")
	}
	if c.WindowSize < 1 || c.WindowSize > maxWindowSize {
		bad("WindowSize", c.WindowSize, fmt.Sprintf("must be between 1 and %d", maxWindowSize))
	}
	positive := []struct {
		name  string
		value time.Duration
	}{
		{"InitialInterval", c.InitialInterval},
		{"MaxInterval", c.MaxInterval},
		{"MinStdDev", c.MinStdDev},
	}
	for _, f := range positive {
		if f.value <= 0 {
			bad(f.name, f.value, "must be > 0")
		}
	}
	if c.AcceptablePause < 0 {
		bad("AcceptablePause", c.AcceptablePause, "must be ≥ 0")
	}
	if c.MaxLocalPause < 0 {
		bad("MaxLocalPause", c.MaxLocalPause, "must be ≥ 0 (0 disables the guard)")
	}
	return errors.Join(errs...)
}
