package seeds

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// Option adjusts a [Static] or [File] provider.
type Option func(*options)

// options are the settings Option functions change.
type options struct {
	dns DNSConfig // Name, Port and SRV unused
}

// WithDNSConfig sets how hostname entries are resolved: cfg's Server,
// Timeout, Attempts, BackoffMin, BackoffMax, Family, Rand and Logger are
// used, and Name, Port and SRV are ignored. cfg.Logger is also the
// provider's own logger. The default is [DefaultDNSConfig]: the system
// resolver, and no logging.
func WithDNSConfig(cfg DNSConfig) Option {
	return func(o *options) { o.dns = cfg }
}

// buildOptions applies opts and checks the result.
func buildOptions(opts []Option) (options, error) {
	o := options{dns: DefaultDNSConfig()}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if errs := o.dns.checkResolver(); len(errs) > 0 {
		return o, fmt.Errorf("invalid dns config: %w", errors.Join(errs...))
	}
	return o, nil
}

// Static is a [Provider] for a fixed list of seeds, the agent's --seeds
// flag and Cassandra's SimpleSeedProvider. IP entries are returned as they
// are; hostname entries are resolved on every Seeds call to all their A and
// AAAA records (Cassandra's resolve_multiple_ip_addresses_per_dns_record),
// each hostname as a [DNS] provider of its own. It is safe for concurrent
// use.
type Static struct {
	set hostSet
	log zerolog.Logger
	t   tracker
}

// NewStatic validates entries and returns a provider for them. Each entry is
// "host", "host:port", "ip", "ip:port", "[ipv6]" or "[ipv6]:port"; an IPv6
// literal with a port must be bracketed ("[::1]:7000"). defaultPort, 1-65535
// or 0 for none, is the port of entries without one. Blank entries are
// skipped, so a trailing comma in a flag is harmless. The error names every
// bad entry. NewStatic does no lookup.
func NewStatic(entries []string, defaultPort int, opts ...Option) (*Static, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("new static seeds: %w", err)
	}
	if err := checkPortRange("default port", defaultPort, true); err != nil {
		return nil, fmt.Errorf("new static seeds: %w", err)
	}
	var (
		parsed []entry
		errs   []error
	)
	for i, s := range entries {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		e, err := parseEntry(s, defaultPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d %q: %w", i+1, s, err))
			continue
		}
		parsed = append(parsed, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new static seeds: %w", err)
	}
	if len(parsed) == 0 {
		return nil, fmt.Errorf("new static seeds: %w: the list is empty", ErrNoSeeds)
	}
	log := o.dns.Logger.With().Str("seed_source", "static").Logger()
	return &Static{set: buildHostSet(parsed, o.dns, nil), log: log}, nil
}

// Seeds returns the IP entries and the current addresses of the hostname
// entries, sorted and deduplicated. A hostname whose lookup fails
// contributes its own last good answer, or nothing; Seeds fails only when
// nothing at all is left, and then returns its own last good answer with a
// nil error if it has one.
func (s *Static) Seeds(ctx context.Context) ([]string, error) {
	return answer(ctx, &s.t, s.log, s.set.resolve)
}

// Stats returns the provider's counters. Lookup failures of single
// hostnames are not counted unless nothing is left.
func (s *Static) Stats() Stats { return s.t.stats() }

// hostSet is a parsed seed list: IP entries, and one DNS provider per
// hostname entry.
type hostSet struct {
	ips   []netip.AddrPort
	hosts []*DNS // sorted by key, no duplicates
}

// buildHostSet makes the providers for the hostname entries from tmpl. The
// providers found in reuse under the entry's key are kept, with their last
// good answer.
func buildHostSet(entries []entry, tmpl DNSConfig, reuse map[string]*DNS) hostSet {
	var set hostSet
	byKey := map[string]*DNS{}
	for _, e := range entries {
		if e.isIP() {
			set.ips = append(set.ips, netip.AddrPortFrom(e.addr, e.port))
			continue
		}
		k := e.key()
		if byKey[k] != nil {
			continue
		}
		d := reuse[k]
		if d == nil {
			cfg := tmpl
			cfg.Name, cfg.Port, cfg.SRV = e.host, int(e.port), false
			cfg.Rand = childRand(tmpl.Rand)
			d = newDNS(cfg)
		}
		byKey[k] = d
	}
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		set.hosts = append(set.hosts, byKey[k])
	}
	return set
}

// byKey indexes the set's providers by entry key.
func (h hostSet) byKey() map[string]*DNS {
	m := make(map[string]*DNS, len(h.hosts))
	for _, d := range h.hosts {
		m[entry{host: lowerName(d.cfg.Name), port: uint16(d.cfg.Port)}.key()] = d
	}
	return m
}

// resolve returns the IP entries plus the addresses of every hostname,
// looked up concurrently. It fails only if the result is empty.
func (h hostSet) resolve(ctx context.Context) ([]string, error) {
	out := slices.Clone(h.ips)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards out and errs
		errs []error
	)
	for _, d := range h.hosts {
		wg.Go(func() {
			list, err := d.Seeds(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, s := range list {
				if ap, err := netip.ParseAddrPort(s); err == nil {
					out = append(out, ap)
				}
			}
		})
	}
	wg.Wait()
	if len(out) == 0 {
		if len(errs) == 0 {
			return nil, ErrNoSeeds
		}
		return nil, errors.Join(errs...)
	}
	return sortedStrings(out), nil
}

// childRand derives an independent generator from r, or returns nil (a
// generator of the provider's own) when r is nil.
func childRand(r *rand.Rand) *rand.Rand {
	if r == nil {
		return nil
	}
	return rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
}
