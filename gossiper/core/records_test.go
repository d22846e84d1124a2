package core

import (
	"fmt"
	"testing"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	r := newRecords()
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
	assert.Empty(t, r.m, "neither state nor peer: no record")
	assert.Zero(t, r.Len())
	assert.Zero(t, r.peers)
}
