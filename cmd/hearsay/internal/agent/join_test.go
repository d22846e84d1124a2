package agent

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/gossiper"
)

// TestJoin: POST /v1/join makes an agent started without seeds join
// another over real sockets; bad bodies and dead addresses get clear
// errors and change nothing.
func TestJoin(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	b := startAgent(t, "node-b", nil)
	require.Len(t, b.g.Members(), 1)

	for _, body := range []string{"", "{", `{"addrs": []}`, `{"addrs": "x"}`, `{"addrs": ["no-port"]}`, `{"addrs": ["[::1", "x:y:z"]}`} {
		code, msg := b.call(t, "POST", api.PathJoin, body)
		assert.Equal(t, http.StatusBadRequest, code, "body %q: %s", body, msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	code, msg := b.call(t, "POST", api.PathJoin, `{"addrs": ["`+dead+`"]}`)
	assert.Equal(t, http.StatusBadGateway, code, msg)
	assert.Contains(t, msg, "no address answered")
	assert.Len(t, b.g.Members(), 1)

	code, msg = b.call(t, "POST", api.PathJoin, `{"addrs": ["`+a.g.Addr()+`"]}`)
	require.Equal(t, http.StatusOK, code, msg)
	assert.Equal(t, api.Joined{Answered: 1}, decode[api.Joined](t, msg))
	ok := false
	for range 250 {
		if m, found := a.g.Member("node-b"); found && m.Status == gossiper.StatusUp {
			ok = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	assert.True(t, ok, "node-a sees node-b up")
}
