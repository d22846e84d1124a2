package seeds

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

// newDNSProvider builds a DNS provider and fails the test on error.
func newDNSProvider(t *testing.T, cfg DNSConfig) *DNS {
	t.Helper()
	d, err := NewDNS(cfg)
	require.NoError(t, err)
	return d
}

func TestDNSAddressRecords(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.2", "127.0.0.1", "127.0.0.2")
	srv.SetAAAA("seeds.test", "fd00::2", "::1")
	srv.SetA("v4only.test", "127.0.0.3")
	srv.SetAAAA("v6only.test", "::1")

	tests := []struct {
		name   string
		host   string
		family Family
		want   []string
		err    error
	}{
		{"any family: A and AAAA, sorted, deduplicated", "seeds.test", FamilyAny,
			[]string{"127.0.0.1:7000", "127.0.0.2:7000", "[::1]:7000", "[fd00::2]:7000"}, nil},
		{"IPv4 only", "seeds.test", FamilyIPv4, []string{"127.0.0.1:7000", "127.0.0.2:7000"}, nil},
		{"IPv6 only", "seeds.test", FamilyIPv6, []string{"[::1]:7000", "[fd00::2]:7000"}, nil},
		{"any family, only A records", "v4only.test", FamilyAny, []string{"127.0.0.3:7000"}, nil},
		{"any family, only AAAA records", "v6only.test.", FamilyAny, []string{"[::1]:7000"}, nil},
		{"IPv6 wanted, only A records", "v4only.test", FamilyIPv6, nil, ErrNoSeeds},
		{"IPv4 wanted, only AAAA records", "v6only.test", FamilyIPv4, nil, ErrNoSeeds},
		{"upper case name", "SEEDS.Test", FamilyIPv4, []string{"127.0.0.1:7000", "127.0.0.2:7000"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastDNS(srv, tt.host, 7000)
			cfg.Family = tt.family
			got, err := newDNSProvider(t, cfg).Seeds(t.Context())
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDNSSRV(t *testing.T) {
	srv := dnstest.NewServer(t)
	const name = "_gossip._tcp.hearsay.ns.svc.cluster.local"
	srv.SetSRV(name,
		dnstest.SRV{Target: "node-0.hearsay.ns.svc.cluster.local", Port: 7000, Priority: 10, Weight: 50},
		dnstest.SRV{Target: "node-1.hearsay.ns.svc.cluster.local.", Port: 7001, Priority: 20},
		dnstest.SRV{Target: "gone.hearsay.ns.svc.cluster.local", Port: 7002}, // NXDOMAIN: skipped
		dnstest.SRV{Target: ".", Port: 7003},                                 // "no service here": skipped
	)
	srv.SetA("node-0.hearsay.ns.svc.cluster.local", "127.0.0.1")
	srv.SetA("node-1.hearsay.ns.svc.cluster.local", "127.0.0.2")
	srv.SetAAAA("node-1.hearsay.ns.svc.cluster.local", "::1")

	t.Run("targets resolved to their addresses, with the records' ports", func(t *testing.T) {
		cfg := fastDNS(srv, name, 0)
		cfg.SRV = true
		got, err := newDNSProvider(t, cfg).Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.2:7001", "[::1]:7001"}, got)
	})
	t.Run("family applies to the targets", func(t *testing.T) {
		cfg := fastDNS(srv, name, 0)
		cfg.SRV, cfg.Family = true, FamilyIPv6
		got, err := newDNSProvider(t, cfg).Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"[::1]:7001"}, got)
	})
	t.Run("no target resolves", func(t *testing.T) {
		srv.SetSRV("_gossip._tcp.empty.test", dnstest.SRV{Target: "nowhere.test", Port: 7000}, dnstest.SRV{Target: ".", Port: 1})
		cfg := fastDNS(srv, "_gossip._tcp.empty.test", 0)
		cfg.SRV = true
		got, err := newDNSProvider(t, cfg).Seeds(t.Context())
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), "nowhere.test")
		assert.Nil(t, got)
	})
	t.Run("SRV name without SRV records", func(t *testing.T) {
		srv.SetA("plain.test", "127.0.0.1")
		cfg := fastDNS(srv, "plain.test", 0)
		cfg.SRV = true
		_, err := newDNSProvider(t, cfg).Seeds(t.Context())
		require.ErrorIs(t, err, ErrNoSeeds)
	})
}

func TestDNSNXDomain(t *testing.T) {
	srv := dnstest.NewServer(t)
	cfg := fastDNS(srv, "missing.test", 7000)
	cfg.Attempts = 3
	d := newDNSProvider(t, cfg)

	got, err := d.Seeds(t.Context())
	require.Error(t, err)
	assert.Nil(t, got)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "missing.test", "the error names the name")
	assert.Contains(t, err.Error(), srv.Addr(), "the error names the server")
	assert.Equal(t, int64(2), srv.Queries("udp"), "NXDOMAIN is definite: one A and one AAAA query, no retry")
	st := d.Stats()
	assert.Equal(t, uint64(1), st.Lookups)
	assert.Equal(t, uint64(1), st.Failures)
	assert.Zero(t, st.Stale)
}

// TestDNSFailuresKeepLastGoodAnswer checks every way a lookup can fail after
// a success: the provider answers with the last good answer and a nil error,
// and logs and counts the failure.
func TestDNSFailuresKeepLastGoodAnswer(t *testing.T) {
	tests := []struct {
		name    string
		mode    dnstest.Mode
		inError string
	}{
		{"NXDOMAIN", dnstest.NXDomain, "name not found"},
		{"SERVFAIL", dnstest.ServFail, "SERVFAIL"},
		{"timeout", dnstest.Drop, "timed out"},
		{"garbage", dnstest.Garbage, "A seeds.test."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dnstest.NewServer(t)
			srv.SetA("seeds.test", "127.0.0.1")
			log, logs := newLogger()
			cfg := fastDNS(srv, "seeds.test", 7000)
			cfg.Logger = log
			d := newDNSProvider(t, cfg)
			want := []string{"127.0.0.1:7000"}
			got, err := d.Seeds(t.Context())
			require.NoError(t, err)
			require.Equal(t, want, got)

			srv.SetMode(tt.mode)
			got, err = d.Seeds(t.Context())
			require.NoError(t, err, "a failure after a success is not an error")
			assert.Equal(t, want, got, "last good answer")
			st := d.Stats()
			assert.Equal(t, uint64(2), st.Lookups)
			assert.Equal(t, uint64(1), st.Failures)
			assert.Equal(t, uint64(1), st.Stale)
			assert.Equal(t, uint64(1), st.Changes)
			assert.Contains(t, st.LastError, tt.inError)
			assert.Contains(t, st.LastError, srv.Addr())
			assert.False(t, st.LastFailure.IsZero())
			assert.Contains(t, logs.String(), "keeping last good answer")

			srv.SetMode(dnstest.Answer)
			srv.SetA("seeds.test", "127.0.0.9")
			got, err = d.Seeds(t.Context())
			require.NoError(t, err)
			assert.Equal(t, []string{"127.0.0.9:7000"}, got, "a recovered server gives fresh answers")
			assert.Equal(t, uint64(2), d.Stats().Changes)
		})
	}
}

func TestDNSErrorsBeforeAnySuccess(t *testing.T) {
	tests := []struct {
		name    string
		mode    dnstest.Mode
		inError string
	}{
		{"SERVFAIL", dnstest.ServFail, "SERVFAIL"},
		{"timeout", dnstest.Drop, "timed out after 300ms"},
		{"garbage", dnstest.Garbage, "exchange over udp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dnstest.NewServer(t)
			srv.SetA("seeds.test", "127.0.0.1")
			srv.SetMode(tt.mode)
			cfg := fastDNS(srv, "seeds.test", 7000)
			d := newDNSProvider(t, cfg)
			got, err := d.Seeds(t.Context())
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), tt.inError)
			assert.Contains(t, err.Error(), "resolve seed name seeds.test via "+srv.Addr())
			assert.Contains(t, err.Error(), "2 attempts")
			assert.Equal(t, uint64(1), d.Stats().Failures)
		})
	}
}

func TestDNSRetries(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.1")
	srv.SetMode(dnstest.ServFail)
	cfg := fastDNS(srv, "seeds.test", 7000)
	cfg.Attempts, cfg.Family = 4, FamilyIPv4
	_, err := newDNSProvider(t, cfg).Seeds(t.Context())
	require.Error(t, err)
	assert.Equal(t, int64(4), srv.Queries("udp"), "one A query per attempt")
	assert.Contains(t, err.Error(), "4 attempts")
}

func TestDNSTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	srv.SetSRV("_gossip._tcp.seeds.test", dnstest.SRV{Target: "seeds.test", Port: 7001})
	srv.SetMode(dnstest.Truncate)

	cfg := fastDNS(srv, "seeds.test", 7000)
	cfg.Family = FamilyIPv4
	got, err := newDNSProvider(t, cfg).Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.2:7000", "127.0.0.3:7000"}, got)
	assert.Equal(t, int64(1), srv.Queries("tcp"))

	cfg = fastDNS(srv, "_gossip._tcp.seeds.test", 0)
	cfg.SRV, cfg.Family = true, FamilyIPv4
	got, err = newDNSProvider(t, cfg).Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7001", "127.0.0.2:7001", "127.0.0.3:7001"}, got)
	assert.Equal(t, int64(3), srv.Queries("tcp"), "the SRV query and the target's A query")
}

func TestDNSServerGone(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.1")
	log, logs := newLogger()
	cfg := fastDNS(srv, "seeds.test", 7000)
	cfg.Logger = log
	d := newDNSProvider(t, cfg)
	fresh := newDNSProvider(t, fastDNS(srv, "seeds.test", 7000))
	_, err := d.Seeds(t.Context())
	require.NoError(t, err)

	srv.Close()
	got, err := d.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000"}, got)
	assert.Equal(t, uint64(1), d.Stats().Failures)
	assert.Contains(t, logs.String(), `"level":"warn"`)
	assert.Contains(t, logs.String(), "seed lookup failed")

	got, err = fresh.Seeds(t.Context())
	require.Error(t, err, "no last good answer to fall back on")
	assert.Nil(t, got)
	assert.Contains(t, err.Error(), srv.Addr())
}

func TestDNSCancelledContext(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetMode(dnstest.Drop)
	cfg := fastDNS(srv, "seeds.test", 7000)
	cfg.Timeout, cfg.Attempts = time.Minute, 10
	d := newDNSProvider(t, cfg)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := d.Seeds(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return srv.Queries("udp") > 0 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Seeds did not return after its context was cancelled")
	}
}

func TestDNSSystemResolver(t *testing.T) {
	cfg := DefaultDNSConfig()
	cfg.Name, cfg.Port, cfg.Family = "localhost", 7000, FamilyIPv4
	got, err := newDNSProvider(t, cfg).Seeds(t.Context())
	require.NoError(t, err)
	assert.Contains(t, got, "127.0.0.1:7000")
}

func TestDNSConfigValidate(t *testing.T) {
	valid := func() DNSConfig {
		c := DefaultDNSConfig()
		c.Name, c.Port = "seeds.test", 7000
		return c
	}
	require.NoError(t, valid().Validate())
	require.NoError(t, DNSConfig{Name: "seeds.test", Port: 7000}.Validate(), "zero fields mean defaults")

	tests := []struct {
		name   string
		change func(*DNSConfig)
		want   []string
	}{
		{"no name", func(c *DNSConfig) { c.Name = "" }, []string{"Name is empty"}},
		{"IP as name", func(c *DNSConfig) { c.Name = "10.0.0.1" }, []string{`Name "10.0.0.1" is an IP address`}},
		{"bad name", func(c *DNSConfig) { c.Name = "seeds test" }, []string{`Name "seeds test"`, "invalid character"}},
		{"no port", func(c *DNSConfig) { c.Port = 0 }, []string{"Port 0 is out of range 1-65535"}},
		{"port too big", func(c *DNSConfig) { c.Port = 70000 }, []string{"Port 70000"}},
		{"port with SRV", func(c *DNSConfig) { c.SRV = true }, []string{"Port 7000: must be 0 with SRV"}},
		{"bad server", func(c *DNSConfig) { c.Server = "127.0.0.1:0" }, []string{`Server "127.0.0.1:0"`, "port 0"}},
		{"negative timeout", func(c *DNSConfig) { c.Timeout = -time.Second }, []string{"Timeout -1s is out of range"}},
		{"too many attempts", func(c *DNSConfig) { c.Attempts = 11 }, []string{"Attempts 11 is out of range 1-10"}},
		{"backoff inverted", func(c *DNSConfig) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond },
			[]string{"BackoffMin 1s is more than BackoffMax 1ms"}},
		{"bad family", func(c *DNSConfig) { c.Family = 7 }, []string{"Family 7"}},
		{"everything at once", func(c *DNSConfig) { c.Name, c.Port, c.Attempts, c.Family = "", -1, -1, -1 },
			[]string{"Name is empty", "Port -1", "Attempts -1", "Family -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			before := c
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, before, c, "Validate does not change the config")
			_, err = NewDNS(c)
			require.Error(t, err)
		})
	}
}

func TestDNSServerAddressDefaultsToPort53(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.10":       "10.0.0.10:53",
		"10.0.0.10:5353":  "10.0.0.10:5353",
		"fd00::a":         "[fd00::a]:53",
		"[fd00::a]:5353":  "[fd00::a]:5353",
		"dns.example":     "dns.example:53",
		"DNS.example:530": "dns.example:530",
		"":                "",
	} {
		got, err := serverAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestDNSBackoff(t *testing.T) {
	cfg := DNSConfig{Name: "x.test", Port: 1, BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, Rand: rand.New(rand.NewPCG(3, 4))}
	d := newDNSProvider(t, cfg)
	caps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i, c := range caps {
		for range 50 {
			p := d.backoff(i + 1)
			assert.GreaterOrEqual(t, p, c/2, "attempt %d", i+1)
			assert.LessOrEqual(t, p, c, "attempt %d", i+1)
		}
	}
	assert.LessOrEqual(t, d.backoff(1000), time.Second, "no overflow on large attempt numbers")
}

func TestIsDefinite(t *testing.T) {
	other := errors.New("i/o timeout")
	assert.True(t, isDefinite(ErrNotFound))
	assert.True(t, isDefinite(ErrNoSeeds))
	assert.True(t, isDefinite(errors.Join(ErrNotFound, ErrNoSeeds)))
	assert.False(t, isDefinite(errors.Join(ErrNotFound, other)), "one retryable part makes the whole retryable")
	assert.False(t, isDefinite(other))
	assert.False(t, isDefinite(nil))
	assert.False(t, isDefinite(errors.Join()))
}

func TestChainRecords(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		require.NoError(t, err)
		return r
	}
	answer := []dns.RR{
		rr("seeds.test. 5 IN CNAME real.test."),
		rr("real.test. 5 IN CNAME REAL2.test."),
		rr("real2.test. 5 IN A 127.0.0.1"),
		rr("unrelated.test. 5 IN A 127.0.0.66"),
		rr("seeds.test. 5 IN AAAA ::1"),
	}
	got := addrsOf(chainRecords("Seeds.test.", answer), dns.TypeA)
	require.Len(t, got, 1)
	assert.Equal(t, "127.0.0.1", got[0].String(), "follows the CNAME chain, ignores unrelated records and other types")
}

func TestCheckReply(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("seeds.test.", dns.TypeA)
	reply := func(change func(*dns.Msg)) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(q)
		change(r)
		return r
	}
	assert.NoError(t, checkReply(q, reply(func(*dns.Msg) {})))
	assert.ErrorIs(t, checkReply(q, reply(func(r *dns.Msg) { r.Rcode = dns.RcodeNameError })), ErrNotFound)
	assert.ErrorContains(t, checkReply(q, reply(func(r *dns.Msg) { r.Rcode = dns.RcodeRefused })), "REFUSED")
	assert.ErrorContains(t, checkReply(q, reply(func(r *dns.Msg) { r.Rcode = 13 })), "rcode 13")
	assert.ErrorContains(t, checkReply(q, reply(func(r *dns.Msg) { r.Response = false })), "not a response")
	assert.ErrorContains(t, checkReply(q, reply(func(r *dns.Msg) { r.Question[0].Name = "other.test." })), "another question")
	assert.ErrorContains(t, checkReply(q, reply(func(r *dns.Msg) { r.Question[0].Qtype = dns.TypeMX })), "another question")
	assert.ErrorContains(t, checkReply(q, reply(func(r *dns.Msg) { r.Truncated = true })), "truncated")
}

// FuzzReply feeds arbitrary bytes, as a server's reply, through everything
// the client does with a reply. It must never panic.
func FuzzReply(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("seeds.test.", dns.TypeA)
	r := new(dns.Msg)
	r.SetReply(q)
	a, _ := dns.NewRR("seeds.test. 5 IN A 127.0.0.1")
	cname, _ := dns.NewRR("seeds.test. 5 IN CNAME seeds.test.")
	srvRR, _ := dns.NewRR("seeds.test. 5 IN SRV 1 1 7000 node.test.")
	r.Answer = []dns.RR{a, cname, srvRR}
	good, err := r.Pack()
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0, 0xff, 0x07})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		_ = checkReply(q, m)
		rrs := chainRecords("seeds.test.", m.Answer)
		for _, a := range addrsOf(rrs, dns.TypeA) {
			_ = FamilyAny.keeps(a.Unmap())
		}
		_ = addrsOf(rrs, dns.TypeAAAA)
		_ = srvsOf(rrs)
	})
}

func TestFamilyString(t *testing.T) {
	assert.Equal(t, "any", FamilyAny.String())
	assert.Equal(t, "ipv4", FamilyIPv4.String())
	assert.Equal(t, "ipv6", FamilyIPv6.String())
	assert.Equal(t, "Family(9)", Family(9).String())
}

func TestFamilyDropsUnusableAddresses(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "::", "224.0.0.1", "ff02::1"} {
		assert.False(t, FamilyAny.keeps(netip.MustParseAddr(s)), s)
	}
	assert.True(t, FamilyAny.keeps(netip.MustParseAddr("10.0.0.1")))
}
