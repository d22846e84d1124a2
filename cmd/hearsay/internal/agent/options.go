package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
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
	// HTTPTLSCert and HTTPTLSKey, set together, are the PEM certificate
	// (chain) and private key files the API serves HTTPS with
	// (--http-tls-cert, --http-tls-key); reloaded when they change.
	HTTPTLSCert, HTTPTLSKey string
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
	// Fanout is the live peers per round (--fanout).
	Fanout int
	// PushFanout is the peers a change is pushed to (--push-fanout):
	// gossiper.PushFanoutAuto, 0 (no push) or 1..64.
	PushFanout int
	// PushRate is the most Push messages per second (--push-rate).
	PushRate float64
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
	// MaxEventStreams caps the concurrent GET /v1/events streams
	// (--max-event-streams); one more is refused with 503.
	MaxEventStreams int
	// GossipSecurity is mutual TLS or a keyring for gossip.
	GossipSecurity

	// keepAlive and writeTimeout time the event streams (0: 15 s and
	// 10 s); tests shorten them.
	keepAlive, writeTimeout time.Duration
	// certCheckEvery is how often the HTTPS certificate files are looked
	// at (0: certCheckInterval); tests shorten it.
	certCheckEvery time.Duration
}

// Env is what the agent's defaults depend on.
type Env struct {
	// Hostname is the default node ID.
	Hostname string
	// StateHome is the user's state directory ($XDG_STATE_HOME or
	// ~/.local/state); data directories default to StateHome/hearsay/<id>.
	StateHome string
	// HTTPToken is the default of --http-token ($HEARSAY_HTTP_TOKEN), so
	// that the token need not show in the process list.
	HTTPToken string
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
	return Env{Hostname: host, StateHome: state, HTTPToken: os.Getenv("HEARSAY_HTTP_TOKEN")}
}

// DefaultOptions returns the defaults of every flag but --id and
// --data-dir, which depend on the Env.
func DefaultOptions() Options {
	return Options{
		Bind: "127.0.0.1:7000", HTTP: "127.0.0.1:7080", Cluster: "hearsay",
		SeedRefresh: 30 * time.Second, Interval: time.Second, Phi: 8,
		Fanout: gossiper.DefaultFanout, PushFanout: gossiper.DefaultPushFanout, PushRate: gossiper.DefaultPushRate,
		Model: failuredetector.Exponential, States: map[string]string{},
		LogLevel: zerolog.InfoLevel, LogFormat: "console", MaxEventStreams: 64,
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
	if o.HTTPToken == "" {
		o.HTTPToken = env.HTTPToken
	}
	if err := o.checkHTTPTLS(); err != nil {
		return err
	}
	if err := o.checkSecurity(); err != nil {
		return err
	}
	if o.HTTP != "" && !o.HTTPAllowRemote && !isLoopback(o.HTTP) {
		return usageErrorf("invalid value %q for --http: not a loopback address; the API can change state and make the node leave, so pass --http-allow-remote (and set --http-token) to expose it", o.HTTP)
	}
	return nil
}

// checkHTTPTLS checks that --http-tls-cert and --http-tls-key come
// together, and with the API on.
func (o *Options) checkHTTPTLS() error {
	switch {
	case o.HTTPTLSCert == "" && o.HTTPTLSKey == "":
		return nil
	case o.HTTPTLSKey == "":
		return usageErrorf("--http-tls-cert needs --http-tls-key (the certificate's private key file): set both, or neither for plain HTTP")
	case o.HTTPTLSCert == "":
		return usageErrorf("--http-tls-key needs --http-tls-cert (the certificate file): set both, or neither for plain HTTP")
	case o.HTTP == "":
		return usageErrorf("--http-tls-cert and --http-tls-key need the admin API on, but --http is empty")
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
