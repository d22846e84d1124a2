package core

import (
	"encoding/json"
	"fmt"
	"iter"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// Status is an endpoint's liveness as seen by this node.
type Status string

// Statuses of a [Member].
const (
	// StatusUp: the endpoint answered directly and is not convicted.
	StatusUp Status = "up"
	// StatusDown: convicted, shut down, or not yet confirmed by an echo.
	StatusDown Status = "down"
	// StatusLeft: the endpoint left for good (or was removed or
	// assassinated); it is forgotten after Config.LeftExpiry.
	StatusLeft Status = "left"
)

// Value is one application state as shown to users.
type Value struct {
	// Value is the application value.
	Value string `json:"value"`
	// Version is the owner's version of it.
	Version int64 `json:"version"`
}

// Member is a snapshot of one known endpoint: a value, which stays as it
// was when the membership changes (States included).
type Member struct {
	// ID is the endpoint's node ID.
	ID string `json:"id"`
	// Address is the gossip address it advertises ("host:port").
	Address string `json:"address"`
	// Status is up, down or left.
	Status Status `json:"status"`
	// Generation is the endpoint's generation (start time, seconds).
	Generation int64 `json:"generation"`
	// HeartBeat is the endpoint's heartbeat version.
	HeartBeat int64 `json:"heartbeat"`
	// Phi is the failure detector's suspicion, clamped to a finite
	// maximum (0 for the local node).
	Phi float64 `json:"phi"`
	// Self is true for the local node.
	Self bool `json:"self"`
	// States are the endpoint's live application states (hearsay's own
	// "hearsay."-prefixed keys included).
	States States `json:"states"`
}

// States are an endpoint's live application states as a [Member] shows
// them (tombstones left out). A States is an immutable value that shares
// the node's own copy of the endpoint's states, so reading the membership
// copies none and a States once read never changes. The zero value is
// empty. It encodes to JSON as an object of key → {"value", "version"}.
type States struct {
	all endpointstate.States
}

// StatesOf returns the States holding m's values (for tests and for
// clients that build Members).
func StatesOf(m map[string]Value) States {
	all := make(map[string]endpointstate.VersionedValue, len(m))
	for k, v := range m {
		all[k] = endpointstate.VersionedValue{Value: v.Value, Version: v.Version}
	}
	return States{all: endpointstate.StatesOf(all)}
}

// Lookup returns key's value and whether key is set.
func (s States) Lookup(key string) (Value, bool) {
	v, ok := s.all.Get(key)
	if !ok || v.Deleted {
		return Value{}, false
	}
	return Value{Value: v.Value, Version: v.Version}, true
}

// Get returns key's value, or the zero Value if key is not set.
func (s States) Get(key string) Value {
	v, _ := s.Lookup(key)
	return v
}

// All yields every key and its value in ascending key order.
func (s States) All() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		for k, v := range s.all.All() {
			if !v.Deleted && !yield(k, Value{Value: v.Value, Version: v.Version}) {
				return
			}
		}
	}
}

// Keys returns the keys in ascending order.
func (s States) Keys() []string {
	var out []string
	for k := range s.All() {
		out = append(out, k)
	}
	return out
}

// Len returns the number of keys set.
func (s States) Len() int {
	n := 0
	for range s.All() {
		n++
	}
	return n
}

// Map returns the values as a new map.
func (s States) Map() map[string]Value {
	m := make(map[string]Value)
	for k, v := range s.All() {
		m[k] = v
	}
	return m
}

// Equal reports whether both hold the same keys and values.
func (s States) Equal(o States) bool {
	if s.all.Equal(o.all) {
		return true
	}
	next, stop := iter.Pull2(o.All())
	defer stop()
	for k, v := range s.All() {
		ok2, v2, ok := next()
		if !ok || ok2 != k || v2 != v {
			return false
		}
	}
	_, _, more := next()
	return !more
}

// String formats the values like a map, in key order.
func (s States) String() string { return fmt.Sprint(s.Map()) }

// MarshalJSON encodes the values as a JSON object, as a map of them
// would be.
func (s States) MarshalJSON() ([]byte, error) { return json.Marshal(s.Map()) }

// UnmarshalJSON decodes an object of key → {"value", "version"}.
func (s *States) UnmarshalJSON(b []byte) error {
	var m map[string]Value
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("member states: %w", err)
	}
	*s = StatesOf(m)
	return nil
}
