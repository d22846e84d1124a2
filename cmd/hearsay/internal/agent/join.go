package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/gossiper"
)

// maxJoinBody bounds the body of POST /v1/join.
const maxJoinBody = 64 << 10

// join contacts the addresses of the request body at once (see
// gossiper.Gossiper.Join): 200 with how many answered, 400 for a bad
// body or when no address parses or resolves, 502 when none answered.
func (a *Agent) join(w http.ResponseWriter, r *http.Request) {
	if !a.running.Load() {
		writeError(w, http.StatusServiceUnavailable, "the agent is not running")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJoinBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "join: reading the body: %v", err)
		return
	}
	var req api.JoinRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, `join: want {"addrs": ["host:port", ...]}: %v`, err)
		return
	}
	if len(req.Addrs) == 0 || len(req.Addrs) > api.MaxJoinAddrs {
		writeError(w, http.StatusBadRequest, "join: %d addresses: want 1 to %d", len(req.Addrs), api.MaxJoinAddrs)
		return
	}
	n, err := a.g.Join(r.Context(), req.Addrs...)
	switch {
	case errors.Is(err, gossiper.ErrBadAddress):
		writeError(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, gossiper.ErrJoinFailed):
		writeError(w, http.StatusBadGateway, "%v", err)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "%v", err)
	default:
		writeJSON(w, http.StatusOK, api.Joined{Answered: n})
	}
}
