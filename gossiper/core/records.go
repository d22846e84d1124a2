package core

import (
	"iter"
	"maps"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// records holds the node's one record per known endpoint: the endpoint's
// state (records is the store of the node's endpointstate.Map, see
// [endpointstate.NewMapIn]) and, for a peer the node tracks, its liveness
// and failure-detector state, in one map entry and one allocation. The
// node's own endpoint has a state and is never tracked; a peer is tracked
// from its first change until it is removed.
type records struct {
	m map[string]*peer
	// states counts the records holding a state; peers the tracked ones.
	states, peers int
}

func newRecords() *records { return &records{m: map[string]*peer{}} }

// get returns the tracked peer ep, or nil.
func (r *records) get(ep string) *peer {
	if p := r.m[ep]; p != nil && p.has(flagTracked) {
		return p
	}
	return nil
}

// track returns the tracked peer ep, making its record tracked (its
// liveness fields zero) if it was not.
func (r *records) track(ep string) *peer {
	p := r.m[ep]
	if p == nil {
		p = &peer{}
		r.m[ep] = p
	}
	if !p.has(flagTracked) {
		p.set(flagTracked, true)
		r.peers++
	}
	return p
}

// untrack stops tracking ep (the caller has untracked its detector
// state), dropping the record if it holds no state either.
func (r *records) untrack(ep string) {
	p := r.m[ep]
	if p == nil || !p.has(flagTracked) {
		return
	}
	r.peers--
	if !p.has(flagHasState) {
		delete(r.m, ep)
		return
	}
	st := p.st
	st.Aux = flagHasState
	*p = peer{st: st}
}

// all yields every tracked peer, in no order.
func (r *records) all() iter.Seq2[string, *peer] {
	return func(yield func(string, *peer) bool) {
		for ep, p := range r.m {
			if p.has(flagTracked) && !yield(ep, p) {
				return
			}
		}
	}
}

// Get is endpointstate.Store's: ep's state, or nil.
func (r *records) Get(ep string) *endpointstate.EndpointState {
	if p := r.m[ep]; p != nil && p.has(flagHasState) {
		return &p.st
	}
	return nil
}

// Put is endpointstate.Store's: it copies *s into ep's record.
func (r *records) Put(ep string, s *endpointstate.EndpointState) *endpointstate.EndpointState {
	p := r.m[ep]
	if p == nil {
		p = &peer{}
		r.m[ep] = p
	}
	if !p.has(flagHasState) {
		p.set(flagHasState, true)
		r.states++
	}
	if &p.st != s {
		flags := p.st.Aux
		p.st = *s
		p.st.Aux = flags
	}
	return &p.st
}

// Delete is endpointstate.Store's: ep's record no longer holds a state
// (the state is left as it was, for the Map's iterations in progress),
// and goes if ep is not tracked either.
func (r *records) Delete(ep string) {
	p := r.m[ep]
	if p == nil || !p.has(flagHasState) {
		return
	}
	p.set(flagHasState, false)
	r.states--
	if !p.has(flagTracked) {
		delete(r.m, ep)
	}
}

// Len is endpointstate.Store's: the number of states.
func (r *records) Len() int { return r.states }

// All is endpointstate.Store's: every state, in no order.
func (r *records) All() iter.Seq2[string, *endpointstate.EndpointState] {
	return func(yield func(string, *endpointstate.EndpointState) bool) {
		for ep, p := range r.m {
			if p.has(flagHasState) && !yield(ep, &p.st) {
				return
			}
		}
	}
}

// sideTableKeep is how many entries' worth of table a sideTable keeps
// once its entries are dropped.
const sideTableKeep = 64

// sideTable holds a value for the few endpoints in a passing condition
// (an echo in flight, a peer that left), beside their records. A Go map
// never shrinks, and a join or a partition healing can put every peer in
// the table at once: when few are left of many, it is rebuilt at its size.
type sideTable[V any] struct {
	m map[string]V
	// peak is the most entries since m was made.
	peak int
}

func newSideTable[V any]() sideTable[V] { return sideTable[V]{m: map[string]V{}} }

// has reports whether ep has an entry.
func (t *sideTable[V]) has(ep string) bool {
	_, ok := t.m[ep]
	return ok
}

// set sets ep's entry.
func (t *sideTable[V]) set(ep string, v V) {
	t.m[ep] = v
	t.peak = max(t.peak, len(t.m))
}

// drop removes ep's entry, if any.
func (t *sideTable[V]) drop(ep string) {
	if _, ok := t.m[ep]; !ok {
		return
	}
	delete(t.m, ep)
	if t.peak > sideTableKeep && len(t.m) <= t.peak/8 {
		kept := make(map[string]V, len(t.m))
		maps.Copy(kept, t.m)
		t.m, t.peak = kept, len(kept)
	}
}
