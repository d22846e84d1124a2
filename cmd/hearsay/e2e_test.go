package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/agenttest"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper"
)

// The end-to-end tests build the hearsay binary once (with the race
// detector when the tests have it) and run real agent processes on
// 127.0.0.1.

// binPath is where TestMain builds the binary: a directory of this test
// process's own.
func binPath() string { return agenttest.BinaryPath("hearsay-e2e") }

func TestMain(m *testing.M) { os.Exit(agenttest.Main(m, binPath())) }

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is one "hearsay agent" process.
type proc struct {
	id, bind, http, dataDir string
	cmd                     *exec.Cmd
	stderr                  *lockedBuffer
	done                    chan struct{} // closed once the process exited
	err                     error         // Wait's result; read after done
}

// launchProc starts an agent and kills it at the end of owner (t or a
// parent of t), without waiting for its API.
func launchProc(t, owner *testing.T, id, bind, httpAddr, dataDir string, extra ...string) *proc {
	t.Helper()
	p := &proc{id: id, bind: bind, http: httpAddr, dataDir: dataDir, stderr: &lockedBuffer{}, done: make(chan struct{})}
	args := append([]string{"agent", "--id", id, "--bind", bind, "--http", httpAddr, "--data-dir", dataDir,
		"--interval", "100ms", "--log-format", "json"}, extra...)
	p.cmd = exec.Command(binPath(), args...)
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	owner.Cleanup(func() {
		p.kill(owner)
		assert.NotContains(owner, p.stderr.String(), "DATA RACE", id)
		if owner.Failed() {
			owner.Logf("%s (pid %d) stderr:\n%s", id, p.cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// startProc starts an agent, kills it at the end of owner (t or a parent
// of t), and waits until its API answers /healthz.
func startProc(t, owner *testing.T, id, bind, httpAddr, dataDir string, extra ...string) *proc {
	t.Helper()
	p := launchProc(t, owner, id, bind, httpAddr, dataDir, extra...)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		select {
		case <-p.done:
			require.FailNow(t, "agent exited", "%s: %v\n%s", id, p.err, p.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if !assert.NoError(c, err) {
			return
		}
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 20*time.Second, 20*time.Millisecond)
	return p
}

// kill sends SIGKILL unless the process exited, and waits for it.
func (p *proc) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	p.wait(t, 10*time.Second)
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		require.FailNow(t, "agent did not exit", "%s within %s", p.id, limit)
	}
	return p.cmd.ProcessState.ExitCode()
}

// getJSON GETs path from an agent and decodes the 200 answer.
func getJSON(addr, path string, out any) error {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// view returns the members an agent knows, by ID.
func view(addr string) (map[string]gossiper.Member, error) {
	var ms []gossiper.Member
	if err := getJSON(addr, "/v1/members", &ms); err != nil {
		return nil, err
	}
	out := map[string]gossiper.Member{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out, nil
}

// eventually waits until every agent of ps satisfies check on its view.
func eventually(t *testing.T, ps []*proc, limit time.Duration, what string, check func(c *assert.CollectT, self *proc, v map[string]gossiper.Member)) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, p := range ps {
			v, err := view(p.http)
			if !assert.NoError(c, err, p.id) {
				return
			}
			check(c, p, v)
		}
	}, limit, 50*time.Millisecond, what)
}

func except(ps []*proc, skip ...*proc) []*proc {
	var out []*proc
	for _, p := range ps {
		if !contains(skip, p) {
			out = append(out, p)
		}
	}
	return out
}

func contains(ps []*proc, p *proc) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func request(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// runCLI runs a client subcommand of the binary.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binPath(), args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

// TestCluster is the scenario with five agent processes:
// convergence, state, a crash, a restart, a graceful shutdown, metrics and
// a leave.
func TestCluster(t *testing.T) {
	const n = 5
	addrs := agenttest.FreeAddrs(t, 2*n)
	ps := make([]*proc, n)
	seed := addrs[0]
	for i := range n {
		// Every node gets node-1 as its seed; node-1 drops itself.
		ps[i] = startProc(t, t, fmt.Sprintf("node-%d", i+1), addrs[2*i], addrs[2*i+1], t.TempDir(), "--seeds", seed)
	}
	// A watch of events that never come (removals expire after 72 h) must
	// outlive its keep-alives (15 s apart); it is checked at the end.
	watch := startWatch(t, ps[0].http, "--kinds", "remove")

	t.Run("convergence", func(t *testing.T) {
		eventually(t, ps, 30*time.Second, "all 5 up everywhere", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Len(c, v, n, self.id)
			for _, p := range ps {
				assert.Equal(c, gossiper.StatusUp, v[p.id].Status, "%s sees %s", self.id, p.id)
				assert.Equal(c, p.bind, v[p.id].Address)
			}
			assert.True(c, v[self.id].Self)
		})
	})

	t.Run("state", func(t *testing.T) {
		code, body := request(t, "PUT", "http://"+ps[1].http+"/v1/state/role", "db")
		require.Equal(t, http.StatusOK, code, body)
		eventually(t, ps, 20*time.Second, "role=db everywhere", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, "db", v["node-2"].States.Get("role").Value, self.id)
		})
	})

	t.Run("oversize value", func(t *testing.T) {
		var before gossiper.Member
		require.NoError(t, getJSON(ps[1].http, "/v1/members/node-2", &before))
		big := strings.Repeat("x", endpointstate.DefaultLimits().MaxValueSize+1)
		code, body := request(t, "PUT", "http://"+ps[1].http+"/v1/state/role", big)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code)
		var e api.Error
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		assert.Contains(t, e.Error, "too large")
		code, _ = request(t, "PUT", "http://"+ps[1].http+"/v1/state/hearsay.status", "x")
		assert.Equal(t, http.StatusBadRequest, code)
		var after gossiper.Member
		require.NoError(t, getJSON(ps[1].http, "/v1/members/node-2", &after))
		assert.Equal(t, before.States.Get("role"), after.States.Get("role"), "value and version unchanged")
	})

	victim := ps[3]
	var oldGen int64
	t.Run("crash", func(t *testing.T) {
		var m gossiper.Member
		require.NoError(t, getJSON(victim.http, "/v1/members/"+victim.id, &m))
		oldGen = m.Generation
		require.NoError(t, victim.cmd.Process.Kill())
		victim.wait(t, 10*time.Second)
		eventually(t, except(ps, victim), 30*time.Second, "node-4 down everywhere", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusDown, v[victim.id].Status, self.id)
		})
	})

	owner := t
	t.Run("restart", func(t *testing.T) {
		ps[3] = startProc(t, owner, victim.id, victim.bind, victim.http, victim.dataDir, "--seeds", seed)
		eventually(t, ps, 30*time.Second, "node-4 up again, in a higher generation", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusUp, v[victim.id].Status, self.id)
			assert.Greater(c, v[victim.id].Generation, oldGen, self.id)
		})
	})

	t.Run("graceful shutdown", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+ps[0].http+"/v1/events?kinds=dead", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		events := bufio.NewReader(resp.Body)
		hello, err := events.ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(hello, ":"), "subscribed")

		leaving := ps[4]
		require.NoError(t, leaving.cmd.Process.Signal(syscall.SIGTERM))
		var e api.Event
		for e.Endpoint != leaving.id {
			name, data := nextEvent(t, events)
			require.Equal(t, "dead", name)
			require.NoError(t, json.Unmarshal([]byte(data), &e))
		}
		assert.Equal(t, "shutdown", e.Reason)
		assert.Equal(t, 0, leaving.wait(t, 10*time.Second), "exit status after SIGTERM")
		eventually(t, ps[:4], 20*time.Second, "node-5 down", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusDown, v[leaving.id].Status, self.id)
		})
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + ps[0].http + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		require.NoError(t, err)
		for _, name := range []string{"hearsay_members", "hearsay_gossip_rounds_total", "hearsay_messages_sent_total",
			"hearsay_message_bytes_received_total", "hearsay_message_size_bytes", "hearsay_convictions_total",
			"hearsay_restarts_total", "hearsay_frames_dropped_total", "hearsay_seed_lookups_total",
			"hearsay_seed_updates_total", "hearsay_events_dropped_total", "hearsay_peer_phi"} {
			assert.Contains(t, families, name)
		}
		assert.GreaterOrEqual(t, families["hearsay_convictions_total"].GetMetric()[0].GetCounter().GetValue(), 1.0, "node-4 was convicted")
		assert.GreaterOrEqual(t, families["hearsay_restarts_total"].GetMetric()[0].GetCounter().GetValue(), 1.0, "node-4 restarted")
	})

	t.Run("client subcommands", func(t *testing.T) {
		// Until it holds: an agent starved for a moment on a loaded machine
		// can be convicted for a round or two, and "4 up" read once would
		// count that.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			code, out := runCLI(t, "members", "--http", ps[0].http)
			assert.Equal(c, 0, code, out)
			assert.Contains(c, out, "5 members, 4 up")
			assert.Contains(c, out, "DN      node-5")
		}, 10*time.Second, 100*time.Millisecond, "hearsay members")
		code, out := runCLI(t, "set", "--http", ps[2].http, "zone", "eu-west")
		assert.Equal(t, 0, code, out)
		code, out = runCLI(t, "info", "--http", ps[2].http)
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "zone: eu-west")
		code, out = runCLI(t, "set", "--http", ps[2].http, "hearsay.addr", "x")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "400 Bad Request")

		code, out = runCLI(t, "remove", "--http", ps[1].http, "node-1")
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, `409 Conflict: remove "node-1": member is alive`)
		code, out = runCLI(t, "remove", "--http", ps[1].http, "node-5")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "node-5 is announced as left")
		eventually(t, ps[:4], 10*time.Second, "node-5 removed: left everywhere", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusLeft, v["node-5"].Status, self.id)
		})

		code, out = runCLI(t, "leave", "--http", ps[2].http)
		assert.Equal(t, 0, code, out)
		assert.Equal(t, 0, ps[2].wait(t, 10*time.Second), "exit status after leave")
		eventually(t, []*proc{ps[0], ps[1], ps[3]}, 10*time.Second, "node-3 left", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusLeft, v["node-3"].Status, self.id)
		})
	})

	t.Run("watch outlives keep-alives", func(t *testing.T) {
		watch.outlive(t, 2*15*time.Second+3*time.Second)
	})
}

// watchProc is a "hearsay watch" process.
type watchProc struct {
	cmd     *exec.Cmd
	out     *lockedBuffer
	started time.Time
	done    chan struct{} // closed once the process exited
	err     error         // Wait's result; read after done
}

func startWatch(t *testing.T, httpAddr string, args ...string) *watchProc {
	t.Helper()
	w := &watchProc{out: &lockedBuffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(binPath(), append([]string{"watch", "--http", httpAddr}, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	require.NoError(t, w.cmd.Start())
	w.started = time.Now()
	go func() {
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// outlive checks that the watch still runs age after it started, waiting
// until then if need be.
func (w *watchProc) outlive(t *testing.T, age time.Duration) {
	t.Helper()
	select {
	case <-w.done:
		require.FailNow(t, "hearsay watch exited", "%v\n%s", w.err, w.out.String())
	case <-time.After(time.Until(w.started.Add(age))):
	}
	select {
	case <-w.done:
		require.FailNow(t, "hearsay watch exited", "%v\n%s", w.err, w.out.String())
	default:
	}
}

// TestStatesSurviveKill: a state set through the CLI is back after the
// agent is SIGKILLed and restarted on the same data directory, in a
// higher generation.
func TestStatesSurviveKill(t *testing.T) {
	addrs := agenttest.FreeAddrs(t, 2)
	dir := t.TempDir()
	p := startProc(t, t, "solo", addrs[0], addrs[1], dir)
	code, out := runCLI(t, "set", "--http", p.http, "zone", "eu-west")
	require.Equal(t, 0, code, out)
	var before gossiper.Member
	require.NoError(t, getJSON(p.http, "/v1/members/solo", &before))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(t, 10*time.Second)

	q := startProc(t, t, "solo", addrs[0], addrs[1], dir)
	var after gossiper.Member
	require.NoError(t, getJSON(q.http, "/v1/members/solo", &after))
	assert.Equal(t, "eu-west", after.States.Get("zone").Value)
	assert.Greater(t, after.Generation, before.Generation)
}

// nextEvent reads one server-sent event, skipping comments.
func nextEvent(t *testing.T, r *bufio.Reader) (name, data string) {
	t.Helper()
	for range 10000 {
		line, err := r.ReadString('\n')
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
	require.FailNow(t, "no event")
	return "", ""
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"agent", "--frobnicate"}, "-frobnicate"},
		{"bad interval", []string{"agent", "--interval", "abc"}, `invalid value "abc" for --interval`},
		{"interval out of range", []string{"agent", "--interval", "0s"}, `for --interval`},
		{"bad phi", []string{"agent", "--phi", "zero"}, `invalid value "zero" for --phi`},
		{"negative phi", []string{"agent", "--phi", "-1"}, `for --phi`},
		{"bad fd-model", []string{"agent", "--fd-model", "gaussian"}, `invalid value "gaussian" for --fd-model`},
		{"bad state", []string{"agent", "--state", "novalue"}, `invalid value "novalue" for --state`},
		{"reserved state", []string{"agent", "--state", "hearsay.addr=x"}, `for --state`},
		{"remote http", []string{"agent", "--http", "0.0.0.0:7080"}, "--http-allow-remote"},
		{"bad log format", []string{"agent", "--log-format", "xml"}, "for --log-format"},
		{"bad seeds", []string{"agent", "--seeds", "[::1"}, "for --seeds"},
		{"missing config", []string{"agent", "--config", filepath.Join(dir, "none.json")}, "for --config"},
		{"endless config", []string{"agent", "--config", "/dev/zero"}, "config file /dev/zero: larger than 1 MiB"},
		{"empty id", []string{"agent", "--id", ""}, `invalid value "" for --id: must not be empty`},
		{"assassinate unconfirmed", []string{"assassinate", "node-9"}, "run again with --yes to confirm"},
		{"no command", nil, "Usage: hearsay"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"client arguments", []string{"set", "onlykey"}, "want 2 argument(s)"},
		{"demo flags", []string{"demo", "--nodes", "1"}, "for --nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) > 0 && args[0] == "agent" {
				args = append(args, "--data-dir", dir, "--bind", "127.0.0.1:0", "--id", "x")
			}
			code, out := runCLI(t, args...)
			assert.Equal(t, 2, code, out)
			assert.Contains(t, out, tt.want)
		})
	}
}
