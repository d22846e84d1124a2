package failuredetector

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelNames(t *testing.T) {
	tests := []struct {
		model Model
		name  string
	}{
		{Exponential, "exponential"},
		{Normal, "normal"},
		{Akka, "akka"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.name, tc.model.String())
			for _, in := range []string{tc.name, "  " + tc.name + "\n", string(tc.name[0]-'a'+'A') + tc.name[1:]} {
				got, err := ParseModel(in)
				require.NoError(t, err, "%q", in)
				assert.Equal(t, tc.model, got, "%q", in)
			}
			text, err := tc.model.MarshalText()
			require.NoError(t, err)
			var back Model
			require.NoError(t, back.UnmarshalText(text))
			assert.Equal(t, tc.model, back)
		})
	}
	assert.Equal(t, Exponential, Model(0), "the zero Model is the default")
}

func TestModelInvalid(t *testing.T) {
	for _, in := range []string{"", "gaussian", "cassandra", "exp", "akka2"} {
		_, err := ParseModel(in)
		require.Error(t, err, "%q", in)
		assert.Contains(t, err.Error(), "exponential, normal or akka")
	}
	assert.Equal(t, "Model(7)", Model(7).String())
	assert.Equal(t, "Model(-1)", Model(-1).String())
	_, err := Model(7).MarshalText()
	assert.Error(t, err)
	m := Akka
	require.Error(t, m.UnmarshalText([]byte("nope")))
	assert.Equal(t, Akka, m, "a failed UnmarshalText leaves the value alone")
}

func TestModelJSON(t *testing.T) {
	var cfg struct{ Model Model }
	require.NoError(t, json.Unmarshal([]byte(`{"Model":"akka"}`), &cfg))
	assert.Equal(t, Akka, cfg.Model)
	out, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.JSONEq(t, `{"Model":"akka"}`, string(out))
}

func TestDefaultConfig(t *testing.T) {
	want := Config{
		Model:               Exponential,
		Estimator:           Decaying,
		PhiConvictThreshold: 8,
		WindowSize:          100,
		InitialInterval:     2 * time.Second,
		MaxInterval:         2 * time.Second,
		MinStdDev:           100 * time.Millisecond,
		AcceptablePause:     3 * time.Second,
		MaxLocalPause:       5 * time.Second,
	}
	assert.Equal(t, want, DefaultConfig())
	assert.Equal(t, DefaultConfigFor(time.Second), DefaultConfig())
	assert.NoError(t, DefaultConfig().Validate())
}

func TestDefaultConfigFor(t *testing.T) {
	tests := []struct {
		interval time.Duration
		want     Config
	}{
		{100 * time.Millisecond, Config{
			Estimator: Decaying, PhiConvictThreshold: 8, WindowSize: 100,
			InitialInterval: 200 * time.Millisecond, MaxInterval: 200 * time.Millisecond,
			MinStdDev: 10 * time.Millisecond, AcceptablePause: 300 * time.Millisecond,
			MaxLocalPause: 500 * time.Millisecond,
		}},
		{3 * time.Second, Config{
			Estimator: Decaying, PhiConvictThreshold: 8, WindowSize: 100,
			InitialInterval: 6 * time.Second, MaxInterval: 6 * time.Second,
			MinStdDev: 300 * time.Millisecond, AcceptablePause: 9 * time.Second,
			MaxLocalPause: 15 * time.Second,
		}},
		{math.MaxInt64, Config{
			Estimator: Decaying, PhiConvictThreshold: 8, WindowSize: 100,
			InitialInterval: math.MaxInt64, MaxInterval: math.MaxInt64,
			MinStdDev: math.MaxInt64 / 10, AcceptablePause: math.MaxInt64,
			MaxLocalPause: math.MaxInt64,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.interval.String(), func(t *testing.T) {
			cfg := DefaultConfigFor(tc.interval)
			assert.Equal(t, tc.want, cfg)
			assert.NoError(t, cfg.Validate())
		})
	}
	t.Run("non-positive interval is rejected by Validate", func(t *testing.T) {
		for _, d := range []time.Duration{0, -time.Second, 9} {
			assert.Error(t, DefaultConfigFor(d).Validate(), "%v", d)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings, one per expected problem
	}{
		{"valid", func(*Config) {}, nil},
		{"model", func(c *Config) { c.Model = 3 }, []string{"Model = Model(3)"}},
		{"negative model", func(c *Config) { c.Model = -1 }, []string{"Model = Model(-1)"}},
		{"zero threshold", func(c *Config) { c.PhiConvictThreshold = 0 }, []string{"PhiConvictThreshold = 0: must be a finite number > 0"}},
		{"negative threshold", func(c *Config) { c.PhiConvictThreshold = -8 }, []string{"PhiConvictThreshold = -8"}},
		{"NaN threshold", func(c *Config) { c.PhiConvictThreshold = math.NaN() }, []string{"PhiConvictThreshold = NaN"}},
		{"infinite threshold", func(c *Config) { c.PhiConvictThreshold = math.Inf(1) }, []string{"PhiConvictThreshold = +Inf"}},
		{"zero window", func(c *Config) { c.WindowSize = 0 }, []string{"WindowSize = 0: must be between 1 and 1048576"}},
		{"huge window", func(c *Config) { c.WindowSize = 1<<20 + 1 }, []string{"WindowSize = 1048577"}},
		{"largest window", func(c *Config) { c.WindowSize = 1 << 20 }, nil},
		{"zero initial interval", func(c *Config) { c.InitialInterval = 0 }, []string{"InitialInterval = 0s: must be > 0"}},
		{"negative max interval", func(c *Config) { c.MaxInterval = -time.Second }, []string{"MaxInterval = -1s: must be > 0"}},
		{"zero min stddev", func(c *Config) { c.MinStdDev = 0 }, []string{"MinStdDev = 0s: must be > 0"}},
		{"zero pause is fine", func(c *Config) { c.AcceptablePause = 0 }, nil},
		{"negative pause", func(c *Config) { c.AcceptablePause = -1 }, []string{"AcceptablePause = -1ns: must be ≥ 0"}},
		{"guard off is fine", func(c *Config) { c.MaxLocalPause = 0 }, nil},
		{"negative guard", func(c *Config) { c.MaxLocalPause = -time.Millisecond }, []string{"MaxLocalPause = -1ms"}},
		{"fields the model ignores are still checked", func(c *Config) {
			c.Model = Exponential
			c.MinStdDev = 0
		}, []string{"MinStdDev"}},
		{"every problem at once", func(c *Config) { *c = Config{Model: 9, AcceptablePause: -1, MaxLocalPause: -1} }, []string{
			"Model", "PhiConvictThreshold", "WindowSize", "InitialInterval", "MaxInterval",
			"MinStdDev", "AcceptablePause", "MaxLocalPause",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			before := cfg
			err := cfg.Validate()
			// Compared as text, because NaN != NaN.
			assert.Equal(t, fmt.Sprintf("%#v", before), fmt.Sprintf("%#v", cfg), "Validate must not change the Config")
			d, newErr := NewDetector(cfg)
			if len(tc.want) == 0 {
				require.NoError(t, err)
				require.NoError(t, newErr)
				assert.Equal(t, cfg, d.Config())
				return
			}
			require.Error(t, err)
			var joined interface{ Unwrap() []error }
			require.True(t, errors.As(err, &joined))
			errs := joined.Unwrap()
			require.Len(t, errs, len(tc.want))
			for i, want := range tc.want {
				assert.Contains(t, errs[i].Error(), want)
				assert.Contains(t, errs[i].Error(), "failuredetector: Config.")
			}
			require.Error(t, newErr)
			assert.Nil(t, d)
			assert.Equal(t, err.Error(), newErr.Error())
		})
	}
}
