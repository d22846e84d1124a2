package faulttest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/gossiper"
)

// watcher polls every agent's view of the membership in the background and
// records each change of status it sees, and the highest phi, so that a
// test can ask afterwards what any agent thought of any other, when. A
// flap shorter than the polling period can be missed: tests check
// hearsay_convictions_total as well.
type watcher struct {
	mu      sync.Mutex // guards the fields below
	last    map[pair]gossiper.Status
	changes []change
	maxPhi  map[pair]float64 // the highest since resetPhi
}

// pair is an observer and the member it observes.
type pair struct{ observer, subject string }

// change is one status change seen on one agent.
type change struct {
	at       time.Time
	observer string
	subject  string
	from, to gossiper.Status
}

func (c change) String() string {
	return fmt.Sprintf("%s: %s saw %s go %s → %s", c.at.Format("15:04:05.000"), c.observer, c.subject, c.from, c.to)
}

// watch starts a watcher on as, polling every period, until t ends.
func watch(t *testing.T, as []*agent, period time.Duration) *watcher {
	w := &watcher{last: map[pair]gossiper.Status{}, maxPhi: map[pair]float64{}}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			for _, a := range as {
				if v, err := a.view(); err == nil {
					w.record(a.id, time.Now(), v)
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
	return w
}

func (w *watcher) record(observer string, at time.Time, v map[string]gossiper.Member) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, m := range v {
		if m.Self {
			continue
		}
		p := pair{observer, id}
		if old, ok := w.last[p]; !ok || old != m.Status {
			w.changes = append(w.changes, change{at: at, observer: observer, subject: id, from: old, to: m.Status})
			w.last[p] = m.Status
		}
		w.maxPhi[p] = max(w.maxPhi[p], m.Phi)
	}
}

// downs returns the changes away from up, made in [from, to], by an
// observer of observers about a subject of subjects.
func (w *watcher) downs(observers, subjects []string, from, to time.Time) []change {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []change
	for _, c := range w.changes {
		if c.to != gossiper.StatusUp && c.from == gossiper.StatusUp && !c.at.Before(from) && !c.at.After(to) &&
			slices.Contains(observers, c.observer) && slices.Contains(subjects, c.subject) {
			out = append(out, c)
		}
	}
	return out
}

// firstDowns returns, for each observer and subject of downs(...), the
// time of its first change away from up.
func (w *watcher) firstDowns(observers, subjects []string, from, to time.Time) map[pair]time.Time {
	out := map[pair]time.Time{}
	for _, c := range w.downs(observers, subjects, from, to) {
		p := pair{c.observer, c.subject}
		if _, ok := out[p]; !ok {
			out[p] = c.at
		}
	}
	return out
}

// resetPhi starts a new window for peakPhi.
func (w *watcher) resetPhi() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.maxPhi)
}

// peakPhi returns the highest phi seen since resetPhi, and by whom of
// whom.
func (w *watcher) peakPhi() (float64, pair) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var best float64
	var who pair
	for p, phi := range w.maxPhi {
		if phi > best {
			best, who = phi, p
		}
	}
	return best, who
}
