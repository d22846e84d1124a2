package core

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestSideTableShrinks: a side table that held many entries (a join's
// echoes) is rebuilt at its size once few are left, keeping them; a small
// one is left as it is.
func TestSideTableShrinks(t *testing.T) {
	tab := newSideTable[int]()
	for i := range 1000 {
		tab.set(fmt.Sprint(i), i)
	}
	require.Equal(t, 1000, tab.peak)
	before := tab.m
	for i := range 990 {
		tab.drop(fmt.Sprint(i))
	}
	assert.Len(t, tab.m, 10)
	assert.LessOrEqual(t, tab.peak, 1000/8, "rebuilt when an eighth was left")
	before["probe"] = -1
	assert.False(t, tab.has("probe"), "a new map, not the grown one")
	for i := 990; i < 1000; i++ {
		v, ok := tab.m[fmt.Sprint(i)]
		assert.True(t, ok)
		assert.Equal(t, i, v)
	}
	small := newSideTable[int]()
	for i := range sideTableKeep {
		small.set(fmt.Sprint(i), i)
	}
	m := small.m
	for i := range sideTableKeep {
		small.drop(fmt.Sprint(i))
	}
	m["probe"] = 1
	assert.True(t, small.has("probe"), "a table that stayed small is kept")
	small.drop("absent") // dropping what is not there changes nothing
	assert.Len(t, small.m, 1)
}

// TestRecordsStateAndPeer: an endpoint's record holds its state and its
// liveness independently: a state without a tracked peer (the node's
// own), a peer tracked then untracked keeps the state, and the record
// goes when it holds neither.
func TestRecordsStateAndPeer(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%t", shared), func(t *testing.T) {
			var ids *endpointstate.IDTable
			if shared {
				ids = endpointstate.NewIDTable()
			}
			testRecordsStateAndPeer(t, newRecords(ids))
		})
	}
}

func testRecordsStateAndPeer(t *testing.T, r *records) {
	st := endpointstate.NewEndpointState(epoch.Unix())
	st.Set(endpointstate.KeyStatus, endpointstate.StatusNormal, 1)
	kept := r.Put("a", st)
	require.NotSame(t, st, kept, "copied into the record")
	assert.Equal(t, st.HeartBeat, kept.HeartBeat)
	assert.Nil(t, r.get("a"), "a state alone is no tracked peer")
	p := r.track("a")
	p.setAlive(true)
	assert.Same(t, kept, &p.st)
	// A state put over the record's (its flags share the state's padding)
	// leaves the record tracked, up and holding a state.
	r.Put("a", endpointstate.NewEndpointState(epoch.Unix()+1))
	require.NotNil(t, r.get("a"), "still tracked")
	assert.True(t, r.get("a").alive(), "still up")
	require.NotNil(t, r.Get("a"))
	assert.Equal(t, epoch.Unix()+1, r.Get("a").HeartBeat.Generation)
	assert.Equal(t, 1, r.Len())
	assert.Equal(t, 1, r.peers)
	r.untrack("a")
	assert.Nil(t, r.get("a"))
	assert.Same(t, kept, r.Get("a"), "the state stays where it was")
	r.track("a")
	assert.False(t, r.get("a").alive(), "tracked afresh")
	r.Delete("a")
	assert.Nil(t, r.Get("a"))
	assert.NotNil(t, r.get("a"), "the peer stays tracked")
	r.untrack("a")
	assert.Nil(t, r.record("a"), "neither state nor peer: no record")
	if r.ids != nil {
		assert.Zero(t, r.ids.Len(), "nor a number")
	}
	assert.Zero(t, r.Len())
	assert.Zero(t, r.peers)
}

// TestRecordsSharedIDs: nodes sharing an IDTable hold one number per ID
// while any of them holds a record of it; a number freed by the last is
// reused for a new ID, and a node that never held the old ID sees no
// record under the new one.
func TestRecordsSharedIDs(t *testing.T) {
	ids := endpointstate.NewIDTable()
	a, b := newRecords(ids), newRecords(ids)
	st := endpointstate.NewEndpointState(epoch.Unix())
	a.Put("x", st)
	a.track("y")
	b.Put("y", st)
	require.Equal(t, 2, ids.Len())
	ix, _ := ids.Lookup("x")
	assert.Nil(t, b.Get("x"), "b holds no record of x")
	assert.Nil(t, b.get("y"), "b holds y's state, not a tracked peer")
	a.untrack("y")
	assert.Nil(t, a.record("y"))
	require.NotNil(t, b.Get("y"), "b's record of y stays")
	assert.Equal(t, 2, ids.Len(), "b still holds y's number")
	a.Delete("x")
	assert.Equal(t, 1, ids.Len(), "nobody holds x: its number is free")
	b.track("z")
	iz, _ := ids.Lookup("z")
	assert.Equal(t, ix, iz, "z takes x's freed number")
	assert.Nil(t, a.record("z"), "a never held z")
	assert.Nil(t, a.Get("x"))
	var seen []string
	for ep := range b.all() {
		seen = append(seen, ep)
	}
	assert.Equal(t, []string{"z"}, seen, "b's tracked peers")
	var states []string
	for ep := range b.All() {
		states = append(states, ep)
	}
	assert.Equal(t, []string{"y"}, states, "b's states")
}

// TestNumberedRecordsMap: Maps over records sharing an IDTable walk their
// states in the table's order (endpointstate.NumberedStore) and keep no
// sorted list: after random Puts, Removes and Applies on two such Maps,
// each Map's All and Endpoints yield exactly its own endpoints, ascending,
// with its own states, also when IDs are freed and renumbered, and an
// endpoint removed during a walk is not yielded after.
func TestNumberedRecordsMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := endpointstate.NewIDTable()
		ms := [2]*endpointstate.Map{}
		held := [2]map[string]bool{{}, {}}
		for i := range ms {
			ms[i] = endpointstate.NewMapIn(newRecords(ids).store())
		}
		now := time.Unix(1_700_000_000, 0)
		which := rapid.IntRange(0, 1)
		endpoint := rapid.SampledFrom([]string{"e", "a", "d", "b", "c", "ab"})
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				i, ep := which.Draw(t, "map"), endpoint.Draw(t, "endpoint")
				ms[i].Put(ep, endpointstate.NewEndpointState(rapid.Int64Range(1, 3).Draw(t, "gen")))
				held[i][ep] = true
			},
			"remove": func(t *rapid.T) {
				i, ep := which.Draw(t, "map"), endpoint.Draw(t, "endpoint")
				ms[i].Remove(ep)
				delete(held[i], ep)
			},
			"apply": func(t *rapid.T) {
				i := which.Draw(t, "map")
				d := endpointstate.Delta{Endpoint: endpoint.Draw(t, "endpoint"), Generation: 2, HeartBeat: rapid.Int64Range(1, 9).Draw(t, "hb"), Reset: true}
				if _, err := ms[i].Apply([]endpointstate.Delta{d}, endpointstate.ApplyOptions{Now: now, Limits: endpointstate.DefaultLimits()}); err == nil && ms[i].Get(d.Endpoint) != nil {
					held[i][d.Endpoint] = true
				}
			},
			"remove while iterating": func(t *rapid.T) {
				i, victim := which.Draw(t, "map"), endpoint.Draw(t, "endpoint")
				var seen []string
				removed := false
				for ep, st := range ms[i].All() {
					assert.False(t, removed && ep == victim, "removed endpoint yielded")
					assert.Same(t, ms[i].Get(ep), st)
					seen = append(seen, ep)
					if !removed {
						ms[i].Remove(victim)
						delete(held[i], victim)
						removed = true
					}
				}
				assert.True(t, slices.IsSorted(seen))
			},
			"": func(t *rapid.T) {
				for i, m := range ms {
					want := slices.Sorted(maps.Keys(held[i]))
					var got []string
					for ep, st := range m.All() {
						got = append(got, ep)
						require.Same(t, m.Get(ep), st)
					}
					require.Equal(t, want, got, "map %d: All", i)
					require.Equal(t, len(want), m.Len())
					if len(want) > 0 {
						require.Equal(t, want, m.Endpoints(), "map %d: Endpoints", i)
					}
				}
			},
		})
	})
}

// TestRecordSize: a chunk of records is 16,320 bytes, 64 short of the
// runtime's 16,384-byte size class (runtime/sizeclasses.go), so a record
// costs its size and 0.5 byte more; a change of the record's size must
// change chunkLen with it.
func TestRecordSize(t *testing.T) {
	size := unsafe.Sizeof(peer{})
	assert.Equal(t, uintptr(120), size, "a record's size (chunkLen is chosen for it)")
	assert.Equal(t, uintptr(16320), size*chunkLen, "a chunk of %d records of %d B nearly fills a size class", chunkLen, size)
}
