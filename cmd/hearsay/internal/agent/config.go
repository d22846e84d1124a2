package agent

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/seeds"
)

// seedSource is a seed provider that counts its lookups.
type seedSource interface {
	seeds.Provider
	Stats() seeds.Stats
}

// gossiperConfig turns the options into the gossiper's configuration and
// the seed sources it names (one provider, or a Multi of several). Errors
// are *UsageError.
func (o Options) gossiperConfig(log zerolog.Logger) (gossiper.Config, []seedSource, error) {
	cfg := gossiper.DefaultConfig()
	cfg.ID = o.ID
	cfg.BindAddr = o.Bind
	cfg.AdvertiseAddr = o.Advertise
	cfg.ClusterName = o.Cluster
	cfg.Interval = o.Interval
	cfg.FailureDetector = failuredetector.DefaultConfigFor(o.Interval)
	cfg.FailureDetector.Model = o.Model
	cfg.FailureDetector.PhiConvictThreshold = o.Phi
	o.applySpeed(&cfg)
	o.applySecurity(&cfg)
	cfg.GenerationFile = filepath.Join(o.DataDir, "generation")
	cfg.InitialStates = o.States
	cfg.SeedRefreshInterval = o.SeedRefresh
	// The shadow round waits this long at most for seeds that do not
	// answer: ten rounds, within 2 s and the library's 10 s.
	cfg.ShadowTimeout = min(max(10*o.Interval, 2*time.Second), cfg.ShadowTimeout)
	cfg.Logger = log

	sources, err := o.seedSources(log)
	if err != nil {
		return cfg, nil, err
	}
	switch len(sources) {
	case 0:
	case 1:
		cfg.SeedProvider = sources[0]
	default:
		ps := make([]seeds.Provider, len(sources))
		for i, s := range sources {
			ps[i] = s
		}
		m, err := seeds.NewMulti(ps...)
		if err != nil {
			return cfg, nil, &UsageError{Err: err}
		}
		cfg.SeedProvider = m
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, usageErrorf("invalid configuration: %w", err)
	}
	return cfg, sources, nil
}

// seedSources builds a provider for each of --seeds, --seed-dns,
// --seed-srv and --seed-file that is set. Entries without a port take the
// port of --bind.
func (o Options) seedSources(log zerolog.Logger) ([]seedSource, error) {
	port := 0
	if _, p, err := net.SplitHostPort(o.Bind); err == nil {
		port, _ = strconv.Atoi(p)
	}
	dns := seeds.DefaultDNSConfig()
	dns.Server = o.DNSServer
	dns.Logger = log.With().Str("component", "seeds").Logger()
	var out []seedSource
	var errs []error
	add := func(flag, val string, s seedSource, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for --%s: %w", val, flag, err))
			return
		}
		out = append(out, s)
	}
	if len(o.Seeds) > 0 {
		s, err := seeds.NewStatic(o.Seeds, port, seeds.WithDNSConfig(dns))
		add("seeds", strings.Join(o.Seeds, ","), s, err)
	}
	if o.SeedDNS != "" {
		d, err := dnsSource(dns, o.SeedDNS, port)
		add("seed-dns", o.SeedDNS, d, err)
	}
	if o.SeedSRV != "" {
		c := dns
		c.Name, c.SRV = o.SeedSRV, true
		d, err := seeds.NewDNS(c)
		add("seed-srv", o.SeedSRV, d, err)
	}
	if o.SeedFile != "" {
		f, err := seeds.NewFile(o.SeedFile, port, seeds.WithDNSConfig(dns))
		add("seed-file", o.SeedFile, f, err)
	}
	if o.DNSServer != "" && len(out)+len(errs) == 0 {
		errs = append(errs, errors.New("--dns-server needs a seed source (--seed-dns, --seed-srv, --seeds or --seed-file)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &UsageError{Err: err}
	}
	return out, nil
}

// dnsSource returns an A/AAAA provider for a NAME[:PORT] argument.
func dnsSource(cfg seeds.DNSConfig, arg string, defaultPort int) (*seeds.DNS, error) {
	name, port, err := seeds.ParseNamePort(arg, defaultPort)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Port = name, port
	return seeds.NewDNS(cfg)
}
