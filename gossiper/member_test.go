package gossiper

import (
	"context"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// sameMap reports whether a and b are the same map, not just equal ones.
func sameMap(a, b map[string]Value) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// TestMembersShareUnchangedStates checks that successive snapshots share
// the States map of an endpoint whose states did not change (heartbeats
// and phi move every round), that a change gives a new map, and that the
// map an earlier snapshot handed out never changes.
func TestMembersShareUnchangedStates(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	n0, n1 := h.node("n0"), h.node("n1")
	before := n0.Members(h.now)
	h.round()
	after := n0.Members(h.now)
	require.Len(t, after, len(before))
	for i := range before {
		assert.True(t, sameMap(before[i].States, after[i].States), "%s: states unchanged, map shared", before[i].ID)
	}
	heldN1 := before[1].States
	require.Equal(t, "n1", before[1].ID)
	_, hadLoad := heldN1["load"]
	require.False(t, hadLoad)

	out, err := n1.SetState(h.now, "load", "0.5")
	require.NoError(t, err)
	h.deliver(n1, out)
	require.Positive(t, h.until(20, func() bool {
		return n0.Members(h.now)[1].States["load"].Value == "0.5"
	}), "the change reaches n0")
	changed := n0.Members(h.now)
	assert.False(t, sameMap(heldN1, changed[1].States), "a change builds a new map")
	_, hasLoad := heldN1["load"]
	assert.False(t, hasLoad, "the map an earlier snapshot handed out is unchanged")
	assert.True(t, sameMap(before[0].States, changed[0].States), "n0's own states unchanged, still shared")
}

// TestGossiperMembersCopiesNoStates checks that reading the membership
// allocates one slice, whatever the number of application states: the
// States maps are the published snapshot's.
func TestGossiperMembersCopiesNoStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := memCluster(t, messaging.NewMemNetwork(), 3)
		for range 10 {
			time.Sleep(time.Second)
			if allUp(gs) {
				break
			}
		}
		require.True(t, allUp(gs))
		for i, k := range []string{"a", "b", "c", "d", "e"} {
			require.NoError(t, gs[1].SetState(k, string(rune('0'+i))))
		}
		time.Sleep(5 * time.Second)
		first, second := gs[0].Members(), gs[0].Members()
		require.Len(t, first, 3)
		for i := range first {
			assert.True(t, sameMap(first[i].States, second[i].States), "%s: one map for both reads", first[i].ID)
		}
		assert.Equal(t, 1.0, testing.AllocsPerRun(20, func() { gs[0].Members() }), "one allocation: the slice")
		for _, g := range gs {
			require.NoError(t, g.Stop(context.Background()))
		}
	})
}
