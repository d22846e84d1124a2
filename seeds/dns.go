package seeds

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of [DNSConfig], used for fields left at zero.
const (
	defaultDNSTimeout    = 2 * time.Second
	defaultDNSAttempts   = 3
	defaultDNSBackoffMin = 100 * time.Millisecond
	defaultDNSBackoffMax = 2 * time.Second
	maxDNSDuration       = time.Minute
	maxDNSAttempts       = 10
)

// Family selects which address records a DNS lookup returns.
type Family int

const (
	// FamilyAny returns both IPv4 (A) and IPv6 (AAAA) addresses. If one of
	// the two queries fails and the other returns addresses, those are
	// used.
	FamilyAny Family = iota
	// FamilyIPv4 returns only IPv4 addresses; AAAA is never asked.
	FamilyIPv4
	// FamilyIPv6 returns only IPv6 addresses; A is never asked.
	FamilyIPv6
)

// String returns "any", "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case FamilyAny:
		return "any"
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// keeps reports whether an address of the family is returned. Unspecified
// and multicast addresses are never seeds.
func (f Family) keeps(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	switch f {
	case FamilyIPv4:
		return a.Is4()
	case FamilyIPv6:
		return a.Is6()
	}
	return true
}

// DNSConfig configures a [DNS] provider. The zero value of every field but
// Name and Port means its default; [DefaultDNSConfig] spells them out.
type DNSConfig struct {
	// Name is the name to resolve: "hearsay.ns.svc.cluster.local" (A and
	// AAAA records) or, with SRV set, "_gossip._tcp.hearsay.ns.svc.cluster.local".
	// Required. When Server is set the name is sent as is, fully
	// qualified: resolv.conf search domains are not applied.
	Name string
	// SRV makes Name an SRV name. Every record's target is resolved to A
	// and AAAA records, and paired with the record's port. Priority and
	// weight are ignored: every target is a seed. Targets "." are skipped.
	SRV bool
	// Port is the gossip port paired with the addresses of Name, 1-65535.
	// Required without SRV; must be 0 with SRV (ports come from the
	// records).
	Port int
	// Server is the DNS server to ask, "host:port" or "host" (port 53),
	// over UDP with a retry over TCP when the answer is truncated. Empty
	// (the default) uses the system resolver (Go's net.DefaultResolver:
	// /etc/hosts, /etc/resolv.conf with its search domains and options).
	Server string
	// Timeout bounds one attempt (all queries of it), 1ms-1m. Default 2s.
	Timeout time.Duration
	// Attempts is how many times a lookup is tried before Seeds gives up,
	// 1-10. Default 3. A definite answer (NXDOMAIN, no records) is not
	// retried.
	Attempts int
	// BackoffMin is the pause after the first failed attempt, 1ms-1m.
	// Default 100ms. It doubles after each further failure, up to
	// BackoffMax, and each pause is drawn uniformly from [d/2, d].
	BackoffMin time.Duration
	// BackoffMax caps the pause between attempts, 1ms-1m and at least
	// BackoffMin. Default 2s.
	BackoffMax time.Duration
	// Family selects the address records returned. Default FamilyAny.
	Family Family
	// Rand is the source of backoff jitter. Nil (the default) gives the
	// provider its own generator seeded from crypto/rand. The provider
	// uses it under its own lock: do not use it anywhere else.
	Rand *rand.Rand
	// Logger receives failures (warn), answer changes (info) and retries
	// (debug). Default zerolog.Nop(), the zero value, which logs nothing.
	Logger zerolog.Logger
}

// DefaultDNSConfig returns a configuration with every default filled in.
// Name and Port (or SRV) must still be set.
func DefaultDNSConfig() DNSConfig {
	return DNSConfig{
		Timeout:    defaultDNSTimeout,
		Attempts:   defaultDNSAttempts,
		BackoffMin: defaultDNSBackoffMin,
		BackoffMax: defaultDNSBackoffMax,
		Family:     FamilyAny,
		Logger:     zerolog.Nop(),
	}
}

// Validate reports every problem of the configuration at once, joined with
// errors.Join, each naming the field, its value and the rule. It does not
// change c.
func (c DNSConfig) Validate() error {
	var errs []error
	switch {
	case c.Name == "":
		errs = append(errs, errors.New("field Name is empty"))
	default:
		if _, err := netip.ParseAddr(c.Name); err == nil {
			errs = append(errs, fmt.Errorf("field Name %q is an IP address, not a DNS name (use Static for addresses)", c.Name))
		} else if err := checkHostname(c.Name); err != nil {
			errs = append(errs, fmt.Errorf("field Name %q: %w", c.Name, err))
		}
	}
	if c.SRV && c.Port != 0 {
		errs = append(errs, fmt.Errorf("field Port %d: must be 0 with SRV (ports come from the records)", c.Port))
	}
	if !c.SRV {
		if err := checkPortRange("field Port", c.Port, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, c.checkResolver()...)...)
}

// checkResolver checks the fields that say how names are resolved, which
// Static and File share with DNS.
func (c DNSConfig) checkResolver() []error {
	var errs []error
	if _, err := serverAddr(c.Server); err != nil {
		errs = append(errs, fmt.Errorf("field Server %q: %w", c.Server, err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", c.Timeout}, {"BackoffMin", c.BackoffMin}, {"BackoffMax", c.BackoffMax}} {
		if d.v != 0 && (d.v < time.Millisecond || d.v > maxDNSDuration) {
			errs = append(errs, fmt.Errorf("field %s %s is out of range 1ms-1m (0 = default)", d.name, d.v))
		}
	}
	if c.Attempts < 0 || c.Attempts > maxDNSAttempts {
		errs = append(errs, fmt.Errorf("field Attempts %d is out of range 1-%d (0 = default)", c.Attempts, maxDNSAttempts))
	}
	if d := c.withDefaults(); d.BackoffMin > d.BackoffMax {
		errs = append(errs, fmt.Errorf("field BackoffMin %s is more than BackoffMax %s", d.BackoffMin, d.BackoffMax))
	}
	if c.Family < FamilyAny || c.Family > FamilyIPv6 {
		errs = append(errs, fmt.Errorf("field Family %d is not FamilyAny, FamilyIPv4 or FamilyIPv6", int(c.Family)))
	}
	return errs
}

// withDefaults returns c with zero fields set to their defaults.
func (c DNSConfig) withDefaults() DNSConfig {
	if c.Timeout == 0 {
		c.Timeout = defaultDNSTimeout
	}
	if c.Attempts == 0 {
		c.Attempts = defaultDNSAttempts
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = min(defaultDNSBackoffMin, max(c.BackoffMax, time.Millisecond))
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(defaultDNSBackoffMax, c.BackoffMin)
	}
	return c
}

// serverAddr normalises a DNS server address to "host:port" (default port
// 53). Empty means the system resolver and stays empty.
func serverAddr(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	e, err := parseEntry(s, 53)
	if err != nil {
		return "", err
	}
	if e.isIP() {
		return netip.AddrPortFrom(e.addr, e.port).String(), nil
	}
	return e.key(), nil
}

// DNS is a [Provider] that resolves one DNS name, in A/AAAA or SRV mode, on
// every Seeds call. It retries failed attempts with exponential backoff and
// jitter, and when a lookup fails it answers with the last good answer. It
// is safe for concurrent use.
type DNS struct {
	cfg    DNSConfig // with defaults
	server string    // "host:port", or "" for the system resolver
	look   lookuper
	log    zerolog.Logger

	rngMu sync.Mutex // guards rng
	rng   *rand.Rand

	t tracker
}

// NewDNS returns a DNS provider for cfg. It does no lookup.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid dns seed config: %w", err)
	}
	return newDNS(cfg), nil
}

// newDNS builds a DNS provider from a valid configuration.
func newDNS(cfg DNSConfig) *DNS {
	cfg = cfg.withDefaults()
	server, _ := serverAddr(cfg.Server) // checked by Validate
	d := &DNS{cfg: cfg, server: server, rng: cfg.Rand}
	if d.rng == nil {
		d.rng = newRand()
	}
	if server == "" {
		d.look = systemLookup{r: &net.Resolver{}}
	} else {
		d.look = serverLookup{server: server, timeout: cfg.Timeout}
	}
	mode := "a/aaaa"
	if cfg.SRV {
		mode = "srv"
	}
	d.log = cfg.Logger.With().Str("seed_name", cfg.Name).Str("mode", mode).Str("dns_server", d.serverName()).Logger()
	return d
}

// newRand returns a generator seeded from crypto/rand.
func newRand() *rand.Rand {
	var seed [16]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand.Read documents it)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

// serverName names the resolver in logs and errors.
func (d *DNS) serverName() string {
	if d.server == "" {
		return "system resolver"
	}
	return d.server
}

// Seeds resolves the name and returns its addresses as sorted, deduplicated
// "ip:port" strings. When every attempt fails it logs and counts the failure
// and returns the last good answer with a nil error; before any lookup has
// succeeded it returns the error, which names the name and the server and
// wraps ErrNotFound for NXDOMAIN and ErrNoSeeds for an empty answer.
func (d *DNS) Seeds(ctx context.Context) ([]string, error) {
	return answer(ctx, &d.t, d.log, func(ctx context.Context) ([]string, error) {
		list, err := d.resolve(ctx)
		if err != nil {
			return nil, fmt.Errorf("resolve seed name %s via %s: %w", d.cfg.Name, d.serverName(), err)
		}
		return list, nil
	})
}

// Stats returns the provider's counters.
func (d *DNS) Stats() Stats { return d.t.stats() }

// resolve runs up to Attempts attempts, pausing between them.
func (d *DNS) resolve(ctx context.Context) ([]string, error) {
	var err error
	attempt := 1
	for ; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		var list []string
		list, err = d.resolveOnce(actx)
		cancel()
		if err == nil {
			return list, nil
		}
		if ctx.Err() == nil && isTimeout(err) {
			err = fmt.Errorf("attempt timed out after %s: %w", d.cfg.Timeout, err)
		}
		if attempt >= d.cfg.Attempts || isDefinite(err) || ctx.Err() != nil {
			break
		}
		pause := d.backoff(attempt)
		d.log.Debug().Err(err).Int("attempt", attempt).Dur("pause", pause).Msg("seed lookup attempt failed; retrying")
		if !sleep(ctx, pause) {
			break
		}
	}
	if attempt > 1 {
		return nil, fmt.Errorf("%d attempts: %w", attempt, err)
	}
	return nil, err
}

// resolveOnce is one attempt.
func (d *DNS) resolveOnce(ctx context.Context) ([]string, error) {
	if !d.cfg.SRV {
		addrs, err := d.addrs(ctx, d.cfg.Name)
		if err != nil {
			return nil, err
		}
		out := make([]netip.AddrPort, len(addrs))
		for i, a := range addrs {
			out[i] = netip.AddrPortFrom(a, uint16(d.cfg.Port))
		}
		return sortedStrings(out), nil
	}
	targets, err := d.look.lookupSRV(ctx, d.cfg.Name)
	if err != nil {
		return nil, err
	}
	return d.resolveTargets(ctx, targets)
}

// addrs looks up the addresses of host in the configured family.
func (d *DNS) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	all, err := d.look.lookupAddrs(ctx, host, d.cfg.Family)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range all {
		if a = a.Unmap(); d.cfg.Family.keeps(a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s has no usable %s address", ErrNoSeeds, host, d.cfg.Family)
	}
	return out, nil
}

// resolveTargets resolves SRV targets concurrently. Targets that fail are
// logged and skipped; it fails only if none resolves.
func (d *DNS) resolveTargets(ctx context.Context, targets []srvTarget) ([]string, error) {
	var hosts []string
	for _, t := range targets {
		if t.host != "" && t.port != 0 {
			hosts = append(hosts, t.host)
		}
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: no SRV record has a usable target", ErrNoSeeds)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards resolved and errs
		resolved = map[string][]netip.Addr{}
		errs     []error
	)
	for _, h := range hosts {
		wg.Go(func() {
			addrs, err := d.addrs(ctx, h)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("srv target %s: %w", h, err))
				return
			}
			resolved[h] = addrs
		})
	}
	wg.Wait()
	var out []netip.AddrPort
	for _, t := range targets {
		for _, a := range resolved[t.host] {
			out = append(out, netip.AddrPortFrom(a, t.port))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no srv target resolved: %w", errors.Join(errs...))
	}
	if len(errs) > 0 {
		d.log.Warn().Err(errors.Join(errs...)).Msg("some srv targets did not resolve; using the others")
	}
	return sortedStrings(out), nil
}

// backoff returns the jittered pause after the given failed attempt.
func (d *DNS) backoff(attempt int) time.Duration {
	p := d.cfg.BackoffMax
	if shift := attempt - 1; shift < 32 {
		if b := d.cfg.BackoffMin << shift; b > 0 && b < p {
			p = b
		}
	}
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	half := p / 2
	return half + time.Duration(d.rng.Int64N(int64(p-half)+1))
}

// sleep waits for d or until ctx is done, and reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// isTimeout reports whether err is, or contains, a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// isDefinite reports whether err is a definite answer from DNS (the name
// does not exist, or has no records), for which a retry is pointless. A
// joined error is definite when all its parts are.
func isDefinite(err error) bool {
	if err == nil {
		return false
	}
	if err == ErrNotFound || err == ErrNoSeeds { // the leaves themselves, not their chains
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		errs := u.Unwrap()
		for _, e := range errs {
			if !isDefinite(e) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return isDefinite(u.Unwrap())
	}
	return false
}

// lowerName returns a DNS name in lower case without its trailing dot.
func lowerName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
