package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/gossiper"
)

// The dashboard's end-to-end test drives the page served by real agent
// processes in headless Chromium (Debian's chromium package; .ci/run
// installs it). In CI (CI set) a missing browser fails the test; elsewhere
// it is skipped with a message saying how to get one.

// chromiumPath finds the browser: $HEARSAY_CHROMIUM, else chromium (or
// chromium-browser, google-chrome) on $PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HEARSAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no headless browser: install Debian's chromium (apt-get install chromium; .ci/run does it when run as root) or set $HEARSAY_CHROMIUM"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artifactsDir is where a failed browser test leaves its screenshots:
// $HEARSAY_ARTIFACTS, else a directory under the system's temporary
// directory that outlives the test.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("HEARSAY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hearsay-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browserPage is one tab of a headless Chromium, closed at the end of t.
// Uncaught exceptions and Content-Security-Policy violations on the page
// fail the test; so does any failure, after a screenshot of the page.
type browserPage struct {
	ctx  context.Context
	mu   sync.Mutex // guards errs
	errs []string
}

func newBrowserPage(t *testing.T) *browserPage {
	t.Helper()
	chrome := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("hide-scrollbars", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancel)
	p := &browserPage{ctx: ctx}
	// Starts the browser, on ctx itself: canceling the context of the first
	// call would close the browser.
	_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	require.NoError(t, err, "starting %s", chrome)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "uncaught exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") {
				msg = "CSP violation: " + e.Entry.Text
			}
		}
		if msg != "" {
			p.mu.Lock()
			p.errs = append(p.errs, msg)
			p.mu.Unlock()
		}
	}))
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		assert.Empty(t, p.errs, "errors on the page")
		if t.Failed() {
			p.screenshot(t, filepath.Join(artifactsDir(t), fmt.Sprintf("%s-%d.png", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().Unix())))
		}
	})
	return p
}

// screenshot saves a PNG of the whole page at path.
func (p *browserPage) screenshot(t *testing.T, path string) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the page: %s", path)
}

// do runs steps on the page within limit.
func (p *browserPage) do(t *testing.T, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, limit)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](t *testing.T, p *browserPage, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// waitFor waits until the JavaScript expression what is truthy on the
// page, for at most limit; on time-out it fails with the page's state.
func (p *browserPage) waitFor(t *testing.T, limit time.Duration, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, limit)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		state := eval[string](t, p, `document.getElementById('conn').textContent + ' | rows: ' +
			[...document.querySelectorAll('#rows tr')].map(r => r.dataset.id + '=' + r.dataset.status).join(', ')`)
		require.NoError(t, err, "%s (%s); page: %s", what, expr, state)
	}
}

// rowStatus is the expression for a member's status as the page shows it.
func rowStatus(id string) string {
	return fmt.Sprintf(`document.querySelector('#rows tr[data-id=%q]')?.dataset.status`, id)
}

// TestDashboard drives the dashboard of real agents in headless Chromium:
// the page lists the cluster, follows a crash and a restart of the agent
// it reads, sets a state that reaches other agents, removes a down node,
// and, against a token-protected agent, writes only with the token.
func TestDashboard(t *testing.T) {
	page := newBrowserPage(t)
	addrs := freeAddrs(t, 8)
	seed := addrs[0]
	ps := make([]*proc, 3)
	for i := range ps {
		ps[i] = startProc(t, t, fmt.Sprintf("node-%d", i+1), addrs[2*i], addrs[2*i+1], t.TempDir(), "--seeds", seed)
	}
	eventually(t, ps, 20*time.Second, "3 up everywhere", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
		assert.Len(c, v, 3, self.id)
		for _, p := range ps {
			assert.Equal(c, gossiper.StatusUp, v[p.id].Status, "%s sees %s", self.id, p.id)
		}
	})
	base := "http://" + ps[0].http + "/"

	t.Run("lists the cluster", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(page.ctx, 15*time.Second)
		defer cancel()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base))
		require.NoError(t, err)
		csp, _ := resp.Headers["Content-Security-Policy"].(string)
		assert.Contains(t, csp, "default-src 'self'")
		assert.NotContains(t, csp, "unsafe")
		page.waitFor(t, 10*time.Second, "three members up", `['node-1','node-2','node-3'].every(id =>
			document.querySelector('#rows tr[data-id="' + id + '"]')?.dataset.status === 'up')`)
		page.waitFor(t, 5*time.Second, "connected", `document.body.dataset.conn === 'ok'`)
		assert.Equal(t, "3 known: 3 up, 0 down, 0 left", eval[string](t, page, `document.getElementById('counts').textContent`))
	})

	t.Run("detail panel", func(t *testing.T) {
		page.do(t, 5*time.Second, chromedp.Click(`#rows tr[data-id="node-2"] button.link`))
		page.waitFor(t, 5*time.Second, "the window's histogram",
			`document.querySelectorAll('#fd-hist rect').length > 0 && document.querySelector('#fd-hist line.threshold') !== null`)
		states := eval[string](t, page, `document.getElementById('detail-states').textContent`)
		assert.Contains(t, states, "hearsay.status")
		assert.Contains(t, eval[string](t, page, `document.getElementById('fd-summary').textContent`), "threshold 8")
	})

	t.Run("state set on the page reaches another agent", func(t *testing.T) {
		page.do(t, 5*time.Second,
			chromedp.SetValue(`#state-key`, "zone"), chromedp.SetValue(`#state-value`, "eu-west-1"),
			chromedp.Click(`#state-set`))
		page.waitFor(t, 5*time.Second, "set answered", `document.getElementById('state-msg').textContent.includes('version')`)
		eventually(t, ps[1:2], 10*time.Second, "zone on node-2's view of node-1", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, "eu-west-1", v["node-1"].States["zone"].Value)
		})
		page.waitFor(t, 5*time.Second, "the change in the event log",
			`[...document.querySelectorAll('#events li[data-kind="change"][data-endpoint="node-1"]')].some(li => li.textContent.includes('zone'))`)
		// The API's limits, and its words, on the page.
		page.do(t, 5*time.Second, chromedp.SetValue(`#state-key`, "hearsay.status"), chromedp.Click(`#state-set`))
		page.waitFor(t, 5*time.Second, "refused", `document.getElementById('state-msg').textContent.includes('400')`)
		assert.Contains(t, eval[string](t, page, `document.getElementById('state-msg').textContent`), "reserved")
	})

	t.Run("a killed agent turns down", func(t *testing.T) {
		victim := ps[2]
		require.NoError(t, victim.cmd.Process.Kill())
		victim.wait(t, 10*time.Second)
		page.waitFor(t, 20*time.Second, "node-3 down on the page", rowStatus("node-3")+` === 'down'`)
		page.waitFor(t, 5*time.Second, "a dead event", `document.querySelector('#events li[data-kind="dead"][data-endpoint="node-3"]') !== null`)
		if path := os.Getenv("HEARSAY_DASHBOARD_SCREENSHOT"); path != "" {
			page.screenshot(t, path) // the README's picture
		}
	})

	t.Run("remove from the page", func(t *testing.T) {
		// node-2 is up: the API refuses, and the page says why.
		page.do(t, 5*time.Second, chromedp.Click(`#rows tr[data-id="node-2"] button.link`), chromedp.Click(`#remove-btn`))
		page.waitFor(t, 5*time.Second, "409 shown", `document.getElementById('ops-msg').textContent.includes('409')`)
		assert.Contains(t, eval[string](t, page, `document.getElementById('ops-msg').textContent`), "alive")
		page.do(t, 5*time.Second, chromedp.Click(`#rows tr[data-id="node-3"] button.link`), chromedp.Click(`#remove-btn`))
		page.waitFor(t, 5*time.Second, "removed", `document.getElementById('ops-msg').textContent.includes('Removed node-3')`)
		eventually(t, ps[1:2], 10*time.Second, "node-3 left on node-2", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusLeft, v["node-3"].Status)
		})
		page.waitFor(t, 5*time.Second, "node-3 left on the page", rowStatus("node-3")+` === 'left'`)
	})

	owner := t
	t.Run("reconnects after the agent restarts", func(t *testing.T) {
		require.NoError(t, ps[0].cmd.Process.Kill())
		ps[0].wait(t, 10*time.Second)
		page.waitFor(t, 10*time.Second, "disconnected shown", `document.body.dataset.conn === 'down' &&
			document.getElementById('conn').textContent.startsWith('Disconnected')`)
		ps[0] = startProc(t, owner, ps[0].id, ps[0].bind, ps[0].http, ps[0].dataDir, "--seeds", seed)
		page.waitFor(t, 20*time.Second, "live again", `document.body.dataset.conn === 'ok'`)
		page.waitFor(t, 10*time.Second, "node-2 up after the restart", rowStatus("node-2")+` === 'up'`)
	})

	t.Run("token", func(t *testing.T) {
		const token = "s3cret-dashboard-token"
		tp := startProc(t, t, "guarded", addrs[6], addrs[7], t.TempDir(), "--http-token", token)
		guarded := "http://" + tp.http
		page.do(t, 15*time.Second, chromedp.Navigate(guarded+"/"))
		page.waitFor(t, 5*time.Second, "the page asks for the token", `!document.getElementById('token-form').hidden`)

		// Without the token, the write is refused and changes nothing.
		page.do(t, 5*time.Second,
			chromedp.SetValue(`#state-key`, "color"), chromedp.SetValue(`#state-value`, "blue"),
			chromedp.Click(`#state-set`))
		page.waitFor(t, 5*time.Second, "401 shown", `document.getElementById('state-msg').textContent.includes('401')`)
		assert.Equal(t, "", guardedState(t, guarded, token, "color"))

		page.do(t, 5*time.Second, chromedp.SendKeys(`#token`, token), chromedp.Click(`#token-form button[type=submit]`))
		page.waitFor(t, 10*time.Second, "live with the token", `document.body.dataset.conn === 'ok' &&
			document.querySelector('#rows tr[data-id="guarded"]')?.dataset.status === 'up'`)
		page.do(t, 5*time.Second, chromedp.Click(`#state-set`))
		page.waitFor(t, 5*time.Second, "set answered", `document.getElementById('state-msg').textContent.includes('version')`)
		assert.Equal(t, "blue", guardedState(t, guarded, token, "color"))

		// The token never went into a URL.
		loc := eval[string](t, page, `location.href`)
		assert.Equal(t, guarded+"/", loc)
		entries := eval[[]string](t, page, `performance.getEntriesByType('resource').map(e => e.name)`)
		require.NotEmpty(t, entries)
		for _, u := range entries {
			assert.NotContains(t, u, token)
		}
	})
}

// guardedState reads key of the token-protected agent's own states.
func guardedState(t *testing.T, base, token, key string) string {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/v1/members/guarded", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var m gossiper.Member
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m.States[key].Value
}
