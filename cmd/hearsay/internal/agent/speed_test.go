package agent

import (
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
)

// TestSpeedOptions: --fanout, --push-fanout and --push-rate (and their
// configuration file keys) reach the gossiper's Config, which validates;
// bad values are usage errors naming the flag.
func TestSpeedOptions(t *testing.T) {
	o, err := ParseOptions([]string{"--id", "n1", "--data-dir", "/d"}, testEnv(), nil)
	require.NoError(t, err)
	cfg, _, err := o.gossiperConfig(zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, gossiper.DefaultFanout, cfg.Fanout)
	assert.Equal(t, gossiper.PushFanoutAuto, cfg.PushFanout)
	assert.InDelta(t, gossiper.DefaultPushRate, cfg.PushRate, 0)
	assert.Equal(t, gossiper.DefaultPushBurst, cfg.PushBurst)

	path := writeFile(t, "speed.json", `{"fanout": 3, "push-fanout": "0", "push-rate": 1000}`)
	o, err = ParseOptions([]string{"--id", "n1", "--data-dir", "/d", "--config", path, "--push-fanout", "12"}, testEnv(), nil)
	require.NoError(t, err)
	cfg, _, err = o.gossiperConfig(zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Fanout)
	assert.Equal(t, 12, cfg.PushFanout, "the flag wins over the file")
	assert.InDelta(t, 1000, cfg.PushRate, 0)
	assert.Equal(t, 500, cfg.PushBurst, "half a second's worth")
	cfg.ID = "n1"
	assert.NoError(t, cfg.Validate())

	for _, tc := range []struct{ args []string }{
		{[]string{"--fanout", "0"}}, {[]string{"--fanout", "65"}}, {[]string{"--push-fanout", "-1"}},
		{[]string{"--push-fanout", "many"}}, {[]string{"--push-rate", "0"}}, {[]string{"--push-rate", "NaN"}},
	} {
		_, err := ParseOptions(append([]string{"--id", "n1"}, tc.args...), testEnv(), nil)
		var ue *UsageError
		require.ErrorAs(t, err, &ue, "%v", tc.args)
		assert.Contains(t, err.Error(), "invalid value \""+tc.args[1]+"\" for "+tc.args[0])
	}
	o, err = ParseOptions([]string{"--id", "n1", "--push-fanout", "auto"}, testEnv(), nil)
	require.NoError(t, err)
	assert.Equal(t, gossiper.PushFanoutAuto, o.PushFanout)
}
