package endpointstate

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HeartBeatState is Cassandra's (generation, version) pair. Generation is
// set when a node starts and grows with every restart; Version is bumped
// every gossip round from the node's [VersionCounter].
type HeartBeatState struct {
	// Generation is the node's start time in wall-clock seconds, strictly
	// increasing across restarts. Always > 0 for a real state.
	Generation int64
	// Version is the heartbeat's version within the generation.
	Version int64
}

// VersionedValue is one application state: a value and the version the
// owner gave it. A tombstone (Deleted true, empty Value) records a delete.
type VersionedValue struct {
	// Value is the application value. It may hold arbitrary bytes.
	Value string
	// Version orders the values of one endpoint within a generation.
	Version int64
	// Deleted marks a tombstone: the key was deleted at Version.
	Deleted bool
}

// KeyValue is one application state with its key, as carried in a [Delta].
type KeyValue struct {
	// Key is the application state's key, valid UTF-8.
	Key string
	VersionedValue
}

// VersionCounter hands out the versions of one node: heartbeat bumps and
// every application-state change share it, as in Cassandra, so a node's max
// version orders everything it has said. The zero value starts at 1. Not
// safe for concurrent use.
type VersionCounter struct {
	last int64
}

// Next returns a version higher than every version returned before.
func (c *VersionCounter) Next() int64 {
	c.last++
	return c.last
}

// Reserved application-state keys, set by hearsay itself. Keys starting
// with [ReservedPrefix] cannot be set by applications.
const (
	// ReservedPrefix starts every key hearsay reserves for itself.
	ReservedPrefix = "hearsay."
	// KeyAddress holds the "host:port" gossip address peers reach the
	// node at.
	KeyAddress = "hearsay.addr"
	// KeyStatus holds the node's lifecycle status: one of the Status
	// constants.
	KeyStatus = "hearsay.status"
	// ReservedKeys is how many reserved keys a state can hold; they come
	// on top of Limits.MaxKeys.
	ReservedKeys = 3
	// KeyExpires holds, with StatusLeft, the wall-clock time (Unix
	// seconds, decimal) at which every node forgets the endpoint. It is
	// absolute, so all nodes agree on it whenever they learned of it.
	KeyExpires = "hearsay.expires"
)

// Status values of [KeyStatus].
const (
	// StatusNormal is a running node.
	StatusNormal = "normal"
	// StatusShutdown is a node that announced a graceful shutdown.
	StatusShutdown = "shutdown"
	// StatusLeft is a node that left the cluster for good, or was
	// removed or assassinated by an operator; it expires after a while.
	StatusLeft = "left"
)

// EndpointState is everything known about one endpoint: its heartbeat, its
// application states (tombstones included) and the version up to which
// tombstones have been garbage-collected. Not safe for concurrent use.
type EndpointState struct {
	// HeartBeat is the endpoint's generation and heartbeat version.
	HeartBeat HeartBeatState
	// States holds each application-state key's latest value or
	// tombstone. It is an immutable value, shared freely (Clone and
	// readers copy it at no cost). Change it only through Set, Delete and
	// Map.Apply, which keep the cached maximum version (see MaxVersion)
	// up to date; read it freely.
	States States
	// GCVersion is the highest version of a tombstone dropped from States
	// (0 when none was).
	GCVersion int64

	// tombstoneSince records, locally, when each tombstone was first seen
	// here; it decides when the tombstone may be collected. Never sent.
	tombstoneSince map[string]time.Time
	// maxState caches the highest version in States when maxKnown, so
	// MaxVersion, asked for once per digest and round, does not walk the
	// map. put raises it; collecting a tombstone leaves it, which stays
	// right because GCVersion then covers the tombstone's version.
	maxState int64
	// seen is the Map.Examine or Map.WantsFor call that last met this state (see
	// Map.epoch). Local, never copied. 32 bits, so that the state packs in
	// 64 bytes; the Map clears the stamps when its counter wraps.
	seen     uint32
	maxKnown bool
	// detached marks a state its Map dropped (Remove, or Put of another
	// state for the endpoint), for the Map's iterations. Local.
	detached bool
	// withinLimits records that States satisfied the limits of the Map
	// holding the state ([Map.SetLimits]) when it last checked them, so
	// BuildDeltas, which checks every state it sends, checks it again only
	// after States changed: every change of States clears it (putAll,
	// collecting or trimming tombstones), and so do Map.Put and SetLimits.
	// Local, not copied by Clone; it fits the state's padding.
	withinLimits bool
	// Aux is a byte of the [Store]'s own: a Store that keeps states in
	// records of its own (see [NewMapIn]) may keep bookkeeping bits here,
	// in the state's padding, rather than in a word of its record. Local:
	// never sent, ignored by Equal, not copied by Clone; the Map never
	// reads or changes it.
	Aux uint8
}

// NewEndpointState returns an empty state of the given generation.
func NewEndpointState(generation int64) *EndpointState {
	return &EndpointState{
		HeartBeat: HeartBeatState{Generation: generation},
		maxKnown:  true,
	}
}

// MaxVersion is the highest version in the state: the heartbeat's, any
// application state's, or GCVersion. It is what a [Digest] carries.
func (s *EndpointState) MaxVersion() int64 {
	if !s.maxKnown {
		s.maxState = 0
		for _, v := range s.States.All() {
			s.maxState = max(s.maxState, v.Version)
		}
		s.maxKnown = true
	}
	return max(s.HeartBeat.Version, s.GCVersion, s.maxState)
}

// StatesVersion is the highest version among States and GCVersion: it
// changes whenever States does (every change comes with a higher
// version), and not with the heartbeat, so a reader can keep what it
// derived from States for as long as the generation and StatesVersion
// stay the same.
func (s *EndpointState) StatesVersion() int64 {
	s.MaxVersion() // fills the cache
	return max(s.GCVersion, s.maxState)
}

// Get returns the live value of key; ok is false for an absent or deleted
// key.
func (s *EndpointState) Get(key string) (value string, ok bool) {
	v, found := s.States.Get(key)
	if !found || v.Deleted {
		return "", false
	}
	return v.Value, true
}

// Address returns the endpoint's gossip address ([KeyAddress]), or "".
func (s *EndpointState) Address() string {
	v, _ := s.Get(KeyAddress)
	return v
}

// Status returns the endpoint's lifecycle status ([KeyStatus]), or "".
func (s *EndpointState) Status() string {
	v, _ := s.Get(KeyStatus)
	return v
}

// Expires returns the absolute expiry of a left endpoint ([KeyExpires])
// and whether it has a valid one.
func (s *EndpointState) Expires() (time.Time, bool) {
	v, ok := s.Get(KeyExpires)
	if !ok {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// Set records value for key at version, as the owner does for its own
// state.
func (s *EndpointState) Set(key, value string, version int64) {
	s.put(key, VersionedValue{Value: value, Version: version}, time.Time{})
}

// Delete records a tombstone for key at version, seen at now.
func (s *EndpointState) Delete(key string, version int64, now time.Time) {
	s.put(key, VersionedValue{Version: version, Deleted: true}, now)
}

func (s *EndpointState) put(key string, v VersionedValue, now time.Time) {
	s.putAll([]KeyValue{{Key: key, VersionedValue: v}}, now)
}

// putAll records kvs at once, in one new States; of several for one key
// the last wins.
func (s *EndpointState) putAll(kvs []KeyValue, now time.Time) {
	if len(kvs) == 0 {
		return
	}
	s.withinLimits = false
	for i := range kvs {
		kv := &kvs[i]
		if old, ok := s.States.Get(kv.Key); ok && kv.Version < old.Version {
			s.maxKnown = false // the old version may have been the maximum
		}
		s.maxState = max(s.maxState, kv.Version)
		if kv.Deleted {
			if s.tombstoneSince == nil {
				s.tombstoneSince = map[string]time.Time{}
			}
			s.tombstoneSince[kv.Key] = now
		} else if s.tombstoneSince != nil {
			delete(s.tombstoneSince, kv.Key)
		}
	}
	s.States = s.States.withAll(kvs)
}

// LiveKeys returns the number of application keys (not tombstones, not
// hearsay's reserved keys) and the total bytes of their keys and values:
// what Limits.MaxKeys and Limits.MaxBytes bound.
func (s *EndpointState) LiveKeys() (keys, bytes int) {
	for k, v := range s.States.All() {
		if !v.Deleted && !strings.HasPrefix(k, ReservedPrefix) {
			keys++
			bytes += len(k) + len(v.Value)
		}
	}
	return keys, bytes
}

// Clone returns a copy, local bookkeeping included. The copy shares the
// immutable States.
func (s *EndpointState) Clone() *EndpointState {
	c := &EndpointState{
		HeartBeat: s.HeartBeat,
		States:    s.States,
		GCVersion: s.GCVersion,
		maxState:  s.maxState,
		maxKnown:  s.maxKnown,
	}
	if len(s.tombstoneSince) > 0 {
		c.tombstoneSince = maps.Clone(s.tombstoneSince)
	}
	return c
}

// Equal reports whether two states hold the same replicated data:
// heartbeat, application states and GCVersion. Local bookkeeping is
// ignored.
func (s *EndpointState) Equal(o *EndpointState) bool {
	return s.HeartBeat == o.HeartBeat && s.GCVersion == o.GCVersion && s.States.Equal(o.States)
}

// SortedKeys returns the keys of States in ascending order.
func (s *EndpointState) SortedKeys() []string {
	return s.States.Keys()
}

// entriesAbove returns the application states with version > v, in
// ascending version order (ties, which one counter prevents, by key).
func (s *EndpointState) entriesAbove(v int64) []KeyValue {
	var out []KeyValue
	for k, val := range s.States.All() {
		if val.Version > v {
			out = append(out, KeyValue{Key: k, VersionedValue: val})
		}
	}
	sortByVersion(out)
	return out
}

func sortByVersion(kvs []KeyValue) {
	slices.SortFunc(kvs, func(a, b KeyValue) int {
		if a.Version != b.Version {
			if a.Version < b.Version {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
}
