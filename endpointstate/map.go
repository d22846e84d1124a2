package endpointstate

import (
	"iter"
	"slices"
	"strings"
	"time"
)

// Map holds the state of every endpoint a node knows, its own included,
// keyed by node ID. The zero value is not usable; use [NewMap]. Not safe for
// concurrent use.
type Map struct {
	// states holds the states (see Store); numbered is states when it
	// is a NumberedStore, and then sorted stays empty.
	states   Store
	numbered NumberedStore
	// sorted lists every endpoint and its state in ascending order unless
	// dirty (an endpoint was added, removed or Put since it was built); it
	// is rebuilt lazily, once per membership change, so a steady-state
	// round sorts nothing and looks nothing up. A built slice is never
	// changed in place: an iteration over it survives Put and Remove. Apply
	// updates a known endpoint's state in place, so the pointers stay
	// valid; a state dropped from the map is marked detached.
	sorted []entry
	dirty  bool
	// epoch stamps the endpoints one Examine or WantsFor call has met (see
	// EndpointState.seen), so duplicates cost no per-call set.
	epoch uint32
	// items is BuildDeltas' buffer, kept between calls (cleared), up
	// to keepItems.
	items []item
	// limits, when set, keeps BuildDeltas from sending a state that breaks
	// them.
	limits *Limits
	// scratch, when set, lends the buffers (see Scratch).
	scratch *Scratch
}

// entry is one endpoint of Map.sorted.
type entry struct {
	endpoint string
	state    *EndpointState
}

// NewMap returns an empty map.
func NewMap() *Map {
	return NewMapIn(mapStore{})
}

// NewMapIn returns a map that keeps its states in store, which must be
// empty and is the map's from then on (see [Store]). If store is a
// [NumberedStore], the map walks its table's order rather than keeping a
// sorted list of its endpoints.
func NewMapIn(store Store) *Map {
	m := &Map{states: store}
	m.numbered, _ = store.(NumberedStore)
	return m
}

// SetLimits makes [Map.BuildDeltas] leave out every endpoint whose state
// breaks l (see [Limits.CheckState]): peers would refuse it, and a message
// must never carry a state that makes its receiver refuse part of it. Apply
// never stores such a state; this guards against any other way in.
func (m *Map) SetLimits(l Limits) {
	m.limits = &l
	for _, s := range m.states.All() {
		s.withinLimits = false // checked against other limits, if any
	}
}

// Get returns the state of endpoint, or nil. The state is the map's own:
// callers that keep or change it must Clone it.
func (m *Map) Get(endpoint string) *EndpointState {
	return m.states.Get(endpoint)
}

// Put sets the state of endpoint, replacing any previous one. The map
// keeps s, or a copy of it if its [Store] keeps states in records of its
// own: Get returns the state the map keeps.
func (m *Map) Put(endpoint string, s *EndpointState) {
	old := m.states.Get(endpoint)
	if old == s {
		return
	}
	if old != nil {
		old.detached = true
	}
	s.detached = false
	s.withinLimits = false // maybe checked by another Map, against its limits
	if stored := m.states.Put(endpoint, s); stored != old {
		m.dirty = true
	} else {
		stored.detached = false // copied in place: Map.sorted still points at it
	}
}

// Remove forgets endpoint.
func (m *Map) Remove(endpoint string) {
	if s := m.states.Get(endpoint); s != nil {
		s.detached = true
		m.dirty = true
		m.states.Delete(endpoint)
	}
}

// nextEpoch moves to the next Examine call's epoch. When the counter
// wraps, every stamp is cleared, so no state carries a stale stamp equal
// to a new epoch.
func (m *Map) nextEpoch() {
	if m.epoch++; m.epoch == 0 {
		for _, s := range m.states.All() {
			s.seen = 0
		}
		m.epoch = 1
	}
}

// order returns every endpoint in ascending order, sorting only after a
// membership change. The result is shared: callers must not change it.
func (m *Map) order() []entry {
	if m.dirty || len(m.sorted) != m.states.Len() {
		sorted := make([]entry, 0, m.states.Len())
		for ep, s := range m.states.All() {
			sorted = append(sorted, entry{endpoint: ep, state: s})
		}
		slices.SortFunc(sorted, func(a, b entry) int { return strings.Compare(a.endpoint, b.endpoint) })
		m.sorted, m.dirty = sorted, false
	}
	return m.sorted
}

// All yields every endpoint and its state in ascending endpoint order.
// It sorts only when endpoints were added or removed since the last
// ordered read, and allocates nothing otherwise. The iteration follows the
// order as it was when it began: an endpoint removed during it is skipped,
// one added during it is not visited (over a [NumberedStore], it may be).
// The states are the map's own (see [Map.Get]).
func (m *Map) All() iter.Seq2[string, *EndpointState] {
	return func(yield func(string, *EndpointState) bool) {
		if m.numbered != nil {
			ids := m.numbered.IDs()
			for i, s := range m.AllNumbered() {
				if !yield(ids.Name(i), s) {
					return
				}
			}
			return
		}
		for _, e := range m.order() {
			s := e.state
			if s.detached { // removed or replaced during the iteration
				if s = m.states.Get(e.endpoint); s == nil {
					continue
				}
			}
			if !yield(e.endpoint, s) {
				return
			}
		}
	}
}

// AllNumbered is All for a Map over a [NumberedStore]: every state with
// its endpoint's number in the store's table (its ID is the table's Name
// of it), in All's order. It yields nothing for another store.
func (m *Map) AllNumbered() iter.Seq2[uint32, *EndpointState] {
	return func(yield func(uint32, *EndpointState) bool) {
		if m.numbered == nil {
			return
		}
		for _, i := range m.numbered.IDs().ascending() {
			if s := m.numbered.ByNumber(i); s != nil && !yield(i, s) {
				return
			}
		}
	}
}

// Len returns the number of endpoints.
func (m *Map) Len() int { return m.states.Len() }

// Endpoints returns every endpoint ID in ascending order.
func (m *Map) Endpoints() []string {
	if m.states.Len() == 0 {
		return nil
	}
	out := make([]string, 0, m.states.Len())
	if m.numbered != nil {
		for ep := range m.All() {
			out = append(out, ep)
		}
		return out
	}
	for _, e := range m.order() {
		out = append(out, e.endpoint)
	}
	return out
}

// Digests returns one digest per endpoint, in ascending endpoint order.
func (m *Map) Digests() []Digest {
	out := make([]Digest, 0, m.states.Len())
	for ep, s := range m.All() {
		out = append(out, Digest{Endpoint: ep, Generation: s.HeartBeat.Generation, MaxVersion: s.MaxVersion()})
	}
	return out
}

// Clone returns a deep copy.
func (m *Map) Clone() *Map {
	states := make(mapStore, m.states.Len())
	for ep, s := range m.states.All() {
		states[ep] = s.Clone()
	}
	c := &Map{states: states, limits: m.limits, dirty: true}
	return c
}

// Equal reports whether both maps hold the same endpoints with equal
// replicated state (see [EndpointState.Equal]).
func (m *Map) Equal(o *Map) bool {
	if m.states.Len() != o.states.Len() {
		return false
	}
	for ep, s := range m.states.All() {
		os := o.states.Get(ep)
		if os == nil || !s.Equal(os) {
			return false
		}
	}
	return true
}

// CollectGarbage drops every tombstone seen here at least grace before now
// and raises the owning state's GCVersion to cover it. It returns how many
// tombstones were dropped.
func (m *Map) CollectGarbage(now time.Time, grace time.Duration) int {
	n := 0
	if m.numbered != nil {
		for _, s := range m.All() {
			if len(s.tombstoneSince) > 0 {
				n += s.collectGarbage(now, grace)
			}
		}
		return n
	}
	for _, e := range m.order() { // a slice walk, cheaper than the map's
		if s := e.state; len(s.tombstoneSince) > 0 && !s.detached {
			n += s.collectGarbage(now, grace)
		}
	}
	return n
}

func (s *EndpointState) collectGarbage(now time.Time, grace time.Duration) int {
	n := 0
	for key, since := range s.tombstoneSince {
		if now.Sub(since) < grace {
			continue
		}
		if v, ok := s.States.Get(key); ok && v.Deleted {
			s.GCVersion = max(s.GCVersion, v.Version)
			s.States = s.States.Without(key)
			s.withinLimits = false
			n++
		}
		delete(s.tombstoneSince, key)
	}
	return n
}

// TrimTombstones drops the oldest tombstones (lowest versions) until at
// most keep remain, raising GCVersion to cover them. The owner uses it to
// bound its state when keys are deleted faster than the grace period
// collects them. It returns how many were dropped.
func (s *EndpointState) TrimTombstones(keep int) int {
	if s.States.Len() <= keep {
		return 0 // no more tombstones than keys
	}
	var tombs []KeyValue
	for k, v := range s.States.All() {
		if v.Deleted {
			tombs = append(tombs, KeyValue{Key: k, VersionedValue: v})
		}
	}
	if len(tombs) <= keep {
		return 0
	}
	sortByVersion(tombs)
	drop := tombs[:len(tombs)-keep]
	for _, kv := range drop {
		s.GCVersion = max(s.GCVersion, kv.Version)
		s.States = s.States.Without(kv.Key)
		s.withinLimits = false
		delete(s.tombstoneSince, kv.Key)
	}
	return len(drop)
}
