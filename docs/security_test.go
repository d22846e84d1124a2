package docs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
)

// TestSecurityListsPush: security.md's threat model covers the Push
// message, and its table of limits has a row for each push and
// subscription setting, with the default the code has.
func TestSecurityListsPush(t *testing.T) {
	b, err := os.ReadFile("security.md")
	require.NoError(t, err)
	doc := string(b)
	_, limits, ok := strings.Cut(doc, "## Every limit and its default")
	require.True(t, ok, "security.md has a table of limits")
	limits, _, _ = strings.Cut(limits, "\n## ")
	threats, _, _ := strings.Cut(doc, "## What it cannot do")
	assert.Contains(t, threats, "Push (message type 9", "the threat model covers Push")

	cfg := gossiper.DefaultConfig()
	for setting, def := range map[string]string{
		"`gossiper.Config.PushRate`":    fmt.Sprintf("%d a second", gossiper.DefaultPushRate),
		"`gossiper.Config.PushFanout`":  "automatic",
		"`gossiper.Config.EventBuffer`": thousands(cfg.EventBuffer),
	} {
		row := rowWith(limits, setting)
		if assert.NotEmpty(t, row, "a row for %s", setting) {
			assert.Contains(t, row, def, "the default of %s", setting)
		}
	}
	assert.Contains(t, rowWith(limits, "`PushBurst`"), fmt.Sprintf("%d at once", gossiper.DefaultPushBurst))
	assert.Equal(t, gossiper.PushFanoutAuto, cfg.PushFanout)
}

// rowWith returns the line of the Markdown table that contains s.
func rowWith(table, s string) string {
	for line := range strings.Lines(table) {
		if strings.HasPrefix(line, "|") && strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// thousands formats n with commas, as the docs write numbers.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
