package gossiper

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

// TestDatagramClusterJoins (issue 10): a three-node cluster on real TCP
// forms with echoes over datagrams (the default, plaintext and keyring)
// and with datagrams off; with them on, the echoes that mark peers up go
// by datagram and none is dropped, with them off none goes by datagram.
func TestDatagramClusterJoins(t *testing.T) {
	ring := filepath.Join(t.TempDir(), "ring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	for _, c := range []struct {
		name      string
		datagrams string
		sec       messaging.Security
	}{
		{"default", messaging.DatagramsDefault, messaging.Security{}},
		{"keyring", messaging.DatagramsOn, messaging.Security{KeyringFile: ring}},
		{"off", messaging.DatagramsOff, messaging.Security{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var gs []*Gossiper
			for i, id := range []string{"n1", "n2", "n3"} {
				var seeds []string
				if i > 0 {
					seeds = []string{gs[0].Addr()}
				}
				cfg := secureConfig(id, seeds, c.sec)
				cfg.TCP.Datagrams = c.datagrams
				gs = append(gs, startTCP(t, cfg))
			}
			require.Eventually(t, func() bool { return allUp(gs) }, 20*time.Second, 10*time.Millisecond,
				"the cluster never converged")
			var sent, received, echoes uint64
			for _, g := range gs {
				s := g.Stats()
				sent += s.Transport.DatagramsSent
				received += s.Transport.DatagramsReceived
				echoes += s.Messages["echo"].Sent
				assert.Zero(t, s.Transport.DatagramDrops.Total(), "at %s: %v", g.cfg.ID, s.Transport.DatagramDrops.ByReason())
			}
			require.Positive(t, echoes, "peers are marked up by echoes")
			if c.datagrams == messaging.DatagramsOff {
				assert.Zero(t, sent+received)
				return
			}
			assert.GreaterOrEqual(t, sent, echoes, "every echo and its reply went by datagram")
			assert.Positive(t, received)
		})
	}
}
