package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/seeds"
)

func testEnv() Env { return Env{Hostname: "host-1", StateHome: "/var/lib/state"} }

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(nil, testEnv(), nil)
	require.NoError(t, err)
	assert.Equal(t, "host-1", o.ID)
	assert.Equal(t, "/var/lib/state/hearsay/host-1", o.DataDir)
	assert.Equal(t, "127.0.0.1:7000", o.Bind)
	assert.Equal(t, "127.0.0.1:7080", o.HTTP)
	assert.Equal(t, "hearsay", o.Cluster)
	assert.Equal(t, time.Second, o.Interval)
	assert.InDelta(t, 8.0, o.Phi, 0)
	assert.Equal(t, failuredetector.Exponential, o.Model)
	assert.Equal(t, zerolog.InfoLevel, o.LogLevel)
	assert.Equal(t, "console", o.LogFormat)
	assert.Empty(t, o.States)
}

func TestParseOptionsFlags(t *testing.T) {
	o, err := ParseOptions([]string{
		"--id", "n1", "--bind", "127.0.0.1:7001", "--advertise", "10.0.0.1:7001",
		"--http", "[::1]:8080", "--cluster", "prod", "--seeds", "10.0.0.2:7000, 10.0.0.3",
		"--seeds", "10.0.0.4:7000", "--seed-dns", "seeds.example:7000", "--seed-srv", "_gossip._tcp.example",
		"--dns-server", "127.0.0.1:53", "--seed-file", "/etc/hearsay/seeds", "--seed-refresh", "1m",
		"--interval", "250ms", "--phi", "12.5", "--fd-model", "akka", "--state", "role=db",
		"--state", "zone=a=b", "--data-dir", "/data", "--log-level", "debug", "--log-format", "json",
		"--http-token", "s3cret", "--max-event-streams", "8", "--fanout", "2", "--push-fanout", "5", "--push-rate", "40",
	}, testEnv(), nil)
	require.NoError(t, err)
	assert.Equal(t, Options{
		ID: "n1", Bind: "127.0.0.1:7001", Advertise: "10.0.0.1:7001", HTTP: "[::1]:8080",
		HTTPToken: "s3cret", Cluster: "prod",
		Seeds:   []string{"10.0.0.2:7000", "10.0.0.3", "10.0.0.4:7000"},
		SeedDNS: "seeds.example:7000", SeedSRV: "_gossip._tcp.example", DNSServer: "127.0.0.1:53",
		SeedFile: "/etc/hearsay/seeds", SeedRefresh: time.Minute, Interval: 250 * time.Millisecond,
		Phi: 12.5, Model: failuredetector.Akka, States: map[string]string{"role": "db", "zone": "a=b"},
		Fanout: 2, PushFanout: 5, PushRate: 40,
		DataDir: "/data", LogLevel: zerolog.DebugLevel, LogFormat: "json", MaxEventStreams: 8,
	}, o)
}

func TestParseOptionsConfigFile(t *testing.T) {
	path := writeFile(t, "hearsay.json", `{
		"id": "from-file", "cluster": "filecluster", "interval": "500ms", "phi": 10,
		"seeds": ["10.0.0.1:7000", "10.0.0.2:7000"], "state": {"role": "db", "zone": "eu"},
		"http-allow-remote": true, "http": "0.0.0.0:7080", "log-format": "json"
	}`)
	t.Run("file only", func(t *testing.T) {
		o, err := ParseOptions([]string{"--config", path}, testEnv(), nil)
		require.NoError(t, err)
		assert.Equal(t, "from-file", o.ID)
		assert.Equal(t, "filecluster", o.Cluster)
		assert.Equal(t, 500*time.Millisecond, o.Interval)
		assert.InDelta(t, 10.0, o.Phi, 0)
		assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000"}, o.Seeds)
		assert.Equal(t, map[string]string{"role": "db", "zone": "eu"}, o.States)
		assert.True(t, o.HTTPAllowRemote)
		assert.Equal(t, "0.0.0.0:7080", o.HTTP)
		assert.Equal(t, "/var/lib/state/hearsay/from-file", o.DataDir, "the data directory follows the file's ID")
	})
	t.Run("flags win", func(t *testing.T) {
		o, err := ParseOptions([]string{"--interval", "2s", "--config", path, "--state", "role=web", "--id", "flag-id"}, testEnv(), nil)
		require.NoError(t, err)
		assert.Equal(t, "flag-id", o.ID)
		assert.Equal(t, 2*time.Second, o.Interval)
		assert.Equal(t, map[string]string{"role": "web"}, o.States, "a flag replaces the file's whole setting")
		assert.Equal(t, "filecluster", o.Cluster, "settings not given as flags come from the file")
		assert.InDelta(t, 10.0, o.Phi, 0)
	})
}

func TestParseOptionsErrors(t *testing.T) {
	bad := writeFile(t, "bad.json", `{"interval": "soon", "nope": 1, "phi": -1}`)
	notJSON := writeFile(t, "x.json", `interval = 1s`)
	array := writeFile(t, "arr.json", `{"seeds": [1, 2]}`)
	tests := []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"unknown flag", []string{"--bogus"}, []string{"-bogus"}},
		{"missing value", []string{"--interval"}, []string{"-interval"}},
		{"positional", []string{"extra"}, []string{`unexpected argument "extra"`}},
		{"interval", []string{"--interval", "abc"}, []string{`invalid value "abc" for --interval`}},
		{"interval range", []string{"--interval", "2m"}, []string{`invalid value "2m" for --interval: want 1ms to 1m`}},
		{"phi", []string{"--phi", "-3"}, []string{`invalid value "-3" for --phi`}},
		{"phi nan", []string{"--phi", "NaN"}, []string{`for --phi`}},
		{"fd-model", []string{"--fd-model", "weibull"}, []string{`invalid value "weibull" for --fd-model`}},
		{"state without =", []string{"--state", "role"}, []string{`invalid value "role" for --state: want key=value`}},
		{"reserved state", []string{"--state", "hearsay.status=x"}, []string{`for --state`, "reserved"}},
		{"http remote", []string{"--http", "0.0.0.0:7080"}, []string{`"0.0.0.0:7080" for --http`, "--http-allow-remote"}},
		{"http all interfaces", []string{"--http", ":7080"}, []string{"--http-allow-remote"}},
		{"http hostname", []string{"--http", "example.com:7080"}, []string{"--http-allow-remote"}},
		{"http no port", []string{"--http", "localhost"}, []string{`for --http: want host:port`}},
		{"bind", []string{"--bind", "127.0.0.1"}, []string{`for --bind`}},
		{"log level", []string{"--log-level", "loud"}, []string{`for --log-level`}},
		{"log format", []string{"--log-format", "xml"}, []string{`for --log-format`}},
		{"bool", []string{"--http-allow-remote=maybe"}, []string{`for --http-allow-remote`}},
		{"cluster", []string{"--cluster", ""}, []string{`for --cluster`}},
		{"max event streams", []string{"--max-event-streams", "0"}, []string{`invalid value "0" for --max-event-streams`}},
		{"several at once", []string{"--interval", "x", "--phi", "y"}, []string{"--interval", "--phi"}},
		{"missing file", []string{"--config", "/nonexistent/h.json"}, []string{`for --config`}},
		{"not JSON", []string{"--config", notJSON}, []string{"not a JSON object"}},
		{"bad file values", []string{"--config", bad}, []string{`"interval" in config file`, `unknown key "nope"`, `"phi" in config file`}},
		{"bad array", []string{"--config", array}, []string{`key "seeds"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOptions(tt.args, testEnv(), nil)
			require.Error(t, err)
			var ue *UsageError
			require.ErrorAs(t, err, &ue)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseOptionsAllowRemote(t *testing.T) {
	o, err := ParseOptions([]string{"--http", "0.0.0.0:7080", "--http-allow-remote"}, testEnv(), nil)
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7080", o.HTTP)
	_, err = ParseOptions([]string{"--http", ""}, testEnv(), nil)
	require.NoError(t, err, "an empty --http disables the API")
	_, err = ParseOptions([]string{"--http", "localhost:0"}, testEnv(), nil)
	require.NoError(t, err)
}

func TestParseOptionsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseOptions([]string{"-h"}, testEnv(), &out)
	require.ErrorIs(t, err, ErrHelp)
	for _, f := range []string{"--bind", "--http-allow-remote", "--seed-srv", "--fd-model", "--state"} {
		assert.Contains(t, out.String(), " -"+f[2:])
	}
}

func TestParseOptionsTokenFromEnv(t *testing.T) {
	env := testEnv()
	env.HTTPToken = "from-env"
	o, err := ParseOptions(nil, env, nil)
	require.NoError(t, err)
	assert.Equal(t, "from-env", o.HTTPToken)
	o, err = ParseOptions([]string{"--http-token", "flag"}, env, nil)
	require.NoError(t, err)
	assert.Equal(t, "flag", o.HTTPToken)
}

func TestParseOptionsNeedsID(t *testing.T) {
	_, err := ParseOptions(nil, Env{}, nil)
	require.ErrorContains(t, err, "--id is required")
	_, err = ParseOptions([]string{"--id", "x"}, Env{}, nil)
	require.ErrorContains(t, err, "--data-dir is required")
}

func TestGossiperConfig(t *testing.T) {
	o, err := ParseOptions([]string{"--id", "n1", "--data-dir", "/d", "--interval", "100ms", "--phi", "11",
		"--fd-model", "normal", "--state", "role=db"}, testEnv(), nil)
	require.NoError(t, err)
	cfg, sources, err := o.gossiperConfig(zerolog.Nop())
	require.NoError(t, err)
	assert.Empty(t, sources)
	assert.Nil(t, cfg.SeedProvider)
	assert.Equal(t, "n1", cfg.ID)
	assert.Equal(t, "/d/generation", cfg.GenerationFile)
	assert.Equal(t, 100*time.Millisecond, cfg.Interval)
	want := failuredetector.DefaultConfigFor(100 * time.Millisecond)
	want.Model, want.PhiConvictThreshold = failuredetector.Normal, 11
	assert.Equal(t, want, cfg.FailureDetector)
	assert.Equal(t, map[string]string{"role": "db"}, cfg.InitialStates)
	assert.Equal(t, 2*time.Second, cfg.ShadowTimeout)

	t.Run("one seed source", func(t *testing.T) {
		o := o
		o.Seeds = []string{"10.0.0.1"}
		cfg, sources, err := o.gossiperConfig(zerolog.Nop())
		require.NoError(t, err)
		require.Len(t, sources, 1)
		assert.IsType(t, &seeds.Static{}, cfg.SeedProvider)
	})
	t.Run("several seed sources", func(t *testing.T) {
		o := o
		o.Seeds, o.SeedDNS, o.SeedSRV = []string{"10.0.0.1:7000"}, "seeds.example", "_g._tcp.example"
		o.SeedFile, o.DNSServer = "/etc/seeds", "127.0.0.1:5353"
		cfg, sources, err := o.gossiperConfig(zerolog.Nop())
		require.NoError(t, err)
		assert.Len(t, sources, 4)
		assert.IsType(t, &seeds.Multi{}, cfg.SeedProvider)
	})
	t.Run("bad seed sources", func(t *testing.T) {
		o := o
		o.Seeds, o.SeedDNS = []string{"[::1"}, "bad name!:99999"
		_, _, err := o.gossiperConfig(zerolog.Nop())
		var ue *UsageError
		require.ErrorAs(t, err, &ue)
		assert.Contains(t, err.Error(), "for --seeds")
		assert.Contains(t, err.Error(), "for --seed-dns")
	})
	t.Run("dns server alone", func(t *testing.T) {
		o := o
		o.DNSServer = "127.0.0.1:53"
		_, _, err := o.gossiperConfig(zerolog.Nop())
		require.ErrorContains(t, err, "--dns-server needs a seed source")
	})
}

// TestParseOptionsOperatorInput: a config file is read only up to 1 MiB
// (/dev/zero fails at once), duplicate keys are refused by name, and an
// explicitly empty --id is an error rather than the host name.
func TestParseOptionsOperatorInput(t *testing.T) {
	big := writeFile(t, "big.json", `{"id": "x", "cluster": "`+strings.Repeat("c", maxConfigSize)+`"}`)
	dup := writeFile(t, "dup.json", `{"id": "n1", "seeds": ["a:1"], "seeds": ["b:1"]}`)
	dupState := writeFile(t, "dup-state.json", `{"state": {"role": "a", "role": "b"}}`)
	emptyID := writeFile(t, "empty-id.json", `{"id": ""}`)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"endless file", []string{"--config", "/dev/zero"}, "config file /dev/zero: larger than 1 MiB"},
		{"big file", []string{"--config", big}, "larger than 1 MiB"},
		{"duplicate key", []string{"--config", dup}, `config file ` + dup + `: duplicate key "seeds"`},
		{"duplicate nested key", []string{"--config", dupState}, `duplicate key "role" in "state"`},
		{"empty id flag", []string{"--id", ""}, `invalid value "" for --id: must not be empty (leave --id out to use the host name)`},
		{"empty id in file", []string{"--config", emptyID}, `invalid value "" for "id" in config file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOptions(tt.args, testEnv(), nil)
			var ue *UsageError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	o, err := ParseOptions(nil, testEnv(), nil)
	require.NoError(t, err)
	assert.Equal(t, "host-1", o.ID, "only an absent --id means the host name")
}
