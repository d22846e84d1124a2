package agent

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
)

// TestTransportMetrics: refused connections are exported by reason, with
// the open connections and the answer budget's refusals.
func TestTransportMetrics(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	b := startAgent(t, "node-b", func(o *Options) { o.Seeds = []string{a.g.Addr()} })
	require.Eventually(t, func() bool {
		m, _ := b.g.Member("node-a")
		return m.Status == gossiper.StatusUp
	}, 10*time.Second, 10*time.Millisecond)
	bad, err := net.Dial("tcp", b.g.Addr())
	require.NoError(t, err)
	_, err = bad.Write([]byte{0, 0, 0, 1, 0}) // a first frame that is no handshake
	require.NoError(t, err)
	defer bad.Close()
	require.Eventually(t, func() bool { return b.g.Stats().Transport.RefusedHandshake == 1 }, 10*time.Second, 10*time.Millisecond)
	// A node of protocol version 1: its handshake names version 1.
	old, err := net.Dial("tcp", b.g.Addr())
	require.NoError(t, err)
	defer old.Close()
	hs := append([]byte("HSAY\x01"), old.LocalAddr().String()...)
	_, err = old.Write(append([]byte{0, 0, 0, byte(len(hs))}, hs...))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.g.Stats().Transport.RefusedVersion == 1 }, 10*time.Second, 10*time.Millisecond)

	code, body := b.call(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	for _, name := range []string{"hearsay_transport_refused_connections_total", "hearsay_transport_connections",
		"hearsay_transport_connections_total", "hearsay_replies_limited_total"} {
		assert.Contains(t, families, name)
	}
	reasons := map[string]float64{}
	for _, m := range families["hearsay_transport_refused_connections_total"].GetMetric() {
		reasons[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	assert.InDelta(t, 1, reasons["bad_handshake"], 0)
	assert.InDelta(t, 1, reasons["version"], 0, "an older peer is refused and counted")
	assert.Len(t, reasons, 10, "every reason exported")
	assert.GreaterOrEqual(t, families["hearsay_transport_connections"].GetMetric()[0].GetGauge().GetValue(), 1.0)
}
