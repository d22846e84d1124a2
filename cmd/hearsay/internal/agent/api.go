package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper"
)

// Handler returns the admin API (docs/http-api.md), behind the bearer
// token check when --http-token is set. It is valid after Start.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathMembers, a.listMembers)
	mux.HandleFunc("GET "+api.PathMembers+"/{id...}", a.getMember)
	mux.HandleFunc("PUT "+api.PathState+"{key...}", a.putState)
	mux.HandleFunc("DELETE "+api.PathState+"{key...}", a.deleteState)
	mux.HandleFunc("GET "+api.PathEvents, a.streamEvents)
	mux.HandleFunc("GET "+api.PathFailureDetector, a.failureDetector)
	mux.HandleFunc("GET "+api.PathFailureDetector+"/{id...}", a.detectorWindow)
	mux.HandleFunc("POST "+api.PathLeave, a.leave)
	mux.HandleFunc("POST "+api.PathJoin, a.join)
	mux.HandleFunc("POST "+api.PathMembers+"/{id}/"+api.ActionRemove, a.removeMember)
	mux.HandleFunc("POST "+api.PathMembers+"/{id}/"+api.ActionAssassinate, a.removeMember)
	mux.Handle("GET "+api.PathMetrics, promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+api.PathHealth, a.health)
	h := authenticate(a.opts.HTTPToken, a.whileRunning(mux))
	h = withDashboard(h) // the page asks for the token itself (dashboard.go)
	if a.opts.HTTPToken == "" && !a.opts.HTTPAllowRemote {
		h = loopbackHostOnly(h)
	}
	// Browsers must not be able to drive the API from another site (a
	// form POST to /v1/leave, say): cross-origin unsafe requests are
	// refused.
	return http.NewCrossOriginProtection().Handler(h)
}

// whileRunning answers 503 on the /v1/ paths while the gossiper is not
// running: during its shadow round the node does not know the cluster yet
// and must not take writes, and once it stops or leaves nothing it would
// say is current.
func (a *Agent) whileRunning(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && !a.running.Load() {
			select {
			case <-a.stopping:
				writeError(w, http.StatusServiceUnavailable, "the agent is not running (stopping, stopped or left)")
			default:
				writeError(w, http.StatusServiceUnavailable, "the agent is starting (reading the cluster's state from its seeds); try again shortly")
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHostOnly refuses requests whose Host header is not a loopback
// address or "localhost": without a token, a loopback-only API must not be
// reachable through DNS rebinding (a foreign name resolving to 127.0.0.1).
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			writeError(w, http.StatusForbidden, "host %q: this API answers only to loopback addresses (set --http-token to serve other names)", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate requires "Authorization: Bearer <token>" on every path but
// /healthz, when token is set. The comparison is constant-time over
// SHA-256 digests, so neither the token nor its length leaks.
func authenticate(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathHealth {
			next.ServeHTTP(w, r)
			return
		}
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(got))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hearsay"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <token>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, api.Error{Error: fmt.Sprintf(format, args...)})
}

func (a *Agent) listMembers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.g.Members())
}

func (a *Agent) getMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, ok := a.g.Member(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown member %q", id)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// bodyTimeout bounds the reading of a request body.
const bodyTimeout = 10 * time.Second

// putState sets a local application state to the request body. The body is
// read through a MaxBytesReader one byte past the value limit, so an
// oversize value is refused without reading it all.
func (a *Agent) putState(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := a.cfg.Limits.CheckUserKey(key); err != nil {
		a.stateError(w, key, err)
		return
	}
	limit := a.cfg.Limits.MaxValueSize
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)+1))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "key %q: value too large: more than %d bytes", key, limit)
			return
		}
		writeError(w, http.StatusBadRequest, "set %q: reading the value: %v", key, err)
		return
	}
	if err := a.g.SetState(key, string(body)); err != nil {
		a.stateError(w, key, err)
		return
	}
	if err := a.persistStates(); err != nil {
		a.log.Error().Err(err).Str("key", key).Msg("state set but not saved in the data directory")
		writeError(w, http.StatusInternalServerError, "key %q: set, but not saved for the next start: %v", key, err)
		return
	}
	m, _ := a.g.Member(a.g.LocalID())
	v := m.States.Get(key)
	writeJSON(w, http.StatusOK, api.State{Key: key, Value: v.Value, Version: v.Version})
}

func (a *Agent) deleteState(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := a.cfg.Limits.CheckUserKey(key); err != nil {
		a.stateError(w, key, err)
		return
	}
	if err := a.g.DeleteState(key); err != nil {
		a.stateError(w, key, err)
		return
	}
	if err := a.persistStates(); err != nil {
		a.log.Error().Err(err).Str("key", key).Msg("state deleted but not saved in the data directory")
		writeError(w, http.StatusInternalServerError, "key %q: deleted, but not saved for the next start: %v", key, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stateError answers a failed state change with the status its cause
// calls for.
func (a *Agent) stateError(w http.ResponseWriter, key string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, endpointstate.ErrInvalidKey), errors.Is(err, endpointstate.ErrKeyTooLong):
		code = http.StatusBadRequest
	case errors.Is(err, endpointstate.ErrValueTooLarge), errors.Is(err, endpointstate.ErrTooManyKeys),
		errors.Is(err, endpointstate.ErrStateTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, gossiper.ErrStopped), errors.Is(err, gossiper.ErrNotStarted):
		code = http.StatusServiceUnavailable
	}
	writeError(w, code, "key %q: %v", key, err)
}

func (a *Agent) failureDetector(w http.ResponseWriter, _ *http.Request) {
	stats := a.g.FailureDetector()
	out := make([]api.Detector, len(stats))
	for i, s := range stats {
		out[i] = api.NewDetector(s)
	}
	writeJSON(w, http.StatusOK, out)
}

// leave announces that the node leaves the cluster, answers, and makes
// Run return so that the agent exits 0.
func (a *Agent) leave(w http.ResponseWriter, r *http.Request) {
	if !a.running.Load() {
		writeError(w, http.StatusServiceUnavailable, "the agent is not running")
		return
	}
	if err := a.leaveCluster(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "leave: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, api.Left{ID: a.g.LocalID(), Status: string(gossiper.StatusLeft)})
}

// removeMember serves POST /v1/members/{id}/remove (a down member is
// announced as left; Cassandra's removenode) and .../assassinate (forced
// out, alive or not, known or not).
func (a *Agent) removeMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	action, do := api.ActionRemove, a.g.Remove
	if strings.HasSuffix(r.URL.Path, "/"+api.ActionAssassinate) {
		action, do = api.ActionAssassinate, a.g.Assassinate
	}
	err := do(id)
	if err == nil {
		a.log.Warn().Str("endpoint", id).Str("action", action).Msg("member announced as left by an operator")
		writeJSON(w, http.StatusOK, api.Left{ID: id, Status: string(gossiper.StatusLeft)})
		return
	}
	code, hint := http.StatusInternalServerError, ""
	switch {
	case errors.Is(err, gossiper.ErrMemberAlive):
		code, hint = http.StatusConflict, " (only a down member can be removed; assassinate forces a live one out)"
	case errors.Is(err, gossiper.ErrUnknownMember):
		code = http.StatusNotFound
	case errors.Is(err, gossiper.ErrSelf):
		code, hint = http.StatusBadRequest, " (to take this node out, use POST /v1/leave)"
	case errors.Is(err, endpointstate.ErrInvalidEndpoint):
		code = http.StatusBadRequest
	case errors.Is(err, endpointstate.ErrTooManyEndpoints):
		code, hint = http.StatusConflict, " (this node already knows MaxEndpoints members)"
	case errors.Is(err, endpointstate.ErrGenerationTooFar):
		code, hint = http.StatusConflict, " (the member's generation is at the edge of the acceptance window)"
	case errors.Is(err, gossiper.ErrStopped), errors.Is(err, gossiper.ErrNotStarted):
		code = http.StatusServiceUnavailable
	}
	writeError(w, code, "%s %q: %v%s", action, id, err, hint)
}

func (a *Agent) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !a.running.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not running")
		return
	}
	fmt.Fprintln(w, "ok")
}
