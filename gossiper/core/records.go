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
// IDTable (NodeConfig.IDs: the simulator's) keep them in place, in chunks
// of chunkLen records indexed by the endpoint's number in the table, which
// a record holds while it exists: no pointer and no allocation of its own
// per endpoint (rather than a map entry of about 44 bytes), the table's
// cost shared, and records of neighbouring numbers side by side in
// memory. (A table of a node's own would cost more than the map: its
// index is a map by ID too, plus the names and counts.) A record in a
// chunk exists while it holds a flag (flagTracked or flagHasState).
type records struct {
	m map[string]*peer // when ids is nil
	// ids numbers the endpoints, and chunks holds the records by number
	// (record i is chunks[i/chunkLen][i%chunkLen]), when the node shares
	// a table.
	ids    *endpointstate.IDTable
	chunks []*[chunkLen]peer
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

// chunkLen is how many records one chunk holds: 136 records of 120
// bytes are 16,320 bytes, 64 short of one of the runtime's size classes,
// so a chunk wastes 0.5 B a record; and a node leaves at most 135 slots
// of its last chunk empty (at 10,000 endpoints, 0.8 B a view; the
// division by a constant is a multiplication). TestRecordSize checks the
// record's size.
const chunkLen = 136

// numbered returns the record numbered i, or nil if it does not exist.
func (r *records) numbered(i uint32) *peer {
	if c := int(i / chunkLen); c < len(r.chunks) && r.chunks[c] != nil {
		if p := &r.chunks[c][i%chunkLen]; p.st.Aux&(flagTracked|flagHasState) != 0 {
			return p
		}
	}
	return nil
}

// record returns ep's record, or nil.
func (r *records) record(ep string) *peer {
	if r.ids == nil {
		return r.m[ep]
	}
	if i, ok := r.ids.Lookup(ep); ok {
		return r.numbered(i)
	}
	return nil
}

// ensure returns ep's record, making an empty one if there is none.
func (r *records) ensure(ep string) *peer {
	if p := r.record(ep); p != nil {
		return p
	}
	if r.ids == nil {
		p := &peer{}
		r.m[ep] = p
		return p
	}
	i := r.ids.Acquire(ep)
	c := int(i / chunkLen)
	if c >= len(r.chunks) {
		r.chunks = append(r.chunks, make([]*[chunkLen]peer, c+1-len(r.chunks))...)
	}
	if r.chunks[c] == nil {
		r.chunks[c] = new([chunkLen]peer)
	}
	// The caller gives the record a flag at once (track or Put): until
	// then it does not exist for numbered.
	p := &r.chunks[c][i%chunkLen]
	*p = peer{}
	p.set(flagNumbered, true)
	p.fd.SetNumber(i)
	return p
}

// drop forgets ep's record.
func (r *records) drop(ep string) {
	if r.ids == nil {
		delete(r.m, ep)
		return
	}
	// Callers drop a record that holds no flag any more, or is about to.
	i, ok := r.ids.Lookup(ep)
	if !ok || int(i/chunkLen) >= len(r.chunks) || r.chunks[i/chunkLen] == nil {
		return
	}
	if p := &r.chunks[i/chunkLen][i%chunkLen]; p.has(flagNumbered) {
		// Without flags the record no longer exists; its fields stay as
		// they were for a walk in progress that holds it, until the
		// number is reused (ensure clears it).
		p.st.Aux = 0
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
		for c := 0; c < len(r.chunks); c++ {
			chunk := r.chunks[c]
			for j := 0; chunk != nil && j < chunkLen; j++ {
				if p := &chunk[j]; p.has(f) && !yield(r.ids.Name(uint32(c*chunkLen+j)), p) {
					return
				}
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

// tracked returns the tracked peer c is about, found by the number the
// change carries (endpointstate.Change.Number), checked against the
// table again, without hashing its ID; nil if it carries none or the
// peer is not tracked, and the caller looks it up by ID.
func (r *records) tracked(c endpointstate.Change) *peer {
	if c.Number == 0 || r.ids == nil || !r.ids.Numbers(c.Number-1, c.Endpoint) {
		return nil
	}
	if p := r.numbered(c.Number - 1); p != nil && p.has(flagTracked) {
		return p
	}
	return nil
}

// ofChange returns the record of c's endpoint, by c's number when it
// has one (tracked), else by its ID (get); nil if there is none.
func (r *records) ofChange(c endpointstate.Change) *peer {
	if p := r.tracked(c); p != nil {
		return p
	}
	return r.get(c.Endpoint)
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
	// The Tracker is untracked: zero but for its number, which stays.
	st := p.st
	st.Aux &= flagHasState | flagNumbered
	*p = peer{fd: p.fd, st: st}
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
	if p := r.numbered(i); p != nil && p.has(flagHasState) {
		return &p.st
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
