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
	bad := func(flag, val string, err error) {
		errs = append(errs, fmt.Errorf("invalid value %q for --%s: %w", val, flag, err))
	}
	if len(o.Seeds) > 0 {
		s, err := seeds.NewStatic(o.Seeds, port, seeds.WithDNSConfig(dns))
		if err != nil {
			bad("seeds", strings.Join(o.Seeds, ","), err)
		} else {
			out = append(out, s)
		}
	}
	if o.SeedDNS != "" {
		name, p, err := seeds.ParseNamePort(o.SeedDNS, port)
		if err == nil {
			c := dns
			c.Name, c.Port = name, p
			var d *seeds.DNS
			if d, err = seeds.NewDNS(c); err == nil {
				out = append(out, d)
			}
		}
		if err != nil {
			bad("seed-dns", o.SeedDNS, err)
		}
	}
	if o.SeedSRV != "" {
		c := dns
		c.Name, c.SRV = o.SeedSRV, true
		d, err := seeds.NewDNS(c)
		if err != nil {
			bad("seed-srv", o.SeedSRV, err)
		} else {
			out = append(out, d)
		}
	}
	if o.SeedFile != "" {
		f, err := seeds.NewFile(o.SeedFile, port, seeds.WithDNSConfig(dns))
		if err != nil {
			bad("seed-file", o.SeedFile, err)
		} else {
			out = append(out, f)
		}
	}
	if o.DNSServer != "" && o.SeedDNS == "" && o.SeedSRV == "" && len(o.Seeds) == 0 && o.SeedFile == "" {
		errs = append(errs, errors.New("--dns-server needs a seed source (--seed-dns, --seed-srv, --seeds or --seed-file)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &UsageError{Err: err}
	}
	return out, nil
}
