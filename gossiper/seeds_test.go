package gossiper

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/seeds"
	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

func portOf(t *testing.T, addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return uint16(n)
}

// TestSeedsFromDNSSurviveReplacement: a cluster whose seeds come from a
// real DNS server (SRV records on 127.0.0.1); the seed nodes are replaced by
// new ones on new ports and the records updated; a node started afterwards
// still joins through DNS.
func TestSeedsFromDNSSurviveReplacement(t *testing.T) {
	const interval = 50 * time.Millisecond
	const srv = "_gossip._tcp.hearsay.test."
	dns := dnstest.NewServer(t)
	dns.SetA("seed.hearsay.test.", "127.0.0.1")

	provider := func(t *testing.T) seeds.Provider {
		cfg := seeds.DefaultDNSConfig()
		cfg.Name, cfg.SRV, cfg.Server = srv, true, dns.Addr()
		cfg.Timeout, cfg.BackoffMin, cfg.BackoffMax = 200*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond
		p, err := seeds.NewDNS(cfg)
		require.NoError(t, err)
		return p
	}
	dnsNode := func(id string) *Gossiper {
		cfg := tcpConfig(id, nil, interval)
		cfg.SeedProvider = provider(t)
		cfg.SeedRefreshInterval = 2 * interval
		return startTCP(t, cfg)
	}
	setSeeds := func(gs ...*Gossiper) {
		var recs []dnstest.SRV
		for _, g := range gs {
			recs = append(recs, dnstest.SRV{Target: "seed.hearsay.test.", Port: portOf(t, g.Addr())})
		}
		dns.SetSRV(srv, recs...)
	}

	s1 := startTCP(t, tcpConfig("seed-1", nil, interval))
	s2 := startTCP(t, tcpConfig("seed-2", []string{s1.Addr()}, interval))
	setSeeds(s1, s2)
	m1, m2 := dnsNode("member-1"), dnsNode("member-2")
	all := []*Gossiper{s1, s2, m1, m2}
	require.Eventually(t, func() bool { return allUp(all) }, 15*time.Second, 20*time.Millisecond)

	// Replace both seeds: new nodes on new ports, records updated, old
	// seeds gone.
	s3 := startTCP(t, tcpConfig("seed-3", []string{m1.Addr()}, interval))
	s4 := startTCP(t, tcpConfig("seed-4", []string{m2.Addr()}, interval))
	setSeeds(s3, s4)
	require.NoError(t, s1.Stop(context.Background()))
	require.NoError(t, s2.Stop(context.Background()))
	require.Eventually(t, func() bool {
		want := []string{s3.Addr(), s4.Addr()}
		slices.Sort(want)
		return slices.Equal(m1.Seeds(), want) && slices.Equal(m2.Seeds(), want)
	}, 10*time.Second, 20*time.Millisecond, "members pick up the new seeds")

	// A new node finds the cluster through the updated records.
	m3 := dnsNode("member-3")
	live := []*Gossiper{s3, s4, m1, m2, m3}
	require.Eventually(t, func() bool {
		for _, g := range live {
			for _, id := range []string{"seed-3", "seed-4", "member-1", "member-2", "member-3"} {
				if statusOf(g, id) != StatusUp {
					return false
				}
			}
		}
		return true
	}, 15*time.Second, 20*time.Millisecond, "a node started after the replacement joins")
}

// TestSeedProviderRecovers: a node whose provider has no answer at start
// runs alone, and joins once the records appear.
func TestSeedProviderRecovers(t *testing.T) {
	const interval = 50 * time.Millisecond
	dns := dnstest.NewServer(t)
	cfg := seeds.DefaultDNSConfig()
	cfg.Name, cfg.Port, cfg.Server = "seeds.hearsay.test.", 0, dns.Addr()
	first := startTCP(t, tcpConfig("first", nil, interval))
	cfg.Port = int(portOf(t, first.Addr()))
	cfg.Timeout, cfg.Attempts = 100*time.Millisecond, 1
	p, err := seeds.NewDNS(cfg)
	require.NoError(t, err)

	lateCfg := tcpConfig("late", nil, interval)
	lateCfg.SeedProvider, lateCfg.SeedRefreshInterval = p, 2*interval
	late := startTCP(t, lateCfg)
	require.Len(t, late.Members(), 1, "alone while DNS has nothing")

	dns.SetA("seeds.hearsay.test.", "127.0.0.1")
	require.Eventually(t, func() bool { return allUp([]*Gossiper{first, late}) }, 10*time.Second, 20*time.Millisecond)
}
