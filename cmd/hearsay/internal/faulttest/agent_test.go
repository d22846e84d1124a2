package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/agenttest"
	"github.com/hearsay-io/hearsay/gossiper"
)

// The tests build the hearsay binary once (with the race detector when the
// tests have it), as cmd/hearsay's end-to-end tests do, and run real agent
// processes: in network namespaces, or on 127.0.0.1.

// binPath is where TestMain builds the binary: a directory of this test
// process's own.
func binPath() string { return agenttest.BinaryPath("hearsay-faulttest") }

func TestMain(m *testing.M) { os.Exit(agenttest.Main(m, binPath())) }

// tailBuffer keeps the last bytes of a process's output (a soak runs for
// half an hour; its logs need not all stay in memory).
type tailBuffer struct {
	mu sync.Mutex // guards b
	b  []byte
}

const tailLimit = 1 << 20

func (l *tailBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > tailLimit {
		l.b = append(l.b[:0], l.b[len(l.b)-tailLimit/2:]...)
	}
	return len(p), nil
}

func (l *tailBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// agent is one "hearsay agent" and its successive processes: restart
// starts a new process with the same identity, addresses and data
// directory.
type agent struct {
	id      string
	netns   string // network namespace to run in; "" for the test's own
	bind    string // gossip address
	http    string // API address, reached through client
	dataDir string
	args    []string // further flags
	client  *http.Client

	mu     sync.Mutex // guards the fields below: the process now
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{} // closed once the process exited
}

// start starts a process for a and waits (20 s at most) until its API
// answers /healthz. The process is killed when owner (t or a parent of t)
// ends.
func (a *agent) start(t, owner *testing.T) {
	t.Helper()
	a.launch(t, owner)
	a.waitReady(t)
}

// startAll starts every agent at once, then waits until all are ready (so
// that the first seeds need not wait for the others' shadow round).
func startAll(t *testing.T, as []*agent) {
	t.Helper()
	for _, a := range as {
		a.launch(t, t)
	}
	for _, a := range as {
		a.waitReady(t)
	}
}

// launch starts a process for a, killed when owner ends.
func (a *agent) launch(t, owner *testing.T) {
	t.Helper()
	args := append([]string{"agent", "--id", a.id, "--bind", a.bind, "--http", a.http, "--data-dir", a.dataDir,
		"--log-format", "json"}, a.args...)
	cmd := exec.Command(binPath(), args...)
	if a.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", a.netns, binPath()}, args...)...)
	}
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start(), a.id)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	a.mu.Lock()
	a.cmd, a.stderr, a.done = cmd, stderr, done
	a.mu.Unlock()
	owner.Cleanup(func() {
		killWait(cmd, done)
		assert.NotContains(owner, stderr.String(), "DATA RACE", a.id)
		if owner.Failed() {
			owner.Logf("%s (pid %d) stderr, last bytes:\n%s", a.id, cmd.Process.Pid, lastBytes(stderr.String(), 8<<10))
		}
	})
}

// waitReady waits (20 s at most) until the process's API answers
// /healthz, and fails t if it exits first.
func (a *agent) waitReady(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	cmd, stderr, done := a.cmd, a.stderr, a.done
	a.mu.Unlock()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		select {
		case <-done:
			require.FailNow(t, "agent exited", "%s: %s\n%s", a.id, cmd.ProcessState, stderr.String())
		default:
		}
		resp, err := a.client.Get("http://" + a.http + "/healthz")
		if !assert.NoError(c, err) {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 20*time.Second, 50*time.Millisecond, "%s answers /healthz", a.id)
}

// kill SIGKILLs the running process and waits (10 s at most) for it.
func (a *agent) kill(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	require.NoError(t, cmd.Process.Kill(), a.id)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "agent did not exit after SIGKILL", a.id)
	}
}

// pid is the running process's ID ("ip netns exec" execs the agent, so it
// is the agent's own).
func (a *agent) pid() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cmd.Process.Pid
}

func killWait(cmd *exec.Cmd, done chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// do sends one API request with a 5 s limit and returns the status and
// body.
func (a *agent) do(method, path, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.http+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// view returns the members a knows, by ID.
func (a *agent) view() (map[string]gossiper.Member, error) {
	code, b, err := a.do("GET", "/v1/members", "")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s: GET /v1/members: %d %s", a.id, code, b)
	}
	var ms []gossiper.Member
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("%s: GET /v1/members: %w", a.id, err)
	}
	out := make(map[string]gossiper.Member, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out, nil
}

// set sets one of a's application states through the API.
func (a *agent) set(key, value string) error {
	code, b, err := a.do("PUT", "/v1/state/"+key, value)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s: PUT %s: %d %s", a.id, key, code, b)
	}
	return nil
}

// metric returns the value of an unlabelled counter or gauge from a's
// /metrics.
func (a *agent) metric(name string) (float64, error) {
	code, b, err := a.do("GET", "/metrics", "")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("%s: GET /metrics: %d", a.id, code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: /metrics: %w", a.id, err)
	}
	f, ok := families[name]
	if !ok || len(f.GetMetric()) != 1 {
		return 0, fmt.Errorf("%s: /metrics has no single %s", a.id, name)
	}
	m := f.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue(), nil
	}
	return m.GetGauge().GetValue(), nil
}

// states is what a converged cluster must show: by member ID, the
// application states (key → value) every agent must see for it.
type states map[string]map[string]string

func (s states) set(t *testing.T, a *agent, key, value string) {
	t.Helper()
	require.NoError(t, a.set(key, value))
	if s[a.id] == nil {
		s[a.id] = map[string]string{}
	}
	s[a.id][key] = value
}

// converged checks, on every agent's view, that all of them are known and
// up, and that every state in want is there with its value.
func converged(c *assert.CollectT, as []*agent, want states) {
	sees(c, as, as, gossiper.StatusUp, want, len(as))
}

// sees checks that every observer sees every subject with status and, for
// up subjects, with every state in want; and, unless known is 0, that
// each observer knows exactly known members.
func sees(c *assert.CollectT, observers, subjects []*agent, status gossiper.Status, want states, known int) {
	for _, self := range observers {
		v, err := self.view()
		if !assert.NoError(c, err) {
			continue
		}
		if known > 0 {
			assert.Len(c, v, known, "%s knows every agent", self.id)
		}
		for _, p := range subjects {
			m, ok := v[p.id]
			if !assert.True(c, ok, "%s knows %s", self.id, p.id) {
				continue
			}
			assert.Equal(c, status, m.Status, "%s sees %s", self.id, p.id)
			if status != gossiper.StatusUp {
				continue
			}
			for k, val := range want[p.id] {
				assert.Equal(c, val, m.States.Get(k).Value, "%s sees %s's %q", self.id, p.id, k)
			}
		}
	}
}

// waitConverged waits (limit at most) until converged holds and returns
// how long that took.
func waitConverged(t *testing.T, as []*agent, want states, limit time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	require.EventuallyWithT(t, func(c *assert.CollectT) { converged(c, as, want) }, limit, 100*time.Millisecond, what)
	return time.Since(start)
}

// convictions returns each agent's hearsay_convictions_total.
func convictions(t *testing.T, as []*agent) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, a := range as {
		v, err := a.metric("hearsay_convictions_total")
		require.NoError(t, err)
		out[a.id] = v
	}
	return out
}

func ids(as []*agent) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.id
	}
	return out
}
