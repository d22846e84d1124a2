package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/gossiper"
)

// defaultKeepAlive is how often an idle event stream gets a comment line,
// so that proxies and clients see the connection is alive.
const defaultKeepAlive = 15 * time.Second

// defaultWriteTimeout bounds each write of an event stream.
const defaultWriteTimeout = 10 * time.Second

// streamEvents serves membership events as server-sent events until the
// client goes away or the agent stops. ?kinds=dead,alive filters them. At
// most Options.MaxEventStreams streams are open at once; one more is
// refused with 503.
func (a *Agent) streamEvents(w http.ResponseWriter, r *http.Request) {
	kinds, err := parseKinds(r.URL.Query().Get("kinds"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "kinds: %v", err)
		return
	}
	if n := a.streams.Add(1); n > int64(a.opts.MaxEventStreams) {
		a.streams.Add(-1)
		a.streamsRefused.Add(1)
		writeError(w, http.StatusServiceUnavailable, "too many event streams: %d are open, the limit is %d (--max-event-streams)",
			n-1, a.opts.MaxEventStreams)
		return
	}
	defer a.streams.Add(-1)
	sub := a.g.Subscribe(kinds...)
	defer sub.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// A client that stops reading must not pin this handler: every write
	// has a deadline, set just before it and cleared after it. A deadline
	// left over a wait would kill the stream: over HTTP/1 the keep-alive
	// would meet an expired deadline, and over HTTP/2 (HTTPS) the
	// deadline is a timer that resets the stream while it waits.
	send := func(write func() error) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(a.writeTimeout))
		ok := write() == nil && rc.Flush() == nil
		_ = rc.SetWriteDeadline(time.Time{})
		return ok
	}
	if !send(func() error {
		w.WriteHeader(http.StatusOK)
		_, err := fmt.Fprintf(w, ": hearsay events from %s\n\n", a.g.LocalID())
		return err
	}) {
		return
	}
	tick := time.NewTicker(a.keepAlive)
	defer tick.Stop()
	var dropped uint64
	for {
		var ok bool
		select {
		case e, open := <-sub.C:
			if !open {
				return
			}
			ok = send(func() error {
				if d := sub.Dropped(); d > dropped {
					if _, err := fmt.Fprintf(w, ": %d events dropped (client too slow)\n\n", d-dropped); err != nil {
						return err
					}
					dropped = d
				}
				return writeEvent(w, e)
			})
		case <-tick.C:
			ok = send(func() error {
				_, err := fmt.Fprint(w, ": keep-alive\n\n")
				return err
			})
		case <-r.Context().Done():
			return
		case <-a.stopping:
			return
		}
		if !ok {
			return
		}
	}
}

// streamMetrics exports the open event streams and the refused ones.
func (a *Agent) streamMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hearsay_event_streams", Help: "Open GET /v1/events streams.",
		}, func() float64 { return float64(a.streams.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "hearsay_event_streams_refused_total", Help: "GET /v1/events streams refused with 503 for going over --max-event-streams.",
		}, func() float64 { return float64(a.streamsRefused.Load()) }),
	}
}

// writeEvent writes one server-sent event: "event: <kind>", "data: <JSON>"
// on one line, and a blank line.
func writeEvent(w io.Writer, e api.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, data)
	return err
}

// parseKinds parses a comma-separated list of event kinds; "" means all.
func parseKinds(s string) ([]gossiper.EventKind, error) {
	var kinds []gossiper.EventKind
	for name := range strings.SplitSeq(s, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		k, err := gossiper.ParseEventKind(name)
		if err != nil {
			return nil, err
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}
