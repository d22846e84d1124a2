package demo

import (
	"fmt"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/gossiper"
)

// maxLog is how many recent events the screen shows.
const maxLog = 8

// recorder keeps what the nodes' event streams said: the latest events
// for the screen and the convictions of the crashed node. It is safe for
// concurrent use; mu guards every field.
type recorder struct {
	mu        sync.Mutex
	log       []string
	target    string // the node whose convictions are recorded
	cutAt     time.Time
	convicted map[string]Conviction // by observer
}

// Conviction is one observer's conviction of the crashed node.
type Conviction struct {
	// After is the time from the crash to the conviction.
	After time.Duration
	// Phi is the phi at the conviction.
	Phi float64
}

// watch starts recording the convictions of target, crashed at at.
func (r *recorder) watch(target string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target, r.cutAt, r.convicted = target, at, map[string]Conviction{}
}

// convictions returns the convictions recorded since watch.
func (r *recorder) convictions() map[string]Conviction {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Conviction, len(r.convicted))
	for k, v := range r.convicted {
		out[k] = v
	}
	return out
}

// event records event e seen by observer.
func (r *recorder) event(observer string, e gossiper.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Kind == gossiper.EventDead && e.Endpoint == r.target && e.Reason == "convicted" && r.convicted != nil {
		if _, ok := r.convicted[observer]; !ok {
			r.convicted[observer] = Conviction{After: e.Time.Sub(r.cutAt), Phi: e.Phi}
		}
	}
	if observer == e.Endpoint {
		return // its own changes
	}
	line := fmt.Sprintf("%s  %-7s %s sees %s", e.Time.Format("15:04:05.000"), e.Kind, observer, e.Endpoint)
	switch e.Kind {
	case gossiper.EventChange:
		if e.Deleted {
			line += fmt.Sprintf(": %s deleted", e.Key)
		} else {
			line += fmt.Sprintf(": %s=%s", e.Key, e.New)
		}
	case gossiper.EventDead:
		line += " (" + e.Reason
		if e.Reason == "convicted" {
			line += fmt.Sprintf(", phi %.2f", e.Phi)
		}
		line += ")"
	case gossiper.EventRestart:
		line += fmt.Sprintf(" (generation %d -> %d)", e.OldGeneration, e.Generation)
	}
	r.log = append(r.log, line)
	if len(r.log) > maxLog {
		r.log = r.log[len(r.log)-maxLog:]
	}
}

// recent returns the latest event lines, oldest first.
func (r *recorder) recent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}
