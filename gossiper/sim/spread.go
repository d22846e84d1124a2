package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/core"
)

// update is one application-state change whose spread is followed.
type update struct {
	ep       int // the node that made it
	gen, ver int64
	at       time.Duration
	informed []bool
	have     int   // live nodes informed
	need0    int   // live nodes when it was made
	buckets  []int // nodes informed k rounds after it was made
	done     bool
}

// updated registers the update n just made.
func (m *measure) updated(e *engine, n *simNode) {
	v, _ := n.core.EndpointVersion(n.id)
	u := &update{ep: n.idx, gen: v.Generation, ver: v.StatesVersion, at: e.now,
		informed: make([]bool, len(e.nodes)), need0: m.liveN}
	m.updates = append(m.updates, u)
	m.pending[n.idx] = append(m.pending[n.idx], u)
	m.inform(u, n)
	m.recheck(e)
}

// maybeUpdate makes round r's update, if one is due.
func (m *measure) maybeUpdate(e *engine, r int) {
	every := e.sc.UpdateEvery
	if every == 0 {
		every = 5
	}
	if every < 0 || r%every != 0 || r >= e.sc.Rounds-m.quiet {
		return
	}
	var live []*simNode
	for _, n := range e.nodes {
		if n.live() && n.core.Running() {
			live = append(live, n)
		}
	}
	if len(live) == 0 {
		return
	}
	n := live[e.rng.IntN(len(live))]
	e.set1(n, "sim.update", fmt.Sprintf("r%d", r))
}

// covers reports whether a node holding v holds update u (or a later
// generation of its endpoint).
func covers(v core.EndpointVersion, u *update) bool {
	return v.Generation > u.gen || v.Generation == u.gen && v.StatesVersion >= u.ver
}

// inform marks o informed of u now.
func (m *measure) inform(u *update, o *simNode) {
	if u.done || u.informed[o.idx] {
		return
	}
	u.informed[o.idx] = true
	if o.live() {
		u.have++
	}
}

// informAt marks o informed of u now and counts it in u's spread.
func (m *measure) informAt(e *engine, u *update, o *simNode) {
	if u.done || u.informed[o.idx] {
		return
	}
	m.inform(u, o)
	k := int(math.Ceil(float64(e.now-u.at) / float64(e.sc.Interval)))
	for len(u.buckets) <= k {
		u.buckets = append(u.buckets, 0)
	}
	u.buckets[k]++
}

// recheck completes the updates every live node now holds.
func (m *measure) recheck(e *engine) {
	for ep, list := range m.pending {
		for i := 0; i < len(list); i++ {
			u := list[i]
			if u.have >= m.liveN {
				u.done, u.informed = true, nil // a done update needs no per-node record
				m.rtc = append(m.rtc, float64(e.now-u.at)/float64(e.sc.Interval))
				list = append(list[:i], list[i+1:]...)
				i--
			}
		}
		m.pending[ep] = list
	}
}

// sweep catches informed nodes no event reported (a shadow round's
// state, for one).
func (m *measure) sweep(e *engine) {
	any := false
	for ep, list := range m.pending {
		for _, u := range list {
			for _, o := range e.nodes {
				if o.live() && !u.informed[o.idx] {
					if v, ok := o.core.EndpointVersion(e.nodes[ep].id); ok && covers(v, u) {
						m.informAt(e, u, o)
						any = true
					}
				}
			}
		}
	}
	if any {
		m.recheck(e)
	}
}

// informedAll counts the live nodes that hold every pending update.
func (m *measure) informedAll(e *engine) int {
	count := 0
	for _, o := range e.nodes {
		if !o.live() {
			continue
		}
		ok := true
		for _, list := range m.pending {
			for _, u := range list {
				ok = ok && u.informed[o.idx]
			}
		}
		if ok {
			count++
		}
	}
	return count
}

// spread is the mean fraction of live nodes informed k rounds after an
// update, over the updates whose k-th round ended within the run.
func (m *measure) spread(e *engine) []float64 {
	kmax := 0
	for _, u := range m.updates {
		kmax = max(kmax, len(u.buckets))
	}
	kmax = min(kmax, 200)
	end := time.Duration(e.round) * e.sc.Interval
	var out []float64
	for k := range kmax {
		sum, count := 0.0, 0
		for _, u := range m.updates {
			if u.at+time.Duration(k)*e.sc.Interval > end || u.need0 == 0 {
				continue
			}
			informed := 1 // the node that made it
			for i := 1; i <= k && i < len(u.buckets); i++ {
				informed += u.buckets[i]
			}
			if len(u.buckets) > 0 {
				informed += u.buckets[0]
			}
			sum += min(1, float64(informed)/float64(u.need0))
			count++
		}
		if count > 0 {
			out = append(out, sum/float64(count))
		}
	}
	return out
}
