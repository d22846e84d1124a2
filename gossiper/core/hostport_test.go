package core

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCheckHostPortMatchesNet checks that the core's address check
// accepts and refuses what net.SplitHostPort does, with the same text.
func TestCheckHostPortMatchesNet(t *testing.T) {
	for _, s := range []string{
		"", ":", "a", "a:1", "10.0.0.1:7000", ":7000", "a:", "a:b:c", "::1",
		"[::1]:7000", "[::1]", "[::1]x", "[::1]:a:b", "[::1]:7000:", "[::1:7000",
		"a[b:1", "a]b:1", "[a]b]:1", "[a[b]:1", "[]:1", "host.example:65535",
	} {
		_, _, want := net.SplitHostPort(s)
		got := checkHostPort(s)
		if want == nil {
			assert.NoError(t, got, "%q", s)
		} else if assert.Error(t, got, "%q", s) {
			assert.Equal(t, want.Error(), got.Error(), "%q", s)
		}
	}
}
