package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/gossiper"
)

// keepAlive is how often an idle event stream gets a comment line, so that
// proxies and clients see the connection is alive.
const keepAlive = 15 * time.Second

// writeTimeout bounds each write of an event stream.
const writeTimeout = 10 * time.Second

// streamEvents serves membership events as server-sent events until the
// client goes away or the agent stops. ?kinds=dead,alive filters them.
func (a *Agent) streamEvents(w http.ResponseWriter, r *http.Request) {
	kinds, err := parseKinds(r.URL.Query().Get("kinds"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "kinds: %v", err)
		return
	}
	sub := a.g.Subscribe(kinds...)
	defer sub.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": hearsay events from %s\n\n", a.g.LocalID())
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	var dropped uint64
	for {
		// A client that stops reading must not pin this handler: every
		// write has a deadline.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		select {
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			if d := sub.Dropped(); d > dropped {
				fmt.Fprintf(w, ": %d events dropped (client too slow)\n\n", d-dropped)
				dropped = d
			}
			if writeEvent(w, e) != nil {
				return
			}
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return
		case <-a.stopping:
			return
		}
		if rc.Flush() != nil {
			return
		}
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
