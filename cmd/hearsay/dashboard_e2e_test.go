package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/agenttest"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/browsertest"
	"github.com/hearsay-io/hearsay/gossiper"
)

// pageState describes the dashboard for a failed wait: the connection
// line and each row's status.
const pageState = `document.getElementById('conn').textContent + ' | rows: ' +
	[...document.querySelectorAll('#rows tr')].map(r => r.dataset.id + '=' + r.dataset.status).join(', ')`

// panelLoaded is the expression for: the member panel shows id, with its
// failure detector window loaded.
func panelLoaded(id string) string {
	return fmt.Sprintf(`document.getElementById('detail-id').textContent === %q &&
		document.getElementById('fd-summary').textContent.includes('intervals')`, id)
}

// rowStatus is the expression for a member's status as the page shows it.
func rowStatus(id string) string {
	return fmt.Sprintf(`document.querySelector('#rows tr[data-id=%q]')?.dataset.status`, id)
}

// pageStep bounds each step the page takes on its own (a click
// answered, a panel opened, the next poll shown): it polls the agent once
// a second, and a headless browser beside race-detector agents on a
// loaded machine can take seconds for what takes milliseconds alone. A
// bound for a test that went wrong, not a speed.
const pageStep = 15 * time.Second

// TestDashboard drives the dashboard of real agents in headless Chromium:
// the page lists the cluster, follows a crash and a restart of the agent
// it reads, sets a state that reaches other agents, removes a down node,
// and, against a token-protected agent, writes only with the token.
func TestDashboard(t *testing.T) {
	page := browsertest.New(t)
	addrs := agenttest.FreeAddrs(t, 8)
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
		ctx, cancel := context.WithTimeout(page.Ctx, 15*time.Second)
		defer cancel()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base))
		require.NoError(t, err)
		csp, _ := resp.Headers["Content-Security-Policy"].(string)
		assert.Contains(t, csp, "default-src 'self'")
		assert.NotContains(t, csp, "unsafe")
		page.WaitFor(t, 10*time.Second, "three members up", `['node-1','node-2','node-3'].every(id =>
			document.querySelector('#rows tr[data-id="' + id + '"]')?.dataset.status === 'up')`, pageState)
		page.WaitFor(t, pageStep, "connected", `document.body.dataset.conn === 'ok'`, pageState)
		page.WaitFor(t, pageStep, "the counts", `document.getElementById('counts').textContent === '3 known: 3 up, 0 down, 0 left'`, pageState)
	})

	t.Run("phone", func(t *testing.T) {
		page.Do(t, pageStep, chromedp.EmulateViewport(390, 844))
		defer page.Do(t, pageStep, chromedp.EmulateViewport(1280, 900))
		page.WaitFor(t, pageStep, "fits a phone's width, the optional columns hidden",
			`document.documentElement.scrollWidth <= window.innerWidth &&
			getComputedStyle(document.querySelector('#rows tr td.opt')).display === 'none'`, pageState)
	})

	t.Run("detail panel", func(t *testing.T) {
		// From the keyboard: Enter on the member's ID opens the panel and
		// moves the focus to it, Escape closes it.
		page.Do(t, pageStep, chromedp.Focus(`#rows tr[data-id="node-2"] button.link`), chromedp.KeyEvent(kb.Enter))
		page.WaitFor(t, pageStep, "the panel opened", `!document.getElementById('detail').hidden &&
			document.activeElement === document.getElementById('detail-h')`, pageState)
		page.Do(t, pageStep, chromedp.KeyEvent(kb.Escape))
		page.WaitFor(t, pageStep, "the panel closed", `document.getElementById('detail').hidden`, pageState)
		page.Do(t, pageStep, chromedp.Click(`#rows tr[data-id="node-2"] button.link`))
		page.WaitFor(t, pageStep, "the window's histogram", panelLoaded("node-2")+` &&
			document.querySelectorAll('#fd-hist rect').length > 0 && document.querySelector('#fd-hist line.threshold') !== null`, pageState)
		states := browsertest.Eval[string](t, page, `document.getElementById('detail-states').textContent`)
		assert.Contains(t, states, "hearsay.status")
		assert.Contains(t, browsertest.Eval[string](t, page, `document.getElementById('fd-summary').textContent`), "threshold 8")
	})

	t.Run("state set on the page reaches another agent", func(t *testing.T) {
		page.Do(t, pageStep,
			chromedp.SetValue(`#state-key`, "zone"), chromedp.SetValue(`#state-value`, "eu-west-1"),
			chromedp.Click(`#state-set`))
		page.WaitFor(t, pageStep, "set answered", `document.getElementById('state-msg').textContent.includes('version')`, pageState)
		eventually(t, ps[1:2], 10*time.Second, "zone on node-2's view of node-1", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, "eu-west-1", v["node-1"].States.Get("zone").Value)
		})
		page.WaitFor(t, pageStep, "the change in the event log",
			`[...document.querySelectorAll('#events li[data-kind="change"][data-endpoint="node-1"]')].some(li => li.textContent.includes('zone'))`, pageState)
		// The API's limits, and its words, on the page.
		page.Do(t, pageStep, chromedp.SetValue(`#state-key`, "hearsay.status"), chromedp.Click(`#state-set`))
		page.WaitFor(t, pageStep, "refused", `document.getElementById('state-msg').textContent.includes('400')`, pageState)
		assert.Contains(t, browsertest.Eval[string](t, page, `document.getElementById('state-msg').textContent`), "reserved")
		page.Do(t, pageStep, chromedp.SetValue(`#state-key`, "zone"), chromedp.Click(`#state-set`))
		page.WaitFor(t, pageStep, "set again", `document.getElementById('state-msg').textContent.includes('version')`, pageState)
	})

	t.Run("a killed agent turns down", func(t *testing.T) {
		victim := ps[2]
		require.NoError(t, victim.cmd.Process.Kill())
		victim.wait(t, 10*time.Second)
		page.WaitFor(t, 20*time.Second, "node-3 down on the page", rowStatus("node-3")+` === 'down'`, pageState)
		page.WaitFor(t, pageStep, "a dead event", `document.querySelector('#events li[data-kind="dead"][data-endpoint="node-3"]') !== null`, pageState)
		if path := os.Getenv("HEARSAY_DASHBOARD_SCREENSHOT"); path != "" {
			page.Screenshot(t, path) // the README's picture
		}
	})

	t.Run("remove from the page", func(t *testing.T) {
		// node-2 is up: the API refuses, and the page says why.
		page.Do(t, pageStep, chromedp.Click(`#rows tr[data-id="node-2"] button.link`))
		page.WaitFor(t, pageStep, "node-2's panel", panelLoaded("node-2"), pageState)
		page.Do(t, pageStep, chromedp.Click(`#remove-btn`))
		page.WaitFor(t, pageStep, "409 shown", `document.getElementById('ops-msg').textContent.includes('409')`, pageState)
		assert.Contains(t, browsertest.Eval[string](t, page, `document.getElementById('ops-msg').textContent`), "alive")
		page.Do(t, pageStep, chromedp.Click(`#rows tr[data-id="node-3"] button.link`))
		page.WaitFor(t, pageStep, "node-3's panel", panelLoaded("node-3"), pageState)
		page.Do(t, pageStep, chromedp.Click(`#remove-btn`))
		page.WaitFor(t, pageStep, "removed", `document.getElementById('ops-msg').textContent.includes('Removed node-3')`, pageState)
		eventually(t, ps[1:2], 10*time.Second, "node-3 left on node-2", func(c *assert.CollectT, self *proc, v map[string]gossiper.Member) {
			assert.Equal(c, gossiper.StatusLeft, v["node-3"].Status)
		})
		page.WaitFor(t, pageStep, "node-3 left on the page", rowStatus("node-3")+` === 'left'`, pageState)
	})

	owner := t
	t.Run("reconnects after the agent restarts", func(t *testing.T) {
		require.NoError(t, ps[0].cmd.Process.Kill())
		ps[0].wait(t, 10*time.Second)
		page.WaitFor(t, 10*time.Second, "disconnected shown", `document.body.dataset.conn === 'down' &&
			document.getElementById('conn').textContent.startsWith('Disconnected')`, pageState)
		ps[0] = startProc(t, owner, ps[0].id, ps[0].bind, ps[0].http, ps[0].dataDir, "--seeds", seed)
		page.WaitFor(t, 20*time.Second, "live again", `document.body.dataset.conn === 'ok'`, pageState)
		page.WaitFor(t, 10*time.Second, "node-2 up after the restart", rowStatus("node-2")+` === 'up'`, pageState)
	})

	t.Run("token", func(t *testing.T) {
		const token = "s3cret-dashboard-token"
		tp := startProc(t, t, "guarded", addrs[6], addrs[7], t.TempDir(), "--http-token", token)
		guarded := "http://" + tp.http
		page.Do(t, 15*time.Second, chromedp.Navigate(guarded+"/"))
		page.WaitFor(t, pageStep, "the page asks for the token", `!document.getElementById('token-form').hidden`, pageState)

		// Without the token, the write is refused and changes nothing.
		page.Do(t, pageStep,
			chromedp.SetValue(`#state-key`, "color"), chromedp.SetValue(`#state-value`, "blue"),
			chromedp.Click(`#state-set`))
		page.WaitFor(t, pageStep, "401 shown", `document.getElementById('state-msg').textContent.includes('401')`, pageState)
		assert.Equal(t, "", guardedState(t, guarded, token, "color"))

		page.Do(t, pageStep, chromedp.SendKeys(`#token`, token), chromedp.Click(`#token-form button[type=submit]`))
		page.WaitFor(t, 10*time.Second, "live with the token", `document.body.dataset.conn === 'ok' &&
			document.querySelector('#rows tr[data-id="guarded"]')?.dataset.status === 'up'`, pageState)
		page.Do(t, pageStep, chromedp.Click(`#state-set`))
		page.WaitFor(t, pageStep, "set answered", `document.getElementById('state-msg').textContent.includes('version')`, pageState)
		assert.Equal(t, "blue", guardedState(t, guarded, token, "color"))

		// The token never went into a URL.
		loc := browsertest.Eval[string](t, page, `location.href`)
		assert.Equal(t, guarded+"/", loc)
		entries := browsertest.Eval[[]string](t, page, `performance.getEntriesByType('resource').map(e => e.name)`)
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
	return m.States.Get(key).Value
}
