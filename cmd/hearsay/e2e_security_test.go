package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/agenttest"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

// metric returns the value of one sample of an agent's /metrics, 0 if
// absent.
func metric(t *testing.T, httpAddr, sample string) string {
	t.Helper()
	_, body := request(t, "GET", "http://"+httpAddr+"/metrics", "")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "0"
}

// TestSecureAgentProcesses (issue 12): agent processes under mutual TLS
// form a cluster; an agent given a certificate that does not name its ID
// does not start, and says why; a plaintext agent is refused, never
// listed, and both ends say why. Then the same with a keyring, and an agent with
// another keyring.
func TestSecureAgentProcesses(t *testing.T) {
	dir := t.TempDir()
	t.Run("mutual TLS", func(t *testing.T) {
		ca := securitytest.NewCA(t, dir, "ca")
		addrs := agenttest.FreeAddrs(t, 10)
		var ps []*proc
		for i := range 3 {
			id := fmt.Sprintf("n%d", i+1)
			f := ca.Issue(t, dir, id, id)
			ps = append(ps, startProc(t, t, id, addrs[2*i], addrs[2*i+1], t.TempDir(),
				"--seeds", addrs[0], "--tls-ca", f.CA, "--tls-cert", f.Cert, "--tls-key", f.Key))
		}
		eventually(t, ps, 30*time.Second, "all 3 up everywhere", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Len(c, v, 3, self.id)
			for _, p := range ps {
				assert.Equal(c, gossiper.StatusUp, v[p.id].Status, "%s sees %s", self.id, p.id)
			}
		})
		// The agent will not start as n4 with a certificate naming n2
		// (the gossiper tests run such an impostor, and see it refused).
		n2 := ca.Issue(t, dir, "n2-copy", "n2")
		code, out := runCLI(t, "agent", "--id", "n4", "--bind", addrs[6], "--http", addrs[7], "--data-dir", t.TempDir(),
			"--tls-ca", n2.CA, "--tls-cert", n2.Cert, "--tls-key", n2.Key)
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, `it names ["n2"], not --id "n4"`)
		plain := startProc(t, t, "n5", addrs[8], addrs[9], t.TempDir(), "--seeds", addrs[0])
		require.Eventually(t, func() bool {
			return metric(t, ps[0].http, `hearsay_transport_refused_connections_total{reason="security_mode"}`) != "0"
		}, 20*time.Second, 50*time.Millisecond)
		for range 20 { // two seconds of rounds: neither ever listed
			for _, p := range ps {
				v, err := view(p.http)
				require.NoError(t, err)
				assert.NotContains(t, v, "n4", p.id)
				assert.NotContains(t, v, "n5", p.id)
			}
			time.Sleep(100 * time.Millisecond)
		}
		assert.Contains(t, plain.stderr.String(), "this node uses mutual TLS (--tls-ca, --tls-cert, --tls-key), the peer no encryption")
		v, err := view(plain.http)
		require.NoError(t, err)
		assert.Len(t, v, 1, "the plaintext node learned nothing")
	})
	t.Run("keyring", func(t *testing.T) {
		ring, other := filepath.Join(dir, "ring"), filepath.Join(dir, "other")
		securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
		securitytest.WriteKeyring(t, other, securitytest.NewKey(t))
		addrs := agenttest.FreeAddrs(t, 6)
		a := startProc(t, t, "k1", addrs[0], addrs[1], t.TempDir(), "--keyring", ring)
		b := startProc(t, t, "k2", addrs[2], addrs[3], t.TempDir(), "--keyring", ring, "--seeds", addrs[0])
		eventually(t, []*proc{a, b}, 30*time.Second, "both up", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusUp, v["k1"].Status, self.id)
			assert.Equal(c, gossiper.StatusUp, v["k2"].Status, self.id)
		})
		x := startProc(t, t, "k3", addrs[4], addrs[5], t.TempDir(), "--keyring", other, "--seeds", addrs[0])
		require.Eventually(t, func() bool {
			return metric(t, a.http, `hearsay_transport_refused_connections_total{reason="bad_key"}`) != "0"
		}, 20*time.Second, 50*time.Millisecond)
		require.Eventually(t, func() bool {
			return strings.Contains(x.stderr.String(), "no key of this node's keyring opens your frames")
		}, 20*time.Second, 50*time.Millisecond, "the node with another keyring is told why")
		v, err := view(a.http)
		require.NoError(t, err)
		assert.NotContains(t, v, "k3")
		assert.Equal(t, "0", metric(t, a.http, `hearsay_frames_dropped_total{reason="decrypt"}`))
	})
}
