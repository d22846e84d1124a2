package agent

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
)

// Options is the agent's configuration: its flags, each also settable in
// the configuration file named by --config (flags win over the file).
type Options struct {
	// Config is the configuration file read, "" if none.
	Config string
	// ID is the node ID (--id). Default: the host name.
	ID string
	// Bind is the gossip listen address (--bind).
	Bind string
	// Advertise is the gossip address peers use (--advertise).
	Advertise string
	// HTTP is the admin API address (--http); "" disables the API.
	HTTP string
	// HTTPAllowRemote allows a non-loopback HTTP address.
	HTTPAllowRemote bool
	// HTTPToken, when set, is the bearer token the API requires.
	HTTPToken string
	// Cluster is the cluster name (--cluster).
	Cluster string
	// Seeds are static seed entries (--seeds).
	Seeds []string
	// SeedDNS is a NAME[:PORT] resolved to A/AAAA seeds (--seed-dns).
	SeedDNS string
	// SeedSRV is an SRV name resolved to seeds (--seed-srv).
	SeedSRV string
	// DNSServer is the DNS server for the seed lookups (--dns-server).
	DNSServer string
	// SeedFile is a seed file re-read on every refresh (--seed-file).
	SeedFile string
	// SeedRefresh is how often the seed sources are asked again.
	SeedRefresh time.Duration
	// Interval is the gossip interval (--interval).
	Interval time.Duration
	// Phi is the conviction threshold (--phi).
	Phi float64
	// Model is the failure detector's model (--fd-model).
	Model failuredetector.Model
	// States are the initial application states (--state, repeatable).
	States map[string]string
	// DataDir holds the persisted generation (--data-dir).
	DataDir string
	// LogLevel is the log level (--log-level).
	LogLevel zerolog.Level
	// LogFormat is console or json (--log-format).
	LogFormat string
}

// Env is what the agent's defaults depend on.
type Env struct {
	// Hostname is the default node ID.
	Hostname string
	// StateHome is the user's state directory ($XDG_STATE_HOME or
	// ~/.local/state); data directories default to StateHome/hearsay/<id>.
	StateHome string
}

// HostEnv returns the Env of this process.
func HostEnv() Env {
	host, _ := os.Hostname()
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		if home, err := os.UserHomeDir(); err == nil {
			state = filepath.Join(home, ".local", "state")
		}
	}
	return Env{Hostname: host, StateHome: state}
}

// DefaultOptions returns the defaults of every flag but --id and
// --data-dir, which depend on the Env.
func DefaultOptions() Options {
	return Options{
		Bind: "127.0.0.1:7000", HTTP: "127.0.0.1:7080", Cluster: "hearsay",
		SeedRefresh: 30 * time.Second, Interval: time.Second, Phi: 8,
		Model: failuredetector.Exponential, States: map[string]string{},
		LogLevel: zerolog.InfoLevel, LogFormat: "console",
	}
}

// UsageError is a bad flag, configuration file or configuration value: the
// agent exits with status 2.
type UsageError struct{ Err error }

// Error returns the message of the wrapped error.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrHelp is returned by ParseOptions for -h or --help.
var ErrHelp = flag.ErrHelp

// parser fills Options from flags and the configuration file, collecting
// every bad value instead of stopping at the first.
type parser struct {
	o      *Options
	fs     *flag.FlagSet
	source string // "" for the command line, else "config file PATH"
	errs   []error
}

// value is one setting as a flag.Value: Set parses into Options and records
// a failure with the setting's name instead of returning it, so that the
// message is ours and names --flag (or the configuration file).
type value struct {
	p      *parser
	name   string
	show   func() string
	set    func(string) error
	isBool bool
}

func (v *value) String() string {
	if v == nil || v.show == nil {
		return ""
	}
	return v.show()
}

func (v *value) Set(s string) error {
	if err := v.set(s); err != nil {
		where := "--" + v.name
		if v.p.source != "" {
			where = fmt.Sprintf("%q in %s", v.name, v.p.source)
		}
		v.p.errs = append(v.p.errs, fmt.Errorf("invalid value %q for %s: %w", s, where, err))
	}
	return nil
}

func (v *value) IsBoolFlag() bool { return v.isBool }

// ParseOptions parses the agent's arguments, then the configuration file
// they name (for the settings not given as flags), and fills in the
// defaults that depend on env. Every error is a *UsageError, or ErrHelp.
// usage receives the flag help for -h.
func ParseOptions(args []string, env Env, usage io.Writer) (Options, error) {
	o := DefaultOptions()
	p := &parser{o: &o, fs: flag.NewFlagSet("hearsay agent", flag.ContinueOnError)}
	p.fs.SetOutput(io.Discard)
	p.define()
	if err := p.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			p.printUsage(usage)
			return o, ErrHelp
		}
		return o, &UsageError{Err: err}
	}
	if p.fs.NArg() > 0 {
		return o, usageErrorf("unexpected argument %q (the agent takes only flags)", p.fs.Arg(0))
	}
	if err := errors.Join(p.errs...); err != nil {
		return o, &UsageError{Err: err}
	}
	if o.Config != "" {
		if err := p.applyFile(o.Config); err != nil {
			return o, err
		}
	}
	if err := o.complete(env); err != nil {
		return o, err
	}
	return o, nil
}

func (p *parser) printUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: hearsay agent [flags]\n\nRuns a gossip node and its admin HTTP API until SIGINT or SIGTERM.\nEvery flag can also be set in the JSON file given by --config; flags win.\n\nFlags:\n")
	p.fs.SetOutput(w)
	p.fs.PrintDefaults()
	p.fs.SetOutput(io.Discard)
}

// define declares every flag. Names are also the configuration file keys.
func (p *parser) define() {
	o := p.o
	p.str("config", &o.Config, "read settings from this JSON `file` (keys are flag names)")
	p.str("id", &o.ID, "node `ID`, stable across restarts (default: the host name)")
	p.addr("bind", &o.Bind, "gossip listen `address` host:port")
	p.addr("advertise", &o.Advertise, "gossip `address` peers reach this node at (default: the bound address)")
	p.add("http", func() string { return o.HTTP }, func(s string) error {
		if s != "" {
			if err := checkHostPort(s); err != nil {
				return err
			}
		}
		o.HTTP = s
		return nil
	}, "admin HTTP API `address`; empty disables it; loopback only unless --http-allow-remote")
	p.boolean("http-allow-remote", &o.HTTPAllowRemote, "allow --http on a non-loopback address (set --http-token too)")
	p.str("http-token", &o.HTTPToken, "bearer `token` required on every API endpoint but /healthz")
	p.add("cluster", func() string { return o.Cluster }, func(s string) error {
		if s == "" {
			return errors.New("must not be empty")
		}
		o.Cluster = s
		return nil
	}, "cluster `name`; nodes of other clusters are ignored")
	p.add("seeds", func() string { return strings.Join(o.Seeds, ",") }, func(s string) error {
		for e := range strings.SplitSeq(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				o.Seeds = append(o.Seeds, e)
			}
		}
		return nil
	}, "comma-separated seed `list` of host[:port] (repeatable)")
	p.str("seed-dns", &o.SeedDNS, "resolve seeds from the A/AAAA records of `NAME[:PORT]`")
	p.str("seed-srv", &o.SeedSRV, "resolve seeds from the SRV records of `NAME`")
	p.str("dns-server", &o.DNSServer, "DNS server `HOST:PORT` for --seed-dns and --seed-srv (default: the system resolver)")
	p.str("seed-file", &o.SeedFile, "read seeds from this `file`, one per line, re-read on every refresh")
	p.duration("seed-refresh", &o.SeedRefresh, "how often seed sources are asked again")
	p.add("interval", func() string { return o.Interval.String() }, func(s string) error {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			return errors.New("not a duration (examples: 1s, 200ms)")
		case d < time.Millisecond || d > time.Minute:
			return errors.New("want 1ms to 1m")
		}
		o.Interval = d
		return nil
	}, "gossip `interval`")
	p.add("phi", func() string { return strconv.FormatFloat(o.Phi, 'g', -1, 64) }, func(s string) error {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return errors.New("want a number > 0 (Cassandra accepts 5 to 16)")
		}
		o.Phi = f
		return nil
	}, "failure detector conviction `threshold`")
	p.add("fd-model", func() string { return o.Model.String() }, func(s string) error {
		m, err := failuredetector.ParseModel(s)
		if err != nil {
			return errors.New("want exponential, normal or akka")
		}
		o.Model = m
		return nil
	}, "failure detector `model`: exponential, normal or akka")
	p.add("state", func() string { return "" }, func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("want key=value")
		}
		lim := endpointstate.DefaultLimits()
		if err := lim.CheckUserKey(k); err != nil {
			return err
		}
		if err := lim.CheckValue(v); err != nil {
			return err
		}
		o.States[k] = v
		return nil
	}, "initial application state `key=value` (repeatable)")
	p.str("data-dir", &o.DataDir, "`directory` for the persisted generation (default $XDG_STATE_HOME/hearsay/<id>)")
	p.add("log-level", func() string { return o.LogLevel.String() }, func(s string) error {
		l, err := zerolog.ParseLevel(s)
		if err != nil || s == "" {
			return errors.New("want trace, debug, info, warn, error or disabled")
		}
		o.LogLevel = l
		return nil
	}, "log `level`: trace, debug, info, warn, error or disabled")
	p.add("log-format", func() string { return o.LogFormat }, func(s string) error {
		if s != "console" && s != "json" {
			return errors.New("want console or json")
		}
		o.LogFormat = s
		return nil
	}, "log `format` on stderr: console or json")
}

func (p *parser) add(name string, show func() string, set func(string) error, usage string) *value {
	v := &value{p: p, name: name, show: show, set: set}
	p.fs.Var(v, name, usage)
	return v
}

func (p *parser) str(name string, dst *string, usage string) {
	p.add(name, func() string { return *dst }, func(s string) error { *dst = s; return nil }, usage)
}

func (p *parser) addr(name string, dst *string, usage string) {
	p.add(name, func() string { return *dst }, func(s string) error {
		if s != "" {
			if err := checkHostPort(s); err != nil {
				return err
			}
		}
		*dst = s
		return nil
	}, usage)
}

func (p *parser) duration(name string, dst *time.Duration, usage string) {
	p.add(name, func() string { return dst.String() }, func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return errors.New("want a positive duration (examples: 30s, 5m)")
		}
		*dst = d
		return nil
	}, usage)
}

func (p *parser) boolean(name string, dst *bool, usage string) {
	v := p.add(name, func() string { return strconv.FormatBool(*dst) }, func(s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		*dst = b
		return nil
	}, usage)
	v.isBool = true
}

// checkHostPort checks a "host:port" address with a numeric port.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("want a port number 0-65535")
	}
	return nil
}

// applyFile reads the JSON configuration file and sets every key that was
// not given as a flag. Values are strings, numbers or booleans, written as
// for the flag; "seeds" and "state" also take arrays, and "state" an object.
func (p *parser) applyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usageErrorf("invalid value %q for --config: %w", path, err)
	}
	var file map[string]json.RawMessage
	if err := json.Unmarshal(b, &file); err != nil {
		return usageErrorf("config file %s: not a JSON object: %w", path, err)
	}
	onCmdline := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { onCmdline[f.Name] = true })
	p.source = "config file " + path
	for _, key := range slices.Sorted(maps.Keys(file)) {
		if key == "config" || p.fs.Lookup(key) == nil {
			p.errs = append(p.errs, fmt.Errorf("config file %s: unknown key %q", path, key))
			continue
		}
		if onCmdline[key] {
			continue
		}
		vals, err := fileValues(file[key])
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("config file %s: key %q: %w", path, key, err))
			continue
		}
		for _, v := range vals {
			_ = p.fs.Set(key, v)
		}
	}
	if err := errors.Join(p.errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// fileValues turns one JSON value into the flag values it stands for.
func fileValues(raw json.RawMessage) ([]string, error) {
	var x any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case string:
		return []string{x}, nil
	case json.Number:
		return []string{x.String()}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case []any:
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("array elements must be strings, not %v", e)
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(maps.Keys(x)) {
			s, ok := x[k].(string)
			if !ok {
				return nil, fmt.Errorf("object values must be strings, not %v", x[k])
			}
			out = append(out, k+"="+s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %s", raw)
}

// complete fills in the defaults that depend on env and checks what only
// the whole configuration can tell.
func (o *Options) complete(env Env) error {
	if o.ID == "" {
		if env.Hostname == "" {
			return usageErrorf("--id is required (the host name is unknown)")
		}
		o.ID = env.Hostname
	}
	if err := endpointstate.DefaultLimits().CheckEndpoint(o.ID); err != nil {
		return usageErrorf("invalid value %q for --id: %w", o.ID, err)
	}
	if o.DataDir == "" {
		if env.StateHome == "" {
			return usageErrorf("--data-dir is required (no $XDG_STATE_HOME or home directory)")
		}
		o.DataDir = filepath.Join(env.StateHome, "hearsay", safeDirName(o.ID))
	}
	if o.HTTP != "" && !o.HTTPAllowRemote && !isLoopback(o.HTTP) {
		return usageErrorf("invalid value %q for --http: not a loopback address; the API can change state and make the node leave, so pass --http-allow-remote (and set --http-token) to expose it", o.HTTP)
	}
	return nil
}

// safeDirName makes a node ID usable as one path element.
func safeDirName(id string) string {
	r := strings.NewReplacer("/", "_", "\\", "_", "\x00", "_")
	s := r.Replace(id)
	if s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

// isLoopback reports whether the host of addr is a loopback address or
// "localhost". An empty host (every interface) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
