package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/gossiper"
)

func members() []gossiper.Member {
	return []gossiper.Member{
		{ID: "n1", Address: "127.0.0.1:7001", Status: gossiper.StatusUp, Generation: 100, HeartBeat: 42, Self: true,
			States: gossiper.StatesOf(map[string]gossiper.Value{"hearsay.addr": {Value: "127.0.0.1:7001", Version: 1}, "role": {Value: "db", Version: 3}})},
		{ID: "n2", Address: "127.0.0.1:7002", Status: gossiper.StatusDown, Generation: 101, HeartBeat: 7, Phi: 9.125,
			States: gossiper.StatesOf(map[string]gossiper.Value{"note": {Value: "two\nlines", Version: 5}})},
		{ID: "n3", Address: "127.0.0.1:7003", Status: gossiper.StatusLeft, Generation: 102, HeartBeat: 9, Phi: 1000},
	}
}

func TestWriteMembers(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteMembers(&b, members(), false))
	assert.Equal(t, `3 members, 1 up
Status  ID  Address         Generation  Heartbeat  Phi
UP      n1  127.0.0.1:7001  100         42         0.00     (self)
DN      n2  127.0.0.1:7002  101         7          9.12
LEFT    n3  127.0.0.1:7003  102         9          1000.00
`, b.String())
}

func TestWriteMembersColour(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteMembers(&b, members(), true))
	out := b.String()
	assert.Contains(t, out, "\x1b[32mUP\x1b[0m      n1")
	assert.Contains(t, out, "\x1b[31mDN\x1b[0m      n2")
	assert.Contains(t, out, "\x1b[33mLEFT\x1b[0m    n3")
}

func TestWriteInfo(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteInfo(&b, members()[:2]))
	assert.Equal(t, `n1 (self)
  address: 127.0.0.1:7001
  status: up
  generation: 100
  heartbeat: 42
  phi: 0.00
  hearsay.addr: 127.0.0.1:7001 (version 1)
  role: db (version 3)

n2
  address: 127.0.0.1:7002
  status: down
  generation: 101
  heartbeat: 7
  phi: 9.12
  note: "two\nlines" (version 5)
`, b.String())
}

func TestReadEvents(t *testing.T) {
	stream := ": hello\n\nevent: dead\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: change\ndata: x\ndata: y\nid: 3\n\ndata:no-space\n\n"
	var got []string
	require.NoError(t, ReadEvents(strings.NewReader(stream), func(name string, data []byte) error {
		got = append(got, name+"|"+string(data))
		return nil
	}))
	assert.Equal(t, []string{`dead|{"a":1}`, "change|x\ny", "|no-space"}, got)

	stop := errors.New("stop")
	err := ReadEvents(strings.NewReader(stream), func(string, []byte) error { return stop })
	assert.ErrorIs(t, err, stop)
}

// fakeAgent answers like an agent: canned members, state writes, errors.
func fakeAgent(t *testing.T, token string) *httptest.Server {
	srv := httptest.NewServer(fakeAgentHandler(t, token))
	t.Cleanup(srv.Close)
	return srv
}

// fakeAgentHandler is fakeAgent's handler.
func fakeAgentHandler(t *testing.T, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"error": "missing or wrong bearer token"}`)
			return
		}
		fmt.Fprint(w, `[{"id":"n1","address":"127.0.0.1:7001","status":"up","generation":5,"heartbeat":9,"phi":0,"self":true,"states":{}}]`)
	})
	mux.HandleFunc("PUT /v1/state/{key...}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if len(b) > 3 {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprint(w, `{"error": "value too large"}`)
			return
		}
		fmt.Fprintf(w, `{"key":%q,"value":%q,"version":12}`, r.PathValue("key"), b)
	})
	mux.HandleFunc("DELETE /v1/state/{key...}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/leave", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"id":"n1","status":"left"}`)
	})
	mux.HandleFunc("POST /v1/members/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		switch id := r.PathValue("id"); {
		case id == "alive" && r.PathValue("action") == "remove":
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error": "remove \"alive\": member is alive"}`)
		case id == "a/b" || id == "n2":
			fmt.Fprintf(w, `{"id":%q,"status":"left"}`, id)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error": "unknown %s"}`, r.PathValue("action"))
		}
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "dead", r.URL.Query().Get("kinds"))
		fmt.Fprint(w, ": hi\n\nevent: dead\ndata: {\"kind\":\"dead\",\"endpoint\":\"n2\",\"time\":\"2025-01-02T03:04:05Z\",\"generation\":5,\"reason\":\"convicted\",\"phi\":8.25}\n\n")
	})
	mux.HandleFunc("POST /v1/join", func(w http.ResponseWriter, r *http.Request) {
		var req api.JoinRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"answered":%d}`, len(req.Addrs))
	})
	return mux
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "HEARSAY_HTTP_TOKEN" {
			return "from-env"
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, ok := Main(ctx, args[0], args[1:], env)
	require.True(t, ok)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	srv := fakeAgent(t, "")
	addr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"members", []string{"members", "--http", addr}, 0, "UP      n1  127.0.0.1:7001", ""},
		{"members by URL", []string{"members", "--http", srv.URL}, 0, "1 members, 1 up", ""},
		{"members json", []string{"members", "--http", addr, "--json"}, 0, `"id": "n1"`, ""},
		{"info", []string{"info", "--http", addr}, 0, "n1 (self)\n  address: 127.0.0.1:7001", ""},
		{"set", []string{"set", "--http", addr, "k", "v"}, 0, "k = v (version 12)\n", ""},
		{"set error", []string{"set", "--http", addr, "k", "toolong"}, 1, "", "hearsay set: 413 Request Entity Too Large: value too large\n"},
		{"delete", []string{"delete", "--http", addr, "k"}, 0, "deleted k\n", ""},
		{"leave", []string{"leave", "--http", addr}, 0, "n1 left the cluster", ""},
		{"watch", []string{"watch", "--http", addr, "--kinds", "dead"}, 1, "dead     n2  reason=convicted phi=8.25", "closed the event stream"},
		{"watch json", []string{"watch", "--http", addr, "--kinds", "dead", "--json"}, 1, `{"kind":"dead","endpoint":"n2"`, ""},
		{"remove", []string{"remove", "--http", addr, "n2"}, 0, "n2 is announced as left", ""},
		{"remove escaped ID", []string{"remove", "--http", addr, "a/b"}, 0, "a/b is announced as left", ""},
		{"remove alive", []string{"remove", "--http", addr, "alive"}, 1, "", `hearsay remove: 409 Conflict: remove "alive": member is alive`},
		{"remove no ID", []string{"remove", "--http", addr}, 2, "", "want 1 argument(s) ID, got 0"},
		{"assassinate", []string{"assassinate", "--http", addr, "--yes", "n2"}, 0, "n2 is assassinated", ""},
		{"assassinate unconfirmed", []string{"assassinate", "--http", addr, "n2"}, 2, "", "run again with --yes to confirm"},
		{"assassinate ID first", []string{"assassinate", "n2", "--yes", "--http", addr}, 0, "n2 is assassinated", ""},
		{"assassinate ID first unconfirmed", []string{"assassinate", "n2", "--http", addr}, 2, "", "if it is running, it refutes this and comes back"},
		{"set flags after arguments", []string{"set", "k", "--http", addr, "v"}, 0, "k = v (version 12)\n", ""},
		{"members json after", []string{"members", "--http", addr, "--json"}, 0, `"id": "n1"`, ""},
		{"dash dash ends flags", []string{"delete", "--http", addr, "--", "--yes"}, 0, "deleted --yes\n", ""},
		{"flag after arguments still checked", []string{"remove", "n2", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{"assassinate unknown", []string{"assassinate", "--http", addr, "--yes", "n9"}, 1, "", "404 Not Found: unknown assassinate"},
		{"set one argument", []string{"set", "--http", addr, "k"}, 2, "", "want 2 argument(s) KEY VALUE, got 1"},
		{"members argument", []string{"members", "x"}, 2, "", "want 0 argument(s)"},
		{"unknown flag", []string{"members", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{"json not for set", []string{"set", "--json", "k", "v"}, 2, "", "-json"},
		{"bad address", []string{"members", "--http", "ftp://x"}, 2, "", "invalid agent address"},
		{"unreachable", []string{"members", "--http", "127.0.0.1:1"}, 1, "", "hearsay members: cannot reach the agent at http://127.0.0.1:1"},
		{"help", []string{"members", "-h"}, 0, "", "Usage: hearsay members"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Contains(t, stdout, tt.stdout)
			assert.Contains(t, stderr, tt.stderr)
		})
	}
}

func TestToken(t *testing.T) {
	srv := fakeAgent(t, "s3cret")
	code, _, stderr := runCLI(t, "members", "--http", srv.URL)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "401 Unauthorized: missing or wrong bearer token")
	code, _, _ = runCLI(t, "members", "--http", srv.URL, "--http-token", "s3cret")
	assert.Equal(t, 0, code)

	env := fakeAgent(t, "from-env")
	code, _, _ = runCLI(t, "members", "--http", env.URL)
	assert.Equal(t, 0, code, "$HEARSAY_HTTP_TOKEN is the default token")
}

func TestMainUnknownCommand(t *testing.T) {
	_, ok := Main(context.Background(), "frobnicate", nil, Env{})
	assert.False(t, ok)
}

func TestShowValue(t *testing.T) {
	for in, want := range map[string]string{
		"db": "db", "two words": "two words", "": `""`, " pad": `" pad"`, "a\tb": `"a\tb"`, "é": "é", "\x1b[1m": `"\x1b[1m"`, "\xff": `"\xff"`, "\u009b": `"\u009b"`, "\u202e": `"\u202e"`,
	} {
		assert.Equal(t, want, showValue(in), in)
	}
}

// hostile is a member whose every string carries terminal escape
// sequences, as any peer can gossip.
func hostile() gossiper.Member {
	const esc = "\x1b]0;pwned\x07\x1b[2J"
	return gossiper.Member{ID: "n" + esc, Address: "127.0.0.1:1" + esc, Status: gossiper.Status("up" + esc),
		States: gossiper.StatesOf(map[string]gossiper.Value{"k" + esc: {Value: "v" + esc, Version: 1}, "c1\u009b31m": {Value: "\xff\x9b", Version: 2}})}
}

// TestNoEscapesReachTheTerminal: members, info and watch print every
// string from the cluster escaped, and their JSON escapes C1 controls.
func TestNoEscapesReachTheTerminal(t *testing.T) {
	m := hostile()
	var b strings.Builder
	require.NoError(t, WriteMembers(&b, []gossiper.Member{m}, false))
	require.NoError(t, WriteInfo(&b, []gossiper.Member{m}))
	for _, e := range []api.Event{
		{Kind: gossiper.EventChange, Endpoint: m.ID, Key: "k\x1b[1m", New: "v\x1b[1m", Old: "\x1b[1m"},
		{Kind: gossiper.EventChange, Endpoint: m.ID, Key: "k\x1b[1m", Deleted: true},
		{Kind: gossiper.EventDead, Endpoint: m.ID, Reason: "x\x1b[1m"},
		{Kind: gossiper.EventRemove, Endpoint: m.ID, Reason: "x\x1b[1m"},
	} {
		printEvent(&b, e, false, false)
	}
	require.NoError(t, writeJSON(&b, []gossiper.Member{m}))
	printEvent(&b, api.Event{Kind: gossiper.EventChange, Endpoint: m.ID, Key: "\u009b"}, true, false)
	out := b.String()
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	assert.NotContains(t, out, "\u009b")
	assert.NotContains(t, out, "\xff")
	assert.Contains(t, out, `"n\x1b]0;pwned\a\x1b[2J"`)
	assert.Contains(t, out, `"c1\u009b31m": "\xff\x9b" (version 2)`)
	assert.Contains(t, out, `reason="x\x1b[1m"`)
	assert.Contains(t, out, `"key":"\u009b"`)

	e := (&APIError{Status: 400, Message: "bad \x1b[2J"}).Error()
	assert.Equal(t, `400 Bad Request: "bad \x1b[2J"`, e)
}
