package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/browsertest"
	"github.com/hearsay-io/hearsay/gossiper"
)

func TestDashboardServedWithStrictCSP(t *testing.T) {
	a := startAgent(t, "node-a", func(o *Options) { o.HTTPToken = "tok" })
	for _, path := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		resp, err := a.srv.Client().Get(a.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s needs no token: the page asks for it", path)
		assert.Equal(t, dashboardCSP, resp.Header.Get("Content-Security-Policy"), path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
	for _, path := range []string{"/ui/", "/ui/index.html", "/ui/nope.js", "/index.html"} {
		code, _ := a.call(t, "GET", path, "")
		assert.NotEqual(t, http.StatusOK, code, path)
	}
	// The API behind it still wants the token.
	code, _ := a.call(t, "GET", "/v1/members", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	// And the loopback Host check covers the page too.
	b := startAgent(t, "node-b", nil)
	code, _ = b.call(t, "GET", "/", "", "Host", "evil.example:7080")
	assert.Equal(t, http.StatusForbidden, code)
}

func TestDetectorWindowEndpoint(t *testing.T) {
	a := startAgent(t, "node-a", nil)
	startAgent(t, "node-b", func(o *Options) { o.Seeds = []string{a.g.Addr()} })
	var w api.DetectorWindow
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, body := a.call(t, "GET", "/v1/failure-detector/node-b", "")
		if !assert.Equal(c, http.StatusOK, code, body) {
			return
		}
		w = decode[api.DetectorWindow](t, body)
		assert.GreaterOrEqual(c, len(w.IntervalsMillis), 3)
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "node-b", w.Endpoint)
	assert.GreaterOrEqual(t, w.Samples, len(w.IntervalsMillis), "the statistics reflect at least the intervals drawn")
	assert.LessOrEqual(t, len(w.IntervalsMillis), 8, "the decaying statistics keep the last 8 for display")
	assert.Equal(t, 8.0, w.Threshold)
	assert.Positive(t, w.ConvictAfterMillis)
	assert.GreaterOrEqual(t, w.SilenceMillis, 0.0)

	code, body := a.call(t, "GET", "/v1/failure-detector/node-a", "")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, decode[api.Error](t, body).Error, "this node")
	code, body = a.call(t, "GET", "/v1/failure-detector/node-zz", "")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, decode[api.Error](t, body).Error, "unknown member")
}

// fakeCluster is an API that reports n synthetic members, for measuring
// the page at a size no test can run as processes: every GET
// /v1/members advances every heartbeat and moves every phi, and the event
// stream sends n change events at once.
type fakeCluster struct {
	n     int
	polls atomic.Int64
}

func (f *fakeCluster) members(round int64) []gossiper.Member {
	out := make([]gossiper.Member, f.n)
	for i := range out {
		status := gossiper.StatusUp
		if i%97 == 5 {
			status = gossiper.StatusDown
		}
		out[i] = gossiper.Member{
			ID: fmt.Sprintf("node-%04d", i), Address: fmt.Sprintf("10.0.%d.%d:7000", i/250, i%250),
			Status: status, Generation: 1796000000 + int64(i), HeartBeat: round*10 + int64(i%7),
			Phi: float64((int64(i)*7+round)%90) / 10, Self: i == 0,
			States: gossiper.StatesOf(map[string]gossiper.Value{"role": {Value: "db", Version: 3}}),
		}
	}
	return out
}

func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/members":
		writeJSON(w, http.StatusOK, f.members(f.polls.Add(1)))
	case "/v1/failure-detector":
		out := make([]api.Detector, 0, f.n)
		for i := 1; i < f.n; i++ {
			out = append(out, api.Detector{Endpoint: fmt.Sprintf("node-%04d", i), LastArrival: time.Now().Add(-time.Duration(i) * time.Millisecond)})
		}
		writeJSON(w, http.StatusOK, out)
	case "/v1/events":
		w.Header().Set("Content-Type", "text/event-stream")
		var b strings.Builder
		b.WriteString(": hearsay events from node-0000\n\n")
		for i := range f.n {
			fmt.Fprintf(&b, "event: change\ndata: {\"kind\":\"change\",\"endpoint\":\"node-%04d\",\"time\":%q,\"generation\":1,\"key\":\"k\",\"new\":\"v%d\"}\n\n",
				i, time.Now().UTC().Format(time.RFC3339Nano), i)
		}
		_, _ = w.Write([]byte(b.String()))
		w.(http.Flusher).Flush()
		select { // bounded: the page reconnects if it ends
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	default:
		writeError(w, http.StatusNotFound, "no such path %q", r.URL.Path)
	}
}

// TestDashboardThousandMembers loads the page against 1,000 synthetic
// members in headless Chromium and checks that updates go into the rows in
// place: the rows are the same DOM nodes poll after poll, none is added or
// moved while the order holds, and an event burst is batched. It logs the
// time the DOM passes took (a figure, not an assertion).
func TestDashboardThousandMembers(t *testing.T) {
	const n = 1000
	f := &fakeCluster{n: n}
	srv := httptest.NewServer(withDashboard(f))
	t.Cleanup(srv.Close)
	page := browsertest.New(t)
	const state = `document.getElementById('conn').textContent + ' | rows: ' + document.querySelectorAll('#rows tr').length`
	page.Do(t, 15*time.Second, chromedp.Navigate(srv.URL+"/"))
	page.WaitFor(t, 10*time.Second, "1000 rows", `document.querySelectorAll('#rows tr').length === 1000 && document.body.dataset.conn === 'ok'`, state)
	page.WaitFor(t, 10*time.Second, "the event burst, capped at 500 entries", `document.querySelectorAll('#events li').length === 500`, state)

	// Mark a row and watch the table's children from here on.
	start := browsertest.Eval[float64](t, page, `(() => {
		const tr = document.querySelector('#rows tr[data-id="node-0500"]');
		tr.hearsayMark = true;
		window.rowMoves = 0;
		new MutationObserver(ms => { for (const m of ms) window.rowMoves += m.addedNodes.length + m.removedNodes.length; })
			.observe(document.getElementById('rows'), { childList: true });
		window.framesBefore = { ...window.hearsayFrames };
		return Number(tr.children[4].textContent);
	})()`)
	page.WaitFor(t, 10*time.Second, "three more polls applied",
		fmt.Sprintf(`Number(document.querySelector('#rows tr[data-id="node-0500"]').children[4].textContent) >= %v`, start+30), state)
	assert.True(t, browsertest.Eval[bool](t, page, `document.querySelector('#rows tr[data-id="node-0500"]').hearsayMark === true`),
		"the row is the same element: updated in place")
	assert.Equal(t, 0, browsertest.Eval[int](t, page, `window.rowMoves`), "no row added, removed or moved while sorted by ID")
	assert.Equal(t, n, browsertest.Eval[int](t, page, `document.querySelectorAll('#rows tr').length`))

	type frames struct {
		Count   int     `json:"count"`
		Rows    int     `json:"rows"`
		TotalMs float64 `json:"totalMs"`
		MaxMs   float64 `json:"maxMs"`
	}
	before := browsertest.Eval[frames](t, page, `window.framesBefore`)
	after := browsertest.Eval[frames](t, page, `window.hearsayFrames`)
	count, rows := after.Count-before.Count, after.Rows-before.Rows
	require.Positive(t, count)
	assert.GreaterOrEqual(t, rows, n, "a poll updates every row")
	t.Logf("1000 members, steady state: %d DOM passes for %d row updates, %.1f ms per pass on average, %.1f ms at most (since load)",
		count, rows, (after.TotalMs-before.TotalMs)/float64(count), after.MaxMs)

	// Sorting by phi reorders once per poll, still in place.
	page.Do(t, 5*time.Second, chromedp.Click(`th button[data-sort="phi"]`))
	page.WaitFor(t, 15*time.Second, "sorted by phi", `(() => {
		const v = [...document.querySelectorAll('#rows tr')].filter(r => r.dataset.id !== 'node-0000').map(r => Number(r.children[5].textContent));
		return v.every((x, i) => i === 0 || v[i-1] <= x);
	})()`, state)
	assert.True(t, browsertest.Eval[bool](t, page, `document.querySelector('#rows tr[data-id="node-0500"]').hearsayMark === true`))

	// Filtering hides rows without rebuilding them.
	page.Do(t, 5*time.Second, chromedp.SendKeys(`#filter`, "node-09"))
	page.WaitFor(t, 15*time.Second, "filtered", `document.querySelectorAll('#rows tr:not([hidden])').length === 100`, state)
	assert.Equal(t, n, browsertest.Eval[int](t, page, `document.querySelectorAll('#rows tr').length`))
}
