package agent

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"path"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper"
)

// The dashboard (docs/dashboard.md) is one page and its script and style
// sheet, embedded in the binary: nothing to install, nothing fetched from
// elsewhere. It reads and writes through the API like any client.
//
//go:embed web
var webFiles embed.FS

// dashboardCSP allows the page its own script, style sheet and API and
// nothing else: no inline script or style, no other origin, no framing.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardPrefix is where the page's assets are served.
const dashboardPrefix = "/ui/"

// withDashboard serves the dashboard at GET / and its assets under /ui/,
// and everything else with next. The page itself needs no token (it holds
// no data, and asks for the token when the API wants one).
func withDashboard(next http.Handler) http.Handler {
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		dashboardHeaders(w)
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET "+dashboardPrefix, http.StripPrefix(dashboardPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || path.Ext(r.URL.Path) == "" || r.URL.Path == "index.html" {
			http.NotFound(w, r) // no directory listings, one way to the page
			return
		}
		dashboardHeaders(w)
		files.ServeHTTP(w, r)
	})))
	mux.Handle("/", next)
	return mux
}

func dashboardHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
}

// detectorWindow serves GET /v1/failure-detector/{id}: one peer's failure
// detector window, for the dashboard's histogram.
func (a *Agent) detectorWindow(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	win, err := a.g.DetectorWindow(id)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, api.NewDetectorWindow(win))
	case errors.Is(err, gossiper.ErrUnknownMember):
		if id == a.g.LocalID() {
			writeError(w, http.StatusNotFound, "%q is this node: it has no failure detector window of itself", id)
			return
		}
		writeError(w, http.StatusNotFound, "unknown member %q (the failure detector has no window for it)", id)
	case errors.Is(err, gossiper.ErrStopped), errors.Is(err, gossiper.ErrNotStarted):
		writeError(w, http.StatusServiceUnavailable, "failure detector window of %q: %v", id, err)
	case errors.Is(err, endpointstate.ErrInvalidEndpoint):
		writeError(w, http.StatusBadRequest, "%v", err)
	default:
		writeError(w, http.StatusInternalServerError, "failure detector window of %q: %v", id, err)
	}
}
