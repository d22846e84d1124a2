package endpointstate

import "iter"

// Store is where a [Map] keeps its states, by endpoint ID. [NewMap] keeps
// them in a Go map of its own; a caller that keeps a record of its own
// per endpoint can pass [NewMapIn] a Store that holds each state inside
// that record, so an endpoint costs one map entry and one allocation
// rather than two of each. A Store is the Map's: only the Map changes it.
type Store interface {
	// Get returns endpoint's state, or nil.
	Get(endpoint string) *EndpointState
	// Put stores s as endpoint's state, replacing any, and returns the
	// stored state: s itself, or the state *s was copied into (the
	// Map then uses that one, and s is not kept).
	Put(endpoint string, s *EndpointState) *EndpointState
	// Delete drops endpoint's state. A state it returned before may
	// still be read (a Map's iteration in progress skips it) but is no
	// longer the endpoint's.
	Delete(endpoint string)
	// Len returns the number of states.
	Len() int
	// All yields every endpoint and its state, in any order.
	All() iter.Seq2[string, *EndpointState]
}

// A NumberedStore is a Store that keeps its states by their endpoints'
// numbers in an [IDTable], possibly shared with other stores: a [Map] over
// one walks the table's ascending order (built once for all the stores
// sharing it) rather than keeping a sorted list of its own, and never
// sorts. The walk visits every number in the table, so it suits stores
// that hold most of their table's IDs, as the simulator's nodes do.
type NumberedStore interface {
	Store
	// IDs returns the table numbering the store's endpoints: an endpoint
	// the store holds is numbered there.
	IDs() *IDTable
	// ByNumber returns the state of the endpoint numbered i, or nil if
	// the store holds none.
	ByNumber(i uint32) *EndpointState
}

// mapStore is NewMap's Store: a Go map of pointers.
type mapStore map[string]*EndpointState

func (s mapStore) Get(endpoint string) *EndpointState { return s[endpoint] }

func (s mapStore) Put(endpoint string, st *EndpointState) *EndpointState {
	s[endpoint] = st
	return st
}

func (s mapStore) Delete(endpoint string) { delete(s, endpoint) }

func (s mapStore) Len() int { return len(s) }

func (s mapStore) All() iter.Seq2[string, *EndpointState] {
	return func(yield func(string, *EndpointState) bool) {
		for ep, st := range s {
			if !yield(ep, st) {
				return
			}
		}
	}
}
