package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper"
)

// testAgent is an in-process agent on 127.0.0.1 with its API on an
// httptest server.
type testAgent struct {
	*Agent
	srv *httptest.Server
}

func startAgent(t *testing.T, id string, mutate func(*Options)) *testAgent {
	t.Helper()
	o := DefaultOptions()
	o.ID, o.Bind, o.HTTP, o.DataDir = id, "127.0.0.1:0", "", t.TempDir()
	o.Interval = 20 * time.Millisecond
	o.States = map[string]string{"role": "test"}
	if mutate != nil {
		mutate(&o)
	}
	a, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.Start(ctx))
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		require.NoError(t, a.Stop(context.Background()))
		srv.Close()
	})
	return &testAgent{Agent: a, srv: srv}
}

// patientDetector makes an agent convict a peer only after a silence of
// seconds instead of about half a second: for the tests that read a
// peer's status once and need it up, and wait for no conviction. At 20 ms
// rounds a loaded machine can starve a node's loop long enough for phi 8
// (cmd/hearsay/internal/demo moved to 40 ms rounds for the same reason).
func patientDetector(o *Options) { o.Phi = 64 }

// call sends a request and returns the status and the body.
func (ta *testAgent) call(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ta.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ta.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

func TestMembers(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	code, body := a.call(t, "GET", "/v1/members", "")
	require.Equal(t, http.StatusOK, code)
	ms := decode[[]gossiper.Member](t, body)
	require.Len(t, ms, 1)
	assert.Equal(t, "node-a", ms[0].ID)
	assert.Equal(t, gossiper.StatusUp, ms[0].Status)
	assert.True(t, ms[0].Self)
	assert.Equal(t, a.g.Addr(), ms[0].Address)
	assert.Positive(t, ms[0].Generation)
	assert.Equal(t, "test", ms[0].States.Get("role").Value)
	for _, field := range []string{`"id"`, `"address"`, `"status"`, `"generation"`, `"heartbeat"`, `"phi"`, `"self"`, `"states"`, `"value"`, `"version"`} {
		assert.Contains(t, body, field)
	}

	code, body = a.call(t, "GET", "/v1/members/node-a", "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "node-a", decode[gossiper.Member](t, body).ID)

	code, body = a.call(t, "GET", "/v1/members/nobody", "")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, `unknown member "nobody"`, decode[api.Error](t, body).Error)
}

func TestState(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	state := func(key string) (gossiper.Value, bool) {
		m, _ := a.g.Member("node-a")
		v, ok := m.States.Lookup(key)
		return v, ok
	}

	code, body := a.call(t, "PUT", "/v1/state/zone", "eu-west")
	require.Equal(t, http.StatusOK, code, body)
	s := decode[api.State](t, body)
	assert.Equal(t, "zone", s.Key)
	assert.Equal(t, "eu-west", s.Value)
	v, ok := state("zone")
	require.True(t, ok)
	assert.Equal(t, gossiper.Value{Value: "eu-west", Version: s.Version}, v)

	code, _ = a.call(t, "PUT", "/v1/state/a%2Fb", "slash")
	require.Equal(t, http.StatusOK, code)
	v, _ = state("a/b")
	assert.Equal(t, "slash", v.Value, "an escaped slash is part of the key")

	limit := endpointstate.DefaultLimits()
	tests := []struct {
		name, method, path, body string
		code                     int
		err                      string
	}{
		{"reserved key", "PUT", "/v1/state/hearsay.status", "x", http.StatusBadRequest, "reserved"},
		{"empty key", "PUT", "/v1/state/", "x", http.StatusBadRequest, "invalid key"},
		{"long key", "PUT", "/v1/state/" + strings.Repeat("k", limit.MaxKeyLength+1), "x", http.StatusBadRequest, "too long"},
		{"value one byte too large", "PUT", "/v1/state/zone", strings.Repeat("v", limit.MaxValueSize+1), http.StatusRequestEntityTooLarge, "too large"},
		{"value far too large", "PUT", "/v1/state/zone", strings.Repeat("v", 4*limit.MaxValueSize), http.StatusRequestEntityTooLarge, "too large"},
		{"delete reserved", "DELETE", "/v1/state/hearsay.addr", "", http.StatusBadRequest, "reserved"},
		{"wrong method", "POST", "/v1/state/zone", "x", http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.call(t, tt.method, tt.path, tt.body)
			assert.Equal(t, tt.code, code, body)
			if tt.err != "" {
				assert.Contains(t, decode[api.Error](t, body).Error, tt.err)
			}
			v, _ := state("zone")
			assert.Equal(t, gossiper.Value{Value: "eu-west", Version: s.Version}, v, "nothing changed")
		})
	}

	t.Run("state too large", func(t *testing.T) {
		big := strings.Repeat("b", limit.MaxValueSize)
		var last int
		for i := range limit.MaxBytes/limit.MaxValueSize + 1 {
			if last, _ = a.call(t, "PUT", fmt.Sprintf("/v1/state/big%d", i), big); last != http.StatusOK {
				_, ok := state(fmt.Sprintf("big%d", i))
				assert.False(t, ok, "the refused key was not set")
				break
			}
		}
		assert.Equal(t, http.StatusRequestEntityTooLarge, last)
	})

	code, _ = a.call(t, "DELETE", "/v1/state/zone", "")
	assert.Equal(t, http.StatusNoContent, code)
	_, ok = state("zone")
	assert.False(t, ok)
	code, _ = a.call(t, "DELETE", "/v1/state/never-set", "")
	assert.Equal(t, http.StatusNoContent, code, "deleting an absent key is a no-op")
}

func TestAuth(t *testing.T) {
	a := startAgent(t, "node-a", func(o *Options) { o.HTTPToken = "s3cret"; patientDetector(o) })
	tests := []struct {
		name, path, auth string
		code             int
	}{
		{"no header", "/v1/members", "", http.StatusUnauthorized},
		{"wrong token", "/v1/members", "Bearer nope", http.StatusUnauthorized},
		{"prefix of the token", "/v1/members", "Bearer s3cre", http.StatusUnauthorized},
		{"wrong scheme", "/v1/members", "Basic s3cret", http.StatusUnauthorized},
		{"right token", "/v1/members", "Bearer s3cret", http.StatusOK},
		{"scheme is case-insensitive", "/v1/members", "bearer s3cret", http.StatusOK},
		{"metrics need it", "/metrics", "", http.StatusUnauthorized},
		{"events need it", "/v1/events", "", http.StatusUnauthorized},
		{"healthz does not", "/healthz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.call(t, "GET", tt.path, "", "Authorization", tt.auth)
			assert.Equal(t, tt.code, code)
			if code == http.StatusUnauthorized {
				assert.Contains(t, decode[api.Error](t, body).Error, "bearer token")
			}
		})
	}
	code, _ := a.call(t, "PUT", "/v1/state/k", "v")
	assert.Equal(t, http.StatusUnauthorized, code)
	m, _ := a.g.Member("node-a")
	assert.NotContains(t, m.States.Map(), "k")
}

func TestHealthz(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	code, body := a.call(t, "GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	require.NoError(t, a.Stop(context.Background()))
	code, _ = a.call(t, "GET", "/healthz", "")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	code, _ = a.call(t, "PUT", "/v1/state/k", "v")
	assert.Equal(t, http.StatusServiceUnavailable, code)
}

// sse reads server-sent events from a response, one at a time.
type sse struct{ r *bufio.Reader }

// next returns the next event's name and data, skipping comments.
func (s sse) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && data != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// until returns the first event for which ok is true, checking that
// every event's name is its kind and that only the wanted kinds come.
func (s sse) until(t *testing.T, ok func(api.Event) bool) api.Event {
	t.Helper()
	for range 1000 {
		name, data := s.next(t)
		e := decode[api.Event](t, data)
		require.Equal(t, name, e.Kind.String())
		require.Contains(t, []gossiper.EventKind{gossiper.EventAlive, gossiper.EventChange}, e.Kind, "filtered by ?kinds")
		if ok(e) {
			return e
		}
	}
	t.Fatal("no such event in 1000")
	return api.Event{}
}

func openEvents(t *testing.T, a *testAgent, query string) (sse, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/v1/events"+query, nil)
	require.NoError(t, err)
	resp, err := a.srv.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(first, ": hearsay events from "), "the stream starts with a comment once subscribed")
	return sse{r}, resp
}

func TestEventsAndFailureDetector(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	stream, _ := openEvents(t, a, "?kinds=alive,change")
	b := startAgent(t, "node-b", func(o *Options) { o.Seeds = []string{a.g.Addr()} })

	// node-b's own states arrive (change events), and it is echoed (alive).
	e := stream.until(t, func(e api.Event) bool { return e.Kind == gossiper.EventAlive })
	assert.Equal(t, api.Event{Kind: gossiper.EventAlive, Endpoint: "node-b", Time: e.Time, Generation: e.Generation}, e)
	assert.Positive(t, e.Generation)

	require.NoError(t, b.g.SetState("zone", "eu"))
	e = stream.until(t, func(e api.Event) bool { return e.Key == "zone" })
	assert.Equal(t, api.Event{Kind: gossiper.EventChange, Endpoint: "node-b", Time: e.Time, Generation: e.Generation, Key: "zone", New: "eu"}, e)

	code, body := a.call(t, "GET", "/v1/failure-detector", "")
	require.Equal(t, http.StatusOK, code)
	fd := decode[[]api.Detector](t, body)
	require.Len(t, fd, 1)
	assert.Equal(t, "node-b", fd[0].Endpoint)
	assert.Positive(t, fd[0].Samples)
	assert.Positive(t, fd[0].MeanMillis)
	for _, field := range []string{`"phi"`, `"mean_ms"`, `"stddev_ms"`, `"samples"`, `"last_arrival"`} {
		assert.Contains(t, body, field)
	}

	code, body = a.call(t, "GET", "/v1/events?kinds=dead,bogus", "")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, decode[api.Error](t, body).Error, "bogus")
}

func TestEventsEndWhenAgentStops(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	_, resp := openEvents(t, a, "")
	require.NoError(t, a.Stop(context.Background()))
	_, err := io.Copy(io.Discard, resp.Body)
	assert.NoError(t, err, "the stream ends cleanly")
}

func TestWriteEvent(t *testing.T) {
	var b strings.Builder
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, writeEvent(&b, gossiper.Event{
		Kind: gossiper.EventDead, Endpoint: "n3", Time: at, Generation: 7, Reason: "convicted", Phi: 8.5,
	}))
	assert.Equal(t, "event: dead\n"+
		`data: {"kind":"dead","endpoint":"n3","time":"2025-01-02T03:04:05Z","generation":7,"reason":"convicted","phi":8.5}`+"\n\n", b.String())

	b.Reset()
	require.NoError(t, writeEvent(&b, gossiper.Event{
		Kind: gossiper.EventChange, Endpoint: "n1", Time: at, Generation: 7, Key: "k", Old: "a", New: "line1\nline2",
	}))
	assert.Equal(t, 3, strings.Count(b.String(), "\n"), "a value with a newline stays on one data line")
}

func TestLeave(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	code, body := a.call(t, "GET", "/v1/leave", "")
	assert.Equal(t, http.StatusMethodNotAllowed, code, body)
	code, body = a.call(t, "POST", "/v1/leave", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, api.Left{ID: "node-a", Status: "left"}, decode[api.Left](t, body))
	select {
	case <-a.left:
	default:
		t.Fatal("leave did not tell Run to exit")
	}
	code, _ = a.call(t, "GET", "/healthz", "")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	code, _ = a.call(t, "POST", "/v1/leave", "")
	assert.Equal(t, http.StatusServiceUnavailable, code)
}

func TestMetrics(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	b := startAgent(t, "node-b", func(o *Options) { o.Seeds = []string{a.g.Addr()}; patientDetector(o) })
	require.Eventually(t, func() bool {
		m, _ := b.g.Member("node-a")
		return m.Status == gossiper.StatusUp && b.g.Stats().Messages["syn"].Sent > 0
	}, 10*time.Second, 10*time.Millisecond)

	code, body := b.call(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	for _, name := range []string{
		"hearsay_members", "hearsay_peer_phi", "hearsay_generation", "hearsay_gossip_rounds_total",
		"hearsay_convictions_total", "hearsay_restarts_total", "hearsay_acks_truncated_total",
		"hearsay_messages_sent_total", "hearsay_messages_received_total",
		"hearsay_message_bytes_sent_total", "hearsay_message_bytes_received_total",
		"hearsay_message_size_bytes", "hearsay_frames_dropped_total", "hearsay_send_errors_total",
		"hearsay_events_dropped_total", "hearsay_seed_lookups_total", "hearsay_seed_lookup_failures_total",
		"hearsay_seed_updates_total", "hearsay_seeds", "go_goroutines", "process_cpu_seconds_total",
		"hearsay_deltas_refused_total", "hearsay_endpoints_refused_total", "hearsay_generations_refused_total",
		"hearsay_local_pauses_total", "hearsay_convictions_deferred_total",
	} {
		assert.Contains(t, families, name)
	}
	assert.Contains(t, families["hearsay_acks_truncated_total"].GetHelp(), "Acks, Ack2s and shadow-round Acks", "it counts all three")
	up := families["hearsay_members"].GetMetric()
	require.Len(t, up, 3)
	for _, m := range up {
		if m.GetLabel()[0].GetValue() == "up" {
			assert.InDelta(t, 2, m.GetGauge().GetValue(), 0)
		}
	}
	assert.Positive(t, families["hearsay_seed_lookups_total"].GetMetric()[0].GetCounter().GetValue())
	var synSizes bool
	for _, m := range families["hearsay_message_size_bytes"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "syn" {
			synSizes = m.GetHistogram().GetSampleCount() > 0
		}
	}
	assert.True(t, synSizes, "Syn sizes are observed")
}

// TestCrossSiteRequestsRefused: a web page open in the operator's browser
// cannot drive the loopback API (a "simple" cross-origin form POST), and a
// foreign Host (DNS rebinding) is refused when there is no token.
func TestCrossSiteRequestsRefused(t *testing.T) {
	a := startAgent(t, "node-csrf", nil)
	code, body := a.call(t, "POST", "/v1/leave", "x=1",
		"Origin", "https://evil.example", "Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, http.StatusForbidden, code, body)
	code, body = a.call(t, "PUT", "/v1/state/k", "v", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, code, body)
	code, body = a.call(t, "GET", "/v1/members", "", "Host", "rebound.example:7080")
	assert.Equal(t, http.StatusForbidden, code, body)
	code, _ = a.call(t, "GET", "/v1/members", "")
	assert.Equal(t, http.StatusOK, code, "same-origin tools such as curl still work")
}

// TestEventStreamOutlivesKeepAlives holds an idle stream open through
// several keep-alives, each longer than the write timeout (as 15 s is
// longer than 10 s in production): a deadline set before the wait would
// kill the stream at the first keep-alive.
func TestEventStreamOutlivesKeepAlives(t *testing.T) {
	a := startAgent(t, "node-ka", func(o *Options) {
		o.keepAlive, o.writeTimeout = 300*time.Millisecond, 100*time.Millisecond
	})
	stream, _ := openEvents(t, a, "?kinds=remove")
	keepAlives := 0
	for keepAlives < 3 {
		line, err := stream.r.ReadString('\n')
		require.NoError(t, err, "the stream ended after %d keep-alives", keepAlives)
		if line == ": keep-alive\n" {
			keepAlives++
		}
	}
	code, _ := a.call(t, "GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, code)
}

// metric returns the value of an unlabelled gauge or counter of /metrics.
func (ta *testAgent) metric(t *testing.T, name string) float64 {
	t.Helper()
	code, body := ta.call(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	f, ok := families[name]
	require.True(t, ok, name)
	m := f.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestEventStreamCap: one stream more than --max-event-streams is refused
// with 503, counted, and a slot freed by a client that leaves is reused.
func TestEventStreamCap(t *testing.T) {
	a := startAgent(t, "node-cap", func(o *Options) { o.MaxEventStreams = 2 })
	_, first := openEvents(t, a, "")
	openEvents(t, a, "")
	code, body := a.call(t, "GET", "/v1/events", "")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Equal(t, "too many event streams: 2 are open, the limit is 2 (--max-event-streams)", decode[api.Error](t, body).Error)
	assert.InDelta(t, 2, a.metric(t, "hearsay_event_streams"), 0)
	assert.InDelta(t, 1, a.metric(t, "hearsay_event_streams_refused_total"), 0)

	require.NoError(t, first.Body.Close())
	require.Eventually(t, func() bool { return a.streams.Load() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the handler of a closed stream returns")
	openEvents(t, a, "")
	assert.InDelta(t, 1, a.metric(t, "hearsay_event_streams_refused_total"), 0)
}

// TestRemoveAndAssassinate: the operator's actions on other members, with
// the library's errors mapped to HTTP statuses.
func TestRemoveAndAssassinate(t *testing.T) {
	a := startAgent(t, "node-a", func(o *Options) { o.HTTPToken = "s3cret" })
	auth := []string{"Authorization", "Bearer s3cret"}
	b := startAgent(t, "node-b", func(o *Options) { o.Seeds = []string{a.g.Addr()} })
	startAgent(t, "node-c", func(o *Options) { o.Seeds = []string{a.g.Addr()} })
	status := func(id string) gossiper.Status {
		m, _ := a.g.Member(id)
		return m.Status
	}
	require.Eventually(t, func() bool {
		return status("node-b") == gossiper.StatusUp && status("node-c") == gossiper.StatusUp
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, b.Stop(context.Background()))
	require.Eventually(t, func() bool { return status("node-b") == gossiper.StatusDown }, 10*time.Second, 10*time.Millisecond)

	tests := []struct {
		name, path string
		code       int
		err        string
	}{
		{"no token", "", http.StatusUnauthorized, "bearer token"},
		{"alive", "/v1/members/node-c/remove", http.StatusConflict, `remove "node-c": member is alive (only a down member can be removed`},
		{"unknown", "/v1/members/nobody/remove", http.StatusNotFound, `remove "nobody": unknown member`},
		{"self", "/v1/members/node-a/remove", http.StatusBadRequest, `remove "node-a": operation not allowed on the local node`},
		{"assassinate self", "/v1/members/node-a/assassinate", http.StatusBadRequest, "not allowed on the local node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := auth
			if tt.path == "" {
				tt.path, hdr = "/v1/members/node-b/remove", nil
			}
			code, body := a.call(t, "POST", tt.path, "", hdr...)
			assert.Equal(t, tt.code, code, body)
			assert.Contains(t, decode[api.Error](t, body).Error, tt.err)
		})
	}
	assert.Equal(t, gossiper.StatusDown, status("node-b"), "refused requests change nothing")
	assert.Equal(t, gossiper.StatusUp, status("node-c"))

	code, body := a.call(t, "POST", "/v1/members/node-b/remove", "", auth...)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, api.Left{ID: "node-b", Status: "left"}, decode[api.Left](t, body))
	assert.Equal(t, gossiper.StatusLeft, status("node-b"))

	code, body = a.call(t, "POST", "/v1/members/node-c/assassinate", "", auth...)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, api.Left{ID: "node-c", Status: "left"}, decode[api.Left](t, body))
	code, body = a.call(t, "POST", "/v1/members/ghost%2F1/assassinate", "", auth...)
	require.Equal(t, http.StatusOK, code, body, "assassinate takes unknown IDs too")
	m, ok := a.g.Member("ghost/1")
	require.True(t, ok)
	assert.Equal(t, gossiper.StatusLeft, m.Status)
}

// TestAPIUnavailableWhileStarting: during the shadow round (here, waiting
// for a seed that never answers) the /v1/ paths answer 503 and change
// nothing; once the node gossips they work.
func TestAPIUnavailableWhileStarting(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	httpAddr := freeAddr(t)
	o := DefaultOptions()
	o.ID, o.Bind, o.HTTP, o.DataDir = "node-slow", "127.0.0.1:0", httpAddr, t.TempDir()
	o.Interval, o.Seeds = 20*time.Millisecond, []string{silent.Addr().String()}
	a, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() { started <- a.Start(context.Background()) }()
	defer func() { assert.NoError(t, a.Stop(context.Background())) }()

	get := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, "http://"+httpAddr+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := get("GET", "/healthz", ""); return code != 0 }, 10*time.Second, 5*time.Millisecond)
	code, _ := get("GET", "/healthz", "")
	require.Equal(t, http.StatusServiceUnavailable, code, "still in its shadow round")
	code, body := get("PUT", "/v1/state/k", "v")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Contains(t, body, "the agent is starting")
	code, body = get("GET", "/v1/members", "")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	select {
	case err := <-started:
		require.FailNow(t, "the shadow round ended before the checks", "%v", err)
	default:
	}

	require.NoError(t, <-started)
	code, body = get("GET", "/v1/members", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.NotContains(t, decode[[]gossiper.Member](t, body)[0].States.Map(), "k", "the refused write changed nothing")
	code, body = get("PUT", "/v1/state/k", "v")
	assert.Equal(t, http.StatusOK, code, body)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
