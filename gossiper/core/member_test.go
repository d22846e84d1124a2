package core

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMembersShareUnchangedStates checks that a snapshot copies no
// application state (one allocation, the slice, however many states),
// that a change shows in the next snapshot, and that the States an
// earlier snapshot handed out never change.
func TestMembersShareUnchangedStates(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	n0, n1 := h.node("n0"), h.node("n1")
	before := n0.Members(h.now)
	h.round()
	after := n0.Members(h.now)
	require.Len(t, after, len(before))
	for i := range before {
		assert.True(t, before[i].States.Equal(after[i].States), "%s: states unchanged", before[i].ID)
	}
	assert.Equal(t, 1.0, testing.AllocsPerRun(20, func() { n0.Members(h.now) }), "one allocation: the slice")
	heldN1 := before[1].States
	require.Equal(t, "n1", before[1].ID)
	_, hadLoad := heldN1.Lookup("load")
	require.False(t, hadLoad)

	out, err := n1.SetState(h.now, "load", "0.5")
	require.NoError(t, err)
	h.deliver(n1, out)
	require.Positive(t, h.until(20, func() bool {
		return n0.Members(h.now)[1].States.Get("load").Value == "0.5"
	}), "the change reaches n0")
	changed := n0.Members(h.now)
	assert.False(t, heldN1.Equal(changed[1].States), "the change shows")
	_, hasLoad := heldN1.Lookup("load")
	assert.False(t, hasLoad, "the States an earlier snapshot handed out are unchanged")
	assert.True(t, before[0].States.Equal(changed[0].States), "n0's own states unchanged")
}

// TestMemberStatesJSON: States encode as the map of values they replace
// did (tombstones left out, keys in order), and decode back.
func TestMemberStatesJSON(t *testing.T) {
	s := StatesOf(map[string]Value{"role": {Value: "db", Version: 3}, "a": {Value: "\xff<", Version: 1}})
	b, err := json.Marshal(Member{ID: "x", States: s})
	require.NoError(t, err)
	want, err := json.Marshal(map[string]Value{"role": {Value: "db", Version: 3}, "a": {Value: "\xff<", Version: 1}})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"states":`+string(want))
	var m Member
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, []string{"a", "role"}, m.States.Keys())
	assert.Equal(t, Value{Value: "db", Version: 3}, m.States.Get("role"))
	b, err = json.Marshal(Member{})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"states":{}`, "empty is an object, as an empty map was")
	assert.Error(t, json.Unmarshal([]byte(`{"states":[1]}`), &m))
}
