// Package browsertest drives a page in headless Chromium for the
// dashboard's tests (Debian's chromium package, through
// github.com/chromedp/chromedp). Only tests import it.
//
// A missing browser fails the test when $CI is set (.ci/run installs
// chromium when it runs as root) and skips it elsewhere, with a message
// saying how to get one. A failed test leaves screenshots of the page in
// $HEARSAY_ARTIFACTS (default: hearsay-artifacts under the temporary
// directory).
package browsertest

import (
	"context"
	"fmt"
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
)

// ChromiumPath finds the browser: $HEARSAY_CHROMIUM, else chromium (or
// chromium-browser, google-chrome) on $PATH. Without one it fails t in CI
// and skips it elsewhere.
func ChromiumPath(t *testing.T) string {
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

// ArtifactsDir is where failed browser tests leave screenshots.
func ArtifactsDir(t *testing.T) string {
	dir := os.Getenv("HEARSAY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hearsay-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// Page is one tab of a headless Chromium, closed at the end of the test
// that opened it. Uncaught exceptions and Content-Security-Policy
// violations on the page fail that test.
type Page struct {
	// Ctx is the tab's chromedp context.
	Ctx  context.Context
	mu   sync.Mutex // guards errs
	errs []string
}

// startLimit bounds the start of the browser.
const startLimit = 60 * time.Second

// New starts a browser with a 1280×900 window and opens a blank tab.
func New(t *testing.T) *Page {
	t.Helper()
	chrome := ChromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("hide-scrollbars", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancel)
	p := &Page{Ctx: ctx}
	// Starts the browser, on ctx itself: canceling the context of the first
	// call would close the browser. A browser that does not start within
	// startLimit is given up (and closed) all the same.
	giveUp := time.AfterFunc(startLimit, cancel)
	_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	stopped := giveUp.Stop()
	require.True(t, stopped, "%s did not start within %s", chrome, startLimit)
	require.NoError(t, err, "starting %s", chrome)
	require.NoError(t, chromedp.Listen(ctx, p.record))
	t.Cleanup(func() {
		p.mu.Lock()
		errs := p.errs
		p.mu.Unlock()
		assert.Empty(t, errs, "errors on the page")
		if t.Failed() {
			p.ScreenshotOnFailure(t)
		}
	})
	return p
}

// record notes exceptions and CSP violations; it runs on chromedp's
// reading goroutine, so it only appends.
func (p *Page) record(ev any) {
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
}

// Screenshot saves a PNG of the whole page at path.
func (p *Page) Screenshot(t *testing.T, path string) {
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
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

// ScreenshotOnFailure saves a screenshot in ArtifactsDir named after t.
func (p *Page) ScreenshotOnFailure(t *testing.T) {
	name := fmt.Sprintf("%s-%s.png", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().Format("150405.000"))
	p.Screenshot(t, filepath.Join(ArtifactsDir(t), name))
}

// Do runs steps on the page within limit; a failure fails t after a
// screenshot.
func (p *Page) Do(t *testing.T, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.ScreenshotOnFailure(t)
		require.NoError(t, err)
	}
}

// Eval evaluates a JavaScript expression on the page.
func Eval[T any](t *testing.T, p *Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// WaitFor waits until the JavaScript expression expr is truthy on the
// page, for at most limit; on time-out it fails t with the result of
// describe (an expression for the page's state) and a screenshot.
func (p *Page) WaitFor(t *testing.T, limit time.Duration, what, expr, describe string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, limit)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		state := Eval[string](t, p, describe)
		p.ScreenshotOnFailure(t)
		require.NoError(t, err, "%s (%s); page: %s", what, expr, state)
	}
}
