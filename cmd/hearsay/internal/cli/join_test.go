package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
)

// TestJoinCommand: hearsay join sends every address to POST /v1/join and
// prints how many answered; it needs at least one address, and shows the
// agent's error.
func TestJoinCommand(t *testing.T) {
	var got []api.JoinRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != api.PathJoin {
			http.NotFound(w, r)
			return
		}
		var req api.JoinRequest
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		got = append(got, req)
		w.Header().Set("Content-Type", "application/json")
		if req.Addrs[0] == "dead:1" {
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(api.Error{Error: "no address answered"})
			return
		}
		_ = json.NewEncoder(w).Encode(api.Joined{Answered: len(req.Addrs)})
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	code, stdout, stderr := runCLI(t, "join", "--http", addr, "10.0.0.1:7000", "seeds.example:7000")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "joined: 2 of the contacted addresses answered\n", stdout)
	require.Len(t, got, 1)
	assert.Equal(t, []string{"10.0.0.1:7000", "seeds.example:7000"}, got[0].Addrs)

	code, _, stderr = runCLI(t, "join", "--http", addr, "dead:1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no address answered")

	code, _, stderr = runCLI(t, "join", "--http", addr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "want 1 argument(s) ADDR..., got 0")
	assert.Len(t, got, 2, "no request without an address")
}
