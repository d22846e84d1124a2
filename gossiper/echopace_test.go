package gossiper

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

// TestEchoPacingByPath (issue 10): a Gossiper on the TCP transport whose
// echoes go by datagram (the default, a keyring) paces echoes at the
// datagram pacing; with datagrams off, under mutual TLS, or on another
// transport it keeps the TCP pacing (each echo may be a connection to
// open); a pacing the user set is kept either way.
func TestEchoPacingByPath(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "ring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	ca := securitytest.NewCA(t, dir, "ca")
	tcpRate, tcpBurst := float64(core.DefaultEchoRate), core.DefaultEchoBurst
	dgRate, dgBurst := float64(core.DatagramEchoRate), core.DatagramEchoBurst
	for _, c := range []struct {
		name        string
		configure   func(cfg *Config)
		rate        float64
		burst       int
		byDatagrams bool
	}{
		{"default", func(*Config) {}, dgRate, dgBurst, true},
		{"keyring", func(cfg *Config) {
			cfg.TCP.Datagrams, cfg.TCP.Security = messaging.DatagramsOn, messaging.Security{KeyringFile: ring}
		}, dgRate, dgBurst, true},
		{"off", func(cfg *Config) { cfg.TCP.Datagrams = messaging.DatagramsOff }, tcpRate, tcpBurst, false},
		{"mutual TLS", func(cfg *Config) { cfg.TCP.Security = ca.Issue(t, dir, "n1", "n1").Security() }, tcpRate, tcpBurst, false},
		{"set by the user", func(cfg *Config) { cfg.EchoRate, cfg.EchoBurst = 500, 10 }, 500, 10, true},
		{"memory transport", func(cfg *Config) {
			tr, err := messaging.NewMemNetwork().Listen("mem-1:7000", 64)
			require.NoError(t, err)
			cfg.Transport = tr
		}, tcpRate, tcpBurst, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := secureConfig("n1", nil, messaging.Security{})
			c.configure(&cfg)
			g := startTCP(t, cfg)
			d, ok := g.transport.(messaging.DatagramEchoer)
			assert.Equal(t, c.byDatagrams, ok && d.EchoesByDatagram(), "echoes by datagram")
			rate, burst := g.core.EchoPacing()
			assert.Equal(t, c.rate, rate, "echo rate")
			assert.Equal(t, c.burst, burst, "echo burst")
		})
	}
}
