package endpointstate

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestMapOrderAndCaches runs random Puts, Removes, Applies, owner writes
// and collections on a Map and checks, after each, what the steady-state
// fast paths rely on: All and Endpoints yield exactly the map's endpoints
// in ascending order with the map's own states, Digests agree, and every
// state's cached MaxVersion and StatesVersion equal the versions counted
// from scratch.
func TestMapOrderAndCaches(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMap()
		now := time.Unix(1_700_000_000, 0)
		endpoint := rapid.SampledFrom([]string{"a", "b", "c", "d", "e"})
		key := rapid.SampledFrom([]string{"k1", "k2", "k3"})
		version := rapid.Int64Range(1, 40)
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				s := NewEndpointState(rapid.Int64Range(1, 3).Draw(t, "gen"))
				s.Set(key.Draw(t, "key"), "v", version.Draw(t, "version"))
				m.Put(endpoint.Draw(t, "endpoint"), s)
			},
			"remove": func(t *rapid.T) {
				m.Remove(endpoint.Draw(t, "endpoint"))
			},
			"apply": func(t *rapid.T) {
				d := Delta{Endpoint: endpoint.Draw(t, "endpoint"), Generation: rapid.Int64Range(1, 3).Draw(t, "gen"),
					HeartBeat: version.Draw(t, "heartbeat"), Reset: rapid.Bool().Draw(t, "reset"),
					GCVersion: rapid.Int64Range(0, 5).Draw(t, "gc")}
				if !d.Reset {
					d.FromVersion = rapid.Int64Range(0, 20).Draw(t, "from")
				}
				for range rapid.IntRange(0, 3).Draw(t, "states") {
					v := VersionedValue{Version: version.Draw(t, "version"), Deleted: rapid.Bool().Draw(t, "deleted")}
					if !v.Deleted {
						v.Value = "x"
					}
					d.States = append(d.States, KeyValue{Key: key.Draw(t, "key"), VersionedValue: v})
				}
				_, _ = m.Apply([]Delta{d}, ApplyOptions{Now: now, Limits: DefaultLimits()})
			},
			"owner writes": func(t *rapid.T) {
				s := m.Get(endpoint.Draw(t, "endpoint"))
				if s == nil {
					return
				}
				if rapid.Bool().Draw(t, "delete") {
					s.Delete(key.Draw(t, "key"), version.Draw(t, "version"), now)
				} else {
					s.Set(key.Draw(t, "key"), "w", version.Draw(t, "version")) // even below the current one
				}
			},
			"collect": func(t *rapid.T) {
				now = now.Add(time.Hour)
				m.CollectGarbage(now, time.Minute)
				if s := m.Get(endpoint.Draw(t, "endpoint")); s != nil {
					s.TrimTombstones(rapid.IntRange(0, 2).Draw(t, "keep"))
				}
			},
			"remove while iterating": func(t *rapid.T) {
				victim := endpoint.Draw(t, "endpoint")
				var seen []string
				removed := false
				for ep, s := range m.All() {
					assert.False(t, removed && ep == victim, "removed endpoint yielded")
					assert.Same(t, m.Get(ep), s)
					seen = append(seen, ep)
					if !removed {
						m.Remove(victim)
						removed = true
					}
				}
				assert.True(t, slices.IsSorted(seen))
			},
			"": func(t *rapid.T) { checkMap(t, m) },
		})
	})
}

// checkMap checks the Map's order and every state's cached versions
// against the map itself.
func checkMap(t *rapid.T, m *Map) {
	want := slices.Sorted(maps.Keys(m.states.(mapStore)))
	var got []string
	for ep, s := range m.All() {
		got = append(got, ep)
		require.Same(t, m.states.Get(ep), s, "All yields the map's own state of %s", ep)
	}
	require.Equal(t, want, got, "All: every endpoint once, ascending")
	require.Equal(t, want, m.Endpoints())
	ds := m.Digests()
	require.Len(t, ds, len(want))
	for i, d := range ds {
		s := m.states.Get(want[i])
		maxStates := s.GCVersion
		for _, v := range s.States.All() {
			maxStates = max(maxStates, v.Version)
		}
		require.Equal(t, want[i], d.Endpoint)
		require.Equal(t, max(maxStates, s.HeartBeat.Version), d.MaxVersion, "%s: MaxVersion", d.Endpoint)
		require.Equal(t, maxStates, s.StatesVersion(), "%s: StatesVersion", d.Endpoint)
	}
}

// TestStatesVersionIgnoresHeartbeat: the version a reader keys derived
// data on moves with the states, not with the heartbeat.
func TestStatesVersionIgnoresHeartbeat(t *testing.T) {
	s := NewEndpointState(1)
	s.Set("k", "v", 3)
	s.HeartBeat.Version = 10
	assert.Equal(t, int64(3), s.StatesVersion())
	assert.Equal(t, int64(10), s.MaxVersion())
	s.Set("k", "w", 11)
	assert.Equal(t, int64(11), s.StatesVersion())
	s.Set("k", "old", 2) // a lower version replacing the highest
	assert.Equal(t, int64(2), s.StatesVersion(), fmt.Sprint(s.States))
}

// TestExamineEpochWraps: when the Examine counter wraps, the stamps of
// earlier calls are cleared, so a state stamped long ago is not taken for
// a duplicate of the new call, and a real duplicate still counts once.
func TestExamineEpochWraps(t *testing.T) {
	m := NewMap()
	s := NewEndpointState(100)
	s.HeartBeat.Version = 5
	m.Put("a", s)
	m.epoch = math.MaxUint32 - 1
	remote := []Digest{{Endpoint: "a", Generation: 100, MaxVersion: 9}}
	req, _ := m.Examine(remote) // epoch MaxUint32: a is stamped with it
	require.Len(t, req, 1)
	s.seen = 1 // as if an earlier call had stamped it with the next epoch
	req, _ = m.Examine(append(remote, remote...))
	assert.Len(t, req, 1, "a is examined once, not skipped as already met")
	assert.EqualValues(t, 1, m.epoch, "the counter restarts at 1")
}
