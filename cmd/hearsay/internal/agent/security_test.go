package agent

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

func TestParseOptionsSecurity(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	ca := securitytest.NewCA(t, dir, "ca")
	files := ca.Issue(t, dir, "n1", "n1")
	now := time.Now()
	expired := ca.IssueValid(t, dir, "expired", now.Add(-48*time.Hour), now.Add(-time.Hour), "n1")
	early := ca.IssueValid(t, dir, "early", now.Add(time.Hour), now.Add(48*time.Hour), "n1")

	o, err := ParseOptions([]string{"--id", "n1", "--keyring", ring, "--cluster", "prod"}, testEnv(), nil)
	require.NoError(t, err)
	cfg, _, err := o.gossiperConfig(zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, ring, cfg.TCP.Security.KeyringFile)
	assert.Equal(t, "prod", cfg.TCP.Security.Cluster)
	assert.Empty(t, cfg.TCP.Datagrams, "datagrams at their default: on")

	o, err = ParseOptions([]string{"--id", "n1", "--datagrams", "off"}, testEnv(), nil)
	require.NoError(t, err)
	cfg, _, err = o.gossiperConfig(zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, "off", cfg.TCP.Datagrams)

	conf := writeFile(t, "hearsay.json", `{"id": "n1", "tls-ca": "`+files.CA+`", "tls-cert": "`+files.Cert+`", "tls-key": "`+files.Key+`"}`)
	o, err = ParseOptions([]string{"--config", conf}, testEnv(), nil)
	require.NoError(t, err, "the configuration file takes the same keys")
	cfg, _, err = o.gossiperConfig(zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, files.Security().CAFile, cfg.TCP.Security.CAFile)
	assert.Equal(t, files.Key, cfg.TCP.Security.KeyFile)

	bad := writeFile(t, "bad-keyring", "# a comment\nnot-base64!\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--keyring", filepath.Join(dir, "missing")}, "invalid --keyring: messaging: TCPConfig.Security.KeyringFile = \"" + filepath.Join(dir, "missing") + "\": cannot read the file"},
		{[]string{"--keyring", bad}, "invalid --keyring: messaging: keyring " + bad + ": bad keyring: line 2: not standard base64"},
		{[]string{"--tls-ca", files.CA, "--tls-cert", files.Cert}, "--tls-key is required"},
		{[]string{"--tls-ca", files.CA, "--tls-cert", files.Cert, "--tls-key", files.Key, "--keyring", ring}, "--keyring and --tls-* exclude each other"},
		{[]string{"--tls-ca", files.CA, "--tls-cert", files.Cert, "--tls-key", files.Key, "--datagrams", "on"}, "--datagrams on and --tls-* exclude each other"},
		{[]string{"--datagrams", "yes"}, `want on or off, not "yes"`},
		{[]string{"--tls-ca", files.Key, "--tls-cert", files.Cert, "--tls-key", files.Key}, "invalid --tls-ca, --tls-cert, --tls-key: messaging: TLS CA " + files.Key + ": no PEM certificate"},
		{[]string{"--id", "n2", "--tls-ca", files.CA, "--tls-cert", files.Cert, "--tls-key", files.Key}, `it names ["n1"], not --id "n2"`},
		// Review of issue 12: a certificate out of its validity period
		// would be refused by every peer.
		{[]string{"--tls-ca", files.CA, "--tls-cert", expired.Cert, "--tls-key", expired.Key}, "invalid --tls-cert " + expired.Cert + ": not valid now"},
		{[]string{"--tls-ca", files.CA, "--tls-cert", early.Cert, "--tls-key", early.Key}, "invalid --tls-cert " + early.Cert + ": not valid now"},
	} {
		_, err := ParseOptions(append([]string{"--id", "n1"}, tc.args...), testEnv(), nil)
		var ue *UsageError
		require.ErrorAs(t, err, &ue, "%v", tc.args)
		assert.ErrorContains(t, err, tc.want)
	}
}

// TestSecureAgents: agents with the same keyring form a cluster; one with
// another keyring is refused, never listed, and the refusals are in
// /metrics by reason.
func TestSecureAgents(t *testing.T) {
	dir := t.TempDir()
	ring, other := filepath.Join(dir, "ring"), filepath.Join(dir, "other")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	securitytest.WriteKeyring(t, other, securitytest.NewKey(t))
	a := startAgent(t, "node-a", func(o *Options) { o.Keyring = ring })
	b := startAgent(t, "node-b", func(o *Options) { o.Keyring = ring; o.Seeds = []string{a.g.Addr()} })
	require.Eventually(t, func() bool {
		m, _ := b.g.Member("node-a")
		return m.Status == gossiper.StatusUp
	}, 10*time.Second, 10*time.Millisecond)
	c := startAgent(t, "node-c", func(o *Options) { o.Keyring = other; o.Seeds = []string{a.g.Addr()} })
	require.Eventually(t, func() bool { return a.g.Stats().Transport.RefusedBadKey > 0 }, 10*time.Second, 10*time.Millisecond)
	_, listed := a.g.Member("node-c")
	assert.False(t, listed)
	_, listed = c.g.Member("node-a")
	assert.False(t, listed)

	code, body := a.call(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	reasons := map[string]float64{}
	for _, m := range families["hearsay_transport_refused_connections_total"].GetMetric() {
		reasons[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	assert.GreaterOrEqual(t, reasons["bad_key"], 1.0)
	drops := map[string]float64{}
	for _, m := range families["hearsay_frames_dropped_total"].GetMetric() {
		drops[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	assert.Contains(t, drops, "decrypt")
	assert.Contains(t, drops, "identity")
}
