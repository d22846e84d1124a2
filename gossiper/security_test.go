package gossiper

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper/adversarialtest"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

// secureInterval is the gossip interval of the security tests.
const secureInterval = 50 * time.Millisecond

// secureConfig is tcpConfig with the transport secured by sec.
func secureConfig(id string, seeds []string, sec messaging.Security) Config {
	cfg := tcpConfig(id, seeds, secureInterval)
	cfg.TCP.Security = sec
	cfg.TCP.BackoffMax = 500 * time.Millisecond
	return cfg
}

// patientDetector makes a gossiper convict a peer only after seconds of
// silence (phi 32 instead of 8: about 74 mean intervals instead of 18),
// for the tests that check that nobody is convicted, or that a member
// stays up, for many rounds and wait for no conviction: at 50 ms rounds a
// loaded machine can starve a node's loop for the second that phi 8
// takes. What they guard against shows otherwise: a forged shutdown or
// state, frames that do not decrypt, heartbeats that stop.
func patientDetector(cfg *Config) { cfg.FailureDetector.PhiConvictThreshold = 32 }

// tlsCluster starts one mTLS gossiper per id, each with a certificate from
// ca naming its ID, seeded by the first, and waits until all see all up;
// mutate, if not nil, changes each one's configuration first.
func tlsCluster(t *testing.T, ca *securitytest.CA, dir string, mutate func(*Config), ids ...string) []*Gossiper {
	t.Helper()
	var gs []*Gossiper
	for i, id := range ids {
		var seeds []string
		if i > 0 {
			seeds = []string{gs[0].Addr()}
		}
		cfg := secureConfig(id, seeds, ca.Issue(t, dir, id, id).Security())
		if mutate != nil {
			mutate(&cfg)
		}
		gs = append(gs, startTCP(t, cfg))
	}
	require.Eventually(t, func() bool { return allUpIDs(gs, ids) }, 20*time.Second, 10*time.Millisecond,
		"the mTLS cluster never converged")
	return gs
}

// allUpIDs reports whether every gossiper sees every id up.
func allUpIDs(gs []*Gossiper, ids []string) bool {
	for _, id := range ids {
		if !everyone(gs, -1, id, StatusUp) {
			return false
		}
	}
	return true
}

// watchFor checks, once per interval for rounds intervals, that check
// holds on every gossiper of gs; it fails at the first round it does not.
func watchFor(t *testing.T, gs []*Gossiper, rounds int, what string, check func(g *Gossiper) error) {
	t.Helper()
	for r := range rounds {
		for _, g := range gs {
			if err := check(g); err != nil {
				require.FailNow(t, what, "round %d, at %s: %v", r, g.cfg.ID, err)
			}
		}
		time.Sleep(secureInterval)
	}
}

// TestMutualTLSCluster (issue 12): a cluster whose nodes hold certificates
// naming their IDs forms, converges and spreads state, and refuses nothing.
func TestMutualTLSCluster(t *testing.T) {
	dir := t.TempDir()
	ids := []string{"n1", "n2", "n3", "node 4"} // "node 4" is named by a URI SAN
	gs := tlsCluster(t, securitytest.NewCA(t, dir, "ca"), dir, nil, ids...)
	require.NoError(t, gs[3].SetState("color", "blue"))
	require.Eventually(t, func() bool {
		for _, g := range gs {
			m, ok := g.Member("node 4")
			if !ok || m.States.Get("color").Value != "blue" {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	for _, g := range gs {
		s := g.Stats()
		assert.Zero(t, s.IdentityRefused, "at %s", g.cfg.ID)
		assert.Zero(t, securityRefusals(s.Transport), "at %s: %v", g.cfg.ID, s.Transport.Refusals())
		assert.Positive(t, s.Transport.ReceivedFrames)
	}
}

// TestMutualTLSRefusesStrangers (issue 12): a node whose certificate comes
// from another CA, and one whose certificate does not name its ID, are
// refused and never appear in any member's list.
func TestMutualTLSRefusesStrangers(t *testing.T) {
	dir := t.TempDir()
	ca, other := securitytest.NewCA(t, dir, "ca"), securitytest.NewCA(t, dir, "other")
	gs := tlsCluster(t, ca, dir, nil, "n1", "n2", "n3")

	// Trusts the cluster's CA, but presents a certificate from another.
	otherCA := ca.Issue(t, dir, "x", "x")
	s := other.Issue(t, dir, "x-other", "x")
	otherCA.Cert, otherCA.Key = s.Cert, s.Key
	x := startTCP(t, secureConfig("x", []string{gs[0].Addr()}, otherCA.Security()))
	// A valid certificate from the cluster's CA, naming someone else.
	y := startTCP(t, secureConfig("y", []string{gs[1].Addr()}, ca.Issue(t, dir, "y", "not-y").Security()))

	require.Eventually(t, func() bool {
		return gs[0].Stats().Transport.RefusedTLS > 0 && y.Stats().Transport.SentFrames > 10
	}, 10*time.Second, 10*time.Millisecond, "the strangers never tried")
	watchFor(t, gs, 40, "a stranger became a member", func(g *Gossiper) error {
		for _, id := range []string{"x", "y"} {
			if _, ok := g.Member(id); ok {
				return fmt.Errorf("%s is listed", id)
			}
		}
		return nil
	})
	assert.Positive(t, gs[1].Stats().IdentityRefused, "y's envelopes were refused for its certificate")
	for _, stranger := range []*Gossiper{x, y} {
		for _, m := range stranger.Members() {
			assert.True(t, m.Self || m.Status != StatusUp, "%s sees %s up", stranger.cfg.ID, m.ID)
		}
	}
}

// TestMutualTLSForgedIdentity (issue 12): the attack of the issue under
// mTLS. A process holding a valid certificate for another name runs a
// gossiper as "n3" at a higher generation at its own address, and sends a
// Shutdown claiming to be n3; another tries the same without a
// certificate. The members keep seeing the real n3, up, at its address
// and generation, for the whole attack.
func TestMutualTLSForgedIdentity(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	// The members must see n3 up for 40 rounds on end.
	gs := tlsCluster(t, ca, dir, patientDetector, "n1", "n2", "n3")
	real, ok := gs[0].Member("n3")
	require.True(t, ok)

	evil := ca.Issue(t, dir, "evil", "evil")
	forged := secureConfig("n3", []string{gs[0].Addr(), gs[1].Addr()}, evil.Security())
	forged.Generation = real.Generation + 1000
	forged.ShadowTimeout = 0
	attacker := startTCP(t, forged)

	pair, err := tls.LoadX509KeyPair(evil.Cert, evil.Key)
	require.NoError(t, err)
	shutdown := &messaging.Shutdown{State: endpointstate.Delta{Endpoint: "n3", Generation: real.Generation, HeartBeat: real.HeartBeat + 1_000_000}}
	for _, target := range []*Gossiper{gs[0], gs[1]} {
		p, err := adversarialtest.Dial(target.Addr(), adversarialtest.Config{ID: "n3", Addr: real.Address,
			TLS: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool(t, ca.File), ServerName: "n1", InsecureSkipVerify: true}})
		require.NoError(t, err, "a member's certificate opens a connection")
		require.NoError(t, p.Send(shutdown))
		t.Cleanup(func() { _ = p.Close() })
		// Without a certificate the TLS handshake itself is refused.
		if nc, err := adversarialtest.Dial(target.Addr(), adversarialtest.Config{ID: "n3",
			TLS: &tls.Config{InsecureSkipVerify: true}}); err == nil {
			_ = nc.Send(shutdown)
			_, err = nc.Receive(2 * time.Second)
			assert.Error(t, err, "a peer without a certificate gets nothing back")
			_ = nc.Close()
		}
	}

	members := gs[:2]
	require.Eventually(t, func() bool { return attacker.Stats().Transport.SentFrames > 10 },
		10*time.Second, 10*time.Millisecond, "the forged n3 never sent")
	watchFor(t, members, 40, "the forged n3 took over", func(g *Gossiper) error {
		m, ok := g.Member("n3")
		switch {
		case !ok:
			return fmt.Errorf("n3 is gone")
		case m.Status != StatusUp:
			return fmt.Errorf("n3 is %s", m.Status)
		case m.Address != real.Address || m.Generation != real.Generation:
			return fmt.Errorf("n3 is at %s, generation %d (the real one: %s, %d)", m.Address, m.Generation, real.Address, real.Generation)
		}
		return nil
	})
	assert.NotEqual(t, real.Address, attacker.Addr())
	for _, g := range members {
		assert.Positive(t, g.Stats().IdentityRefused, "at %s: the forged envelopes were refused", g.cfg.ID)
	}
	for _, g := range gs {
		assert.NoError(t, g.Err(), "at %s", g.cfg.ID)
	}
}

// pool returns a certificate pool of the PEM file at path.
func pool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(b))
	return p
}

// TestKeyringRotationFiveNodes (issue 12): a keyring rotated in three
// steps (add the new key everywhere, make it primary everywhere, remove
// the old one), one node at a time, across five nodes, loses no round:
// every node's heartbeat keeps advancing at every peer, nobody is
// convicted, and no frame fails to decrypt.
func TestKeyringRotationFiveNodes(t *testing.T) {
	dir := t.TempDir()
	old, next := securitytest.NewKey(t), securitytest.NewKey(t)
	const n = 5
	rings := make([]string, n)
	gs := make([]*Gossiper, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("k%d", i)
		rings[i] = filepath.Join(dir, ids[i]+".keyring")
		securitytest.WriteKeyring(t, rings[i], old)
		var seeds []string
		if i > 0 {
			seeds = []string{gs[0].Addr()}
		}
		cfg := secureConfig(ids[i], seeds, messaging.Security{KeyringFile: rings[i]})
		patientDetector(&cfg) // nobody may be convicted during the rotation
		gs[i] = startTCP(t, cfg)
	}
	require.Eventually(t, func() bool { return allUpIDs(gs, ids) }, 20*time.Second, 10*time.Millisecond)

	for step, keys := range [][][]byte{{old, next}, {next, old}, {next}} {
		for i := range n {
			before := heartbeats(gs, ids)
			securitytest.WriteKeyring(t, rings[i], keys...)
			// The reload is checked once a second as the keyring is
			// used; wait for it, then for every heartbeat to move on.
			require.Eventually(t, func() bool { return gs[i].Stats().Transport.CredentialReloads == uint64(step+1) },
				10*time.Second, 10*time.Millisecond, "step %d: %s never reloaded its keyring", step, ids[i])
			require.Eventually(t, func() bool { return advanced(gs, ids, before) }, 10*time.Second, 10*time.Millisecond,
				"step %d at %s: a heartbeat stopped advancing somewhere", step, ids[i])
			require.True(t, allUpIDs(gs, ids), "step %d at %s: a node is not up everywhere", step, ids[i])
		}
	}
	for _, g := range gs {
		s := g.Stats()
		assert.Zero(t, s.Core.Convictions, "at %s", g.cfg.ID)
		assert.Zero(t, s.Transport.DroppedDecrypt, "at %s", g.cfg.ID)
		assert.Zero(t, securityRefusals(s.Transport), "at %s: %v", g.cfg.ID, s.Transport.Refusals())
	}
}

// securityRefusals counts the connections refused for their credentials
// (a simultaneous open may close a connection before its handshake, which
// is counted apart, and is no refusal of a peer).
func securityRefusals(s messaging.Stats) uint64 {
	return s.RefusedSecurityMode + s.RefusedTLS + s.RefusedBadKey + s.RefusedByPeer
}

// heartbeats returns, per observer and endpoint, the heartbeat seen.
func heartbeats(gs []*Gossiper, ids []string) map[[2]string]int64 {
	hb := map[[2]string]int64{}
	for _, g := range gs {
		for _, id := range ids {
			if m, ok := g.Member(id); ok {
				hb[[2]string{g.cfg.ID, id}] = m.HeartBeat
			}
		}
	}
	return hb
}

// advanced reports whether every heartbeat moved past before everywhere.
func advanced(gs []*Gossiper, ids []string, before map[[2]string]int64) bool {
	now := heartbeats(gs, ids)
	for k, v := range before {
		if now[k] <= v {
			return false
		}
	}
	return len(now) == len(before)
}

// TestModeMismatchRefused (issue 12): a plaintext node cannot join a keyed
// cluster, nor a keyed node a plaintext one; neither appears anywhere.
func TestModeMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	keyed := messaging.Security{KeyringFile: ring}
	for _, tc := range []struct {
		name            string
		cluster, joiner messaging.Security
	}{
		{"plaintext joins keyed", keyed, messaging.Security{}},
		{"keyed joins plaintext", messaging.Security{}, keyed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startTCP(t, secureConfig("a", nil, tc.cluster))
			b := startTCP(t, secureConfig("b", []string{a.Addr()}, tc.cluster))
			require.Eventually(t, func() bool { return allUpIDs([]*Gossiper{a, b}, []string{"a", "b"}) }, 10*time.Second, 10*time.Millisecond)
			j := startTCP(t, secureConfig("j", []string{a.Addr()}, tc.joiner))
			require.Eventually(t, func() bool {
				return a.Stats().Transport.RefusedSecurityMode > 0 && j.Stats().Transport.RefusedByPeer > 0
			}, 10*time.Second, 10*time.Millisecond, "refusals: a %v, j %v", a.Stats().Transport.Refusals(), j.Stats().Transport.Refusals())
			watchFor(t, []*Gossiper{a, b}, 20, "the joiner became a member", func(g *Gossiper) error {
				if _, ok := g.Member("j"); ok {
					return fmt.Errorf("j is listed")
				}
				return nil
			})
			_, ok := j.Member("a")
			assert.False(t, ok, "the joiner learned nothing of the cluster")
		})
	}
}

// TestMutualTLSRelayedForgery (issue 12, a limit of mTLS): a member with
// a valid certificate for its own name relays, as itself, a forged state
// of n3 at a higher generation and its own address. Receivers believe the
// relay (any member may relay news of others), so they see that n3 down
// at the forged address; but no node ever sees it up there, since only
// n3's certificate can answer the echo as n3, and the real n3 refutes
// with a higher generation at its own address.
func TestMutualTLSRelayedForgery(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	gs := tlsCluster(t, ca, dir, nil, "n1", "n2", "n3")
	real, _ := gs[0].Member("n3")
	evil := ca.Issue(t, dir, "evil", "evil")
	pair, err := tls.LoadX509KeyPair(evil.Cert, evil.Key)
	require.NoError(t, err)
	p, err := adversarialtest.Dial(gs[0].Addr(), adversarialtest.Config{ID: "evil",
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	forgedGen := real.Generation + 1000
	for i := range 40 {
		d := endpointstate.Delta{Endpoint: "n3", Generation: forgedGen, HeartBeat: int64(10 + i), Reset: true,
			States: []endpointstate.KeyValue{
				{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: p.LocalAddr(), Version: 1}},
				{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusNormal, Version: 2}},
			}}
		require.NoError(t, p.Send(&messaging.Push{Deltas: []endpointstate.Delta{d}}))
		for _, g := range gs {
			m, _ := g.Member("n3")
			require.False(t, m.Status == StatusUp && m.Address != real.Address,
				"at %s: n3 up at the forged address %s", g.cfg.ID, m.Address)
		}
		time.Sleep(secureInterval)
	}
	require.Eventually(t, func() bool {
		for _, g := range gs {
			m, _ := g.Member("n3")
			if m.Status != StatusUp || m.Address != real.Address || m.Generation <= forgedGen {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "the real n3 refuted, at its own address")
}

func TestCheckCertNames(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	assert.NoError(t, checkCertNames(ca.Issue(t, dir, "a", "n1", "n 1").Security(), "n 1"))
	err := checkCertNames(ca.Issue(t, dir, "b", "n2").Security(), "n1")
	assert.ErrorContains(t, err, `names ["n2"], not this node's ID "n1"`)
	assert.NoError(t, checkCertNames(messaging.Security{KeyringFile: "any"}, "n1"), "only TLS has names")
}
