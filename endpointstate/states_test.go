package endpointstate

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestStatesMatchesMap runs random sets and removals on a States and on a
// Go map side by side: the States holds what the map holds, in key order,
// and a States once handed out never changes.
func TestStatesMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var st States
		model := map[string]VersionedValue{}
		keys := rapid.SampledFrom([]string{"", "a", "b", "hearsay.addr", "zz", "long-key-\x00\xff"})
		for range rapid.IntRange(0, 40).Draw(t, "ops") {
			before, frozen := st, maps.Clone(model)
			k := keys.Draw(t, "key")
			if rapid.Bool().Draw(t, "remove") {
				st = st.Without(k)
				delete(model, k)
			} else {
				v := VersionedValue{
					Value:   rapid.String().Draw(t, "value"),
					Version: rapid.Int64().Draw(t, "version"),
					Deleted: rapid.Bool().Draw(t, "deleted"),
				}
				st = st.With(k, v)
				model[k] = v
			}
			require.Equal(t, frozen, before.Map(), "an earlier States changed")
			require.Equal(t, model, st.Map())
			require.Equal(t, len(model), st.Len())
			require.Equal(t, slices.Sorted(maps.Keys(model)), st.Keys())
			for _, k := range []string{"", "a", "b", "c", "zz"} {
				got, ok := st.Get(k)
				want, has := model[k]
				require.Equal(t, has, ok, k)
				require.Equal(t, want, got, k)
			}
			require.True(t, StatesOf(model).Equal(st), "StatesOf gives the same encoding")
		}
	})
}

// TestStatesWithAllLastWins: of several entries for one key in a batch,
// the last is kept.
func TestStatesWithAllLastWins(t *testing.T) {
	st := States{}.withAll([]KeyValue{
		{Key: "k", VersionedValue: VersionedValue{Value: "1", Version: 1}},
		{Key: "a", VersionedValue: VersionedValue{Value: "x", Version: 5}},
		{Key: "k", VersionedValue: VersionedValue{Value: "2", Version: 9}},
	})
	assert.Equal(t, map[string]VersionedValue{"a": {"x", 5, false}, "k": {"2", 9, false}}, st.Map())
	assert.Equal(t, "map[a:{x 5 false} k:{2 9 false}]", st.String())
}
