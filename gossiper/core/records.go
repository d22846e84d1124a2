package core

import (
	"iter"
	"maps"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// records holds the node's one record per known endpoint: the endpoint's
// state (records is the store of the node's endpointstate.Map, see
// [endpointstate.NewMapIn]) and, for a peer the node tracks, its liveness
// and failure-detector state, in one allocation. The node's own endpoint
// has a state and is never tracked; a peer is tracked from its first
// change until it is removed.
//
// A node of its own keeps its records in a map by ID. Nodes sharing an
// IDTable (NodeConfig.IDs: the simulator's) keep them in a slice indexed
// by the endpoint's number in the table, which a record holds while it
// exists: 8 bytes an endpoint rather than a map entry of about 44, the
// table's cost shared. (A table of a node's own would cost more than the
// map: its index is a map by ID too, plus the names and counts.)
type records struct {
	m map[string]*peer // when ids is nil
	// ids numbers the endpoints, and slots holds the records by number,
	// when the node shares a table.
	ids   *endpointstate.IDTable
	slots []*peer
	// states counts the records holding a state; peers the tracked ones.
	states, peers int
}

// newRecords returns empty records, numbering their endpoints in ids when
// it is not nil.
func newRecords(ids *endpointstate.IDTable) *records {
	if ids == nil {
		return &records{m: map[string]*peer{}}
	}
	return &records{ids: ids}
}

// record returns ep's record, or nil.
func (r *records) record(ep string) *peer {
	if r.ids == nil {
		return r.m[ep]
	}
	if i, ok := r.ids.Lookup(ep); ok && int(i) < len(r.slots) {
		return r.slots[i]
	}
	return nil
}

// ensure returns ep's record, making an empty one if there is none.
func (r *records) ensure(ep string) *peer {
	if p := r.record(ep); p != nil {
		return p
	}
	p := &peer{}
	if r.ids == nil {
		r.m[ep] = p
		return p
	}
	i := r.ids.Acquire(ep)
	if int(i) >= len(r.slots) {
		r.slots = append(r.slots, make([]*peer, int(i)+1-len(r.slots))...)
	}
	r.slots[i] = p
	return p
}

// drop forgets ep's record.
func (r *records) drop(ep string) {
	if r.ids == nil {
		delete(r.m, ep)
		return
	}
	if i, ok := r.ids.Lookup(ep); ok && int(i) < len(r.slots) && r.slots[i] != nil {
		r.slots[i] = nil
		r.ids.Release(i)
	}
}

// each yields every record holding flag f: in no order from the map, in
// the order of their numbers from the slots. A record made during the
// walk may or may not be visited; one dropped before it is reached is
// not.
func (r *records) each(f peerFlag) iter.Seq2[string, *peer] {
	return func(yield func(string, *peer) bool) {
		if r.ids == nil {
			for ep, p := range r.m {
				if p.has(f) && !yield(ep, p) {
					return
				}
			}
			return
		}
		for i := 0; i < len(r.slots); i++ {
			if p := r.slots[i]; p != nil && p.has(f) && !yield(r.ids.Name(uint32(i)), p) {
				return
			}
		}
	}
}

// get returns the tracked peer ep, or nil.
func (r *records) get(ep string) *peer {
	if p := r.record(ep); p != nil && p.has(flagTracked) {
		return p
	}
	return nil
}

// track returns the tracked peer ep, making its record tracked (its
// liveness fields zero) if it was not.
func (r *records) track(ep string) *peer {
	p := r.ensure(ep)
	if !p.has(flagTracked) {
		p.set(flagTracked, true)
		r.peers++
	}
	return p
}

// untrack stops tracking ep (the caller has untracked its detector
// state), dropping the record if it holds no state either.
func (r *records) untrack(ep string) {
	p := r.record(ep)
	if p == nil || !p.has(flagTracked) {
		return
	}
	r.peers--
	if !p.has(flagHasState) {
		r.drop(ep)
		return
	}
	st := p.st
	st.Aux = flagHasState
	*p = peer{st: st}
}

// all yields every tracked peer, in no particular order.
func (r *records) all() iter.Seq2[string, *peer] { return r.each(flagTracked) }

// Get is endpointstate.Store's: ep's state, or nil.
func (r *records) Get(ep string) *endpointstate.EndpointState {
	if p := r.record(ep); p != nil && p.has(flagHasState) {
		return &p.st
	}
	return nil
}

// Put is endpointstate.Store's: it copies *s into ep's record.
func (r *records) Put(ep string, s *endpointstate.EndpointState) *endpointstate.EndpointState {
	p := r.ensure(ep)
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
	p := r.record(ep)
	if p == nil || !p.has(flagHasState) {
		return
	}
	p.set(flagHasState, false)
	r.states--
	if !p.has(flagTracked) {
		r.drop(ep)
	}
}

// Len is endpointstate.Store's: the number of states.
func (r *records) Len() int { return r.states }

// All is endpointstate.Store's: every state, in no particular order.
func (r *records) All() iter.Seq2[string, *endpointstate.EndpointState] {
	return func(yield func(string, *endpointstate.EndpointState) bool) {
		for ep, p := range r.each(flagHasState) {
			if !yield(ep, &p.st) {
				return
			}
		}
	}
}

// numberedRecords are records numbered in a shared IDTable, as the store
// of an endpointstate.Map that walks them in the table's ascending order
// (see endpointstate.NumberedStore) rather than keeping a sorted list of
// its own: the order is built once for all the nodes sharing the table.
type numberedRecords struct{ *records }

// IDs is endpointstate.NumberedStore's: the table numbering the records.
func (r numberedRecords) IDs() *endpointstate.IDTable { return r.ids }

// ByNumber is endpointstate.NumberedStore's: the state of the endpoint
// numbered i, or nil.
func (r numberedRecords) ByNumber(i uint32) *endpointstate.EndpointState {
	if int(i) < len(r.slots) {
		if p := r.slots[i]; p != nil && p.has(flagHasState) {
			return &p.st
		}
	}
	return nil
}

// store returns the records as the store of the node's endpointstate.Map:
// numbered when they share a table.
func (r *records) store() endpointstate.Store {
	if r.ids != nil {
		return numberedRecords{r}
	}
	return r
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
