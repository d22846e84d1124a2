package sim

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper/core"
)

// hwMark is the highest (generation, max version) an observer held of an
// endpoint, and whether it removed it since.
type hwMark struct {
	gen, ver int64
	removed  bool
}

// goneNode is a node shut down or removed, at generation gen, in round
// round: no live node may hold it up (or running) at that generation
// again once the news had time to spread.
type goneNode struct {
	gen   int64
	round int
}

// clean reports whether nothing disturbs the cluster now: no loss, no
// partition or block, no slow or paused node.
func (e *engine) clean() bool {
	if e.loss > 0 || e.faulty {
		return false
	}
	for _, n := range e.nodes {
		if n.up && (n.paused || n.slow > 0) {
			return false
		}
	}
	return true
}

// markClean notes that faults may have stopped at round r: if the cluster
// is clean, what the live nodes hold now must reach every live node within
// the bound.
func (m *measure) markClean(e *engine, r int) {
	m.checkAt = 0
	if !e.clean() {
		return
	}
	n := len(e.nodes)
	m.target, m.hasTgt = make([]core.EndpointVersion, n), make([]bool, n)
	for _, o := range e.nodes[:m.watched] {
		if !o.live() {
			continue
		}
		m.buf = o.core.EndpointVersions(m.buf[:0])
		for _, v := range m.buf {
			j, ok := e.byID[v.ID]
			if ok && (!m.hasTgt[j] || newer(v, m.target[j])) {
				m.target[j], m.hasTgt[j] = v, true
			}
		}
	}
	m.faultEnd, m.checkAt, m.recovery = r, r+m.bound, -1
}

// newer reports whether a holds a later state of its endpoint than b.
func newer(a, b core.EndpointVersion) bool {
	return a.Generation > b.Generation || a.Generation == b.Generation && a.StatesVersion > b.StatesVersion
}

// checkViews checks, at the watched observers, that no endpoint went back
// to an older (generation, version), and that no shut-down or removed node
// is held up or running again.
func (m *measure) checkViews(e *engine, r int) {
	for _, o := range e.nodes[:m.watched] {
		if !o.up {
			continue
		}
		m.buf = o.core.EndpointVersions(m.buf[:0])
		row := m.hw[o.idx]
		for _, v := range m.buf {
			j, ok := e.byID[v.ID]
			if !ok {
				continue
			}
			h := &row[j]
			older := v.Generation < h.gen || v.Generation == h.gen && v.MaxVersion < h.ver
			switch {
			case h.removed && older:
				m.violate("round %d: %s holds %s again at (%d, %d) after removing it at (%d, %d): a removed node resurrected (known finding, see doc.go)", r, o.id, v.ID, v.Generation, v.MaxVersion, h.gen, h.ver)
			case older:
				m.violate("round %d: %s went back from (%d, %d) to (%d, %d) for %s", r, o.id, h.gen, h.ver, v.Generation, v.MaxVersion, v.ID)
			}
			*h = hwMark{gen: v.Generation, ver: v.MaxVersion}
		}
		for _, j := range slices.Sorted(maps.Keys(m.gone)) {
			g := m.gone[j]
			if r < g.round+m.bound || m.flagged[[2]int{o.idx, j}] {
				continue
			}
			if v, ok := o.core.EndpointVersion(e.nodes[j].id); ok && v.Generation <= g.gen && (v.Up || v.Status == endpointstate.StatusNormal) {
				m.flagged[[2]int{o.idx, j}] = true
				m.violate("round %d: %s holds %s %s at generation %d, %d rounds after it was shut down or removed at generation %d: resurrected", r, o.id, v.ID, map[bool]string{true: "up", false: "running"}[v.Up], v.Generation, r-g.round, g.gen)
			}
		}
	}
}

// checkConverged checks, each round after faults stopped until it holds
// (or the bound passes: a violation), that every live watched node holds
// what the live nodes held then.
func (m *measure) checkConverged(e *engine, r int) {
	var bad []string
	behind := 0
	for _, o := range e.nodes[:m.watched] {
		if !o.live() {
			continue
		}
		for j, want := range m.target {
			if !m.hasTgt[j] || want.Status == endpointstate.StatusLeft {
				continue
			}
			if v, ok := o.core.EndpointVersion(want.ID); !ok || newer(want, v) {
				if behind++; len(bad) < 3 && r == m.checkAt {
					bad = append(bad, fmt.Sprintf("%s holds %s at (%d, %d), want (%d, %d)", o.id, want.ID, v.Generation, v.StatesVersion, want.Generation, want.StatesVersion))
				}
			}
		}
	}
	switch {
	case behind == 0:
		m.recovery, m.checkAt = r-m.faultEnd, 0
	case r == m.checkAt:
		m.recovery = -1
		m.violate("round %d: not converged %d rounds (2·log₃N + 5) after faults stopped at round %d: %d endpoint views behind, e.g. %v", r, m.bound, m.faultEnd, behind, bad)
	}
}

// converged reports whether the live watched nodes hold the same
// endpoints, generations and application states.
func (m *measure) converged(e *engine) bool {
	var ref []core.EndpointVersion
	for _, o := range e.nodes[:m.watched] {
		if !o.live() {
			continue
		}
		m.buf = o.core.EndpointVersions(m.buf[:0])
		if ref == nil {
			ref = append([]core.EndpointVersion(nil), m.buf...)
			continue
		}
		if len(ref) != len(m.buf) {
			return false
		}
		for i, v := range m.buf {
			w := ref[i]
			if v.ID != w.ID || v.Generation != w.Generation || v.StatesVersion != w.StatesVersion {
				return false
			}
		}
	}
	return true
}
