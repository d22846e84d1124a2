package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
)

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
	p.add("id", func() string { return o.ID }, func(s string) error {
		if s == "" {
			return errors.New("must not be empty (leave --id out to use the host name)")
		}
		o.ID = s
		return nil
	}, "node `ID`, stable across restarts (default: the host name)")
	p.defineNetwork()
	p.defineSecurity()
	p.defineSeeds()
	p.defineGossip()
	p.str("data-dir", &o.DataDir, "`directory` for the persisted generation (default $XDG_STATE_HOME/hearsay/<id>)")
	p.add("log-level", func() string { return o.LogLevel.String() }, o.setLogLevel,
		"log `level`: trace, debug, info, warn, error or disabled")
	p.add("log-format", func() string { return o.LogFormat }, o.setLogFormat, "log `format` on stderr: console or json")
}

func (p *parser) defineNetwork() {
	o := p.o
	p.addr("bind", &o.Bind, "gossip listen `address` host:port")
	p.addr("advertise", &o.Advertise, "gossip `address` peers reach this node at (default: the bound address)")
	p.add("cluster", func() string { return o.Cluster }, o.setCluster, "cluster `name`; nodes of other clusters are ignored")
	p.add("http", func() string { return o.HTTP }, o.setHTTP,
		"admin HTTP API `address`; empty disables it; loopback only unless --http-allow-remote")
	p.boolean("http-allow-remote", &o.HTTPAllowRemote, "allow --http on a non-loopback address (set --http-token too)")
	p.str("http-token", &o.HTTPToken, "bearer `token` required on every API endpoint but /healthz (default $HEARSAY_HTTP_TOKEN)")
	p.str("http-tls-cert", &o.HTTPTLSCert, "serve the API over HTTPS with this PEM certificate (chain) `file`, reloaded when it changes; needs --http-tls-key")
	p.str("http-tls-key", &o.HTTPTLSKey, "PEM private key `file` of --http-tls-cert")
	p.add("max-event-streams", func() string { return strconv.Itoa(o.MaxEventStreams) }, o.setMaxEventStreams,
		"most concurrent GET /v1/events `streams` (hearsay watch); more are refused with 503")
}

func (p *parser) defineSeeds() {
	o := p.o
	p.add("seeds", func() string { return strings.Join(o.Seeds, ",") }, o.addSeeds,
		"comma-separated seed `list` of host[:port] (repeatable)")
	p.str("seed-dns", &o.SeedDNS, "resolve seeds from the A/AAAA records of `NAME[:PORT]`")
	p.str("seed-srv", &o.SeedSRV, "resolve seeds from the SRV records of `NAME`")
	p.str("dns-server", &o.DNSServer, "DNS server to ask for --seed-dns and --seed-srv, `HOST:PORT` (default: the system resolver)")
	p.str("seed-file", &o.SeedFile, "read seeds from this `file`, one per line, re-read on every refresh")
	p.duration("seed-refresh", &o.SeedRefresh, "`interval` between two lookups of the seed sources")
}

func (p *parser) defineGossip() {
	o := p.o
	p.add("interval", func() string { return o.Interval.String() }, o.setInterval, "gossip `interval`")
	p.add("phi", func() string { return strconv.FormatFloat(o.Phi, 'g', -1, 64) }, o.setPhi,
		"failure detector conviction `threshold`")
	p.add("fd-model", func() string { return o.Model.String() }, o.setModel,
		"failure detector `model`: exponential, normal or akka")
	p.add("state", func() string { return "" }, o.setState, "initial application state `key=value` (repeatable)")
	p.defineSpeed()
}

func (o *Options) setHTTP(s string) error {
	if s != "" {
		if err := checkHostPort(s); err != nil {
			return err
		}
	}
	o.HTTP = s
	return nil
}

func (o *Options) setMaxEventStreams(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 100000 {
		return errors.New("want a whole number from 1 to 100000")
	}
	o.MaxEventStreams = n
	return nil
}

func (o *Options) setCluster(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	o.Cluster = s
	return nil
}

func (o *Options) addSeeds(s string) error {
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.Seeds = append(o.Seeds, e)
		}
	}
	return nil
}

func (o *Options) setInterval(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return errors.New("not a duration (examples: 1s, 200ms)")
	case d < time.Millisecond || d > time.Minute:
		return errors.New("want 1ms to 1m")
	}
	o.Interval = d
	return nil
}

func (o *Options) setPhi(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return errors.New("want a number > 0 (Cassandra accepts 5 to 16)")
	}
	o.Phi = f
	return nil
}

func (o *Options) setModel(s string) error {
	m, err := failuredetector.ParseModel(s)
	if err != nil {
		return errors.New("want exponential, normal or akka")
	}
	o.Model = m
	return nil
}

func (o *Options) setState(s string) error {
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
}

func (o *Options) setLogLevel(s string) error {
	l, err := zerolog.ParseLevel(s)
	if err != nil || s == "" {
		return errors.New("want trace, debug, info, warn, error or disabled")
	}
	o.LogLevel = l
	return nil
}

func (o *Options) setLogFormat(s string) error {
	if s != "console" && s != "json" {
		return errors.New("want console or json")
	}
	o.LogFormat = s
	return nil
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
	// An unset boolean shows as "" so that the help does not print
	// "(default false)".
	show := func() string {
		if *dst {
			return "true"
		}
		return ""
	}
	v := p.add(name, show, func(s string) error {
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
