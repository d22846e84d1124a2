package endpointstate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// growthDeltas returns a reset delta for endpoint "big" followed by n
// incremental deltas, each within the limits on its own (16 new keys of
// 4 KiB, well under MaxKeys and MaxValueSize), which together add 16·n
// keys: the issue-11 attack that grew one endpoint to 2,251 keys.
func growthDeltas(n int) []Delta {
	out := []Delta{{Endpoint: "big", Generation: 1, HeartBeat: 1, Reset: true}}
	version := int64(1)
	value := strings.Repeat("x", 4<<10)
	for i := range n {
		d := Delta{Endpoint: "big", Generation: 1, FromVersion: version}
		for j := range 16 {
			version++
			d.States = append(d.States, kv(fmt.Sprintf("k%04d-%02d", i, j), value, version))
		}
		version++
		d.HeartBeat = version
		out = append(out, d)
	}
	return out
}

// TestApplyLimitsHoldAcrossDeltas: 150 incremental deltas, each valid
// alone, cannot grow a stored endpoint past MaxKeys or MaxBytes; the deltas
// that would are refused (and reported) while the endpoint keeps what fit.
func TestApplyLimitsHoldAcrossDeltas(t *testing.T) {
	limits := DefaultLimits()
	deltas := growthDeltas(150)
	for i := range deltas {
		require.NoError(t, limits.CheckDelta(&deltas[i]), "each delta is within the limits alone")
	}
	t.Run("one message", func(t *testing.T) {
		m := NewMap()
		_, err := m.Apply(deltas, opts())
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrStateTooLarge)
		assertWithin(t, limits, m.Get("big"))
	})
	t.Run("one message per delta", func(t *testing.T) {
		m := NewMap()
		refused := 0
		for i := range deltas {
			if _, err := m.Apply(deltas[i:i+1], opts()); err != nil {
				refused++
			}
		}
		// The first delta over the limits is refused; the later ones then
		// start above the stored max version and are ignored as gapped.
		assert.Positive(t, refused)
		assertWithin(t, limits, m.Get("big"))
	})
	t.Run("keys rather than bytes", func(t *testing.T) {
		m := NewMap()
		version := int64(1)
		_, err := m.Apply([]Delta{{Endpoint: "k", Generation: 1, HeartBeat: 1, Reset: true}}, opts())
		require.NoError(t, err)
		var errs []error
		for i := range 150 {
			d := Delta{Endpoint: "k", Generation: 1, FromVersion: version}
			for j := range 16 {
				version++
				d.States = append(d.States, kv(fmt.Sprintf("k%04d-%02d", i, j), "v", version))
			}
			if _, err := m.Apply([]Delta{d}, opts()); err != nil {
				errs = append(errs, err)
			}
		}
		require.NotEmpty(t, errs)
		assert.ErrorIs(t, errs[0], ErrTooManyKeys)
		assertWithin(t, limits, m.Get("k"))
		keys, _ := m.Get("k").LiveKeys()
		assert.Equal(t, limits.MaxKeys, keys, "the deltas that fit are kept")
	})
}

func assertWithin(t *testing.T, l Limits, s *EndpointState) {
	t.Helper()
	require.NotNil(t, s)
	keys, bytes := s.LiveKeys()
	assert.LessOrEqual(t, keys, l.MaxKeys)
	assert.LessOrEqual(t, bytes, l.MaxBytes)
	assert.LessOrEqual(t, s.States.Len(), l.MaxEntries())
	assert.NoError(t, l.CheckState(s))
}

// TestApplyOverLimitDeltaAlone: a message whose delta for one endpoint
// would push it over the limits still applies the delta for another.
func TestApplyOverLimitDeltaAlone(t *testing.T) {
	m := NewMap()
	deltas := growthDeltas(20)
	_, err := m.Apply(deltas[:2], opts())
	require.NoError(t, err)
	before := m.Get("big").Clone()
	bad := deltas[2]
	bad.States = nil
	big := strings.Repeat("y", 60<<10)
	for j := range 5 { // 5 × 60 KiB on top of 64 KiB: over MaxBytes
		bad.States = append(bad.States, kv(fmt.Sprintf("z%d", j), big, bad.FromVersion+int64(j)+1))
	}
	bad.HeartBeat = bad.FromVersion + 10
	good := Delta{Endpoint: "good", Generation: 1, HeartBeat: 2, Reset: true, States: []KeyValue{kv("k", "v", 1)}}
	changes, err := m.Apply([]Delta{bad, good}, opts())
	require.ErrorIs(t, err, ErrStateTooLarge)
	assert.Contains(t, err.Error(), `"big"`)
	assert.True(t, m.Get("big").Equal(before), "the refused endpoint is unchanged, heartbeat included")
	require.NotNil(t, m.Get("good"))
	for _, c := range changes {
		assert.Equal(t, "good", c.Endpoint, "no change reported for the refused endpoint")
	}
}

// TestApplyMaxEndpoints: new endpoints beyond MaxEndpoints are refused;
// known ones keep updating.
func TestApplyMaxEndpoints(t *testing.T) {
	m := NewMap()
	m.Put("self", state(1, 1, nil))
	o := opts()
	o.MaxEndpoints = 10
	var deltas []Delta
	for i := range 50 {
		deltas = append(deltas, Delta{Endpoint: fmt.Sprintf("forged-%02d", i), Generation: 1, HeartBeat: 1, Reset: true})
	}
	_, err := m.Apply(deltas, o)
	require.ErrorIs(t, err, ErrTooManyEndpoints)
	assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 41, "one error per refused endpoint")
	assert.Equal(t, 10, m.Len())
	ch, err := m.Apply([]Delta{{Endpoint: "forged-00", Generation: 1, HeartBeat: 5, FromVersion: 1}}, o)
	require.NoError(t, err, "a known endpoint keeps updating at the cap")
	assert.NotEmpty(t, ch)
	assert.Equal(t, int64(5), m.Get("forged-00").HeartBeat.Version)
}

// TestBuildDeltasSkipsOverLimitState: a node never builds a message
// carrying a state its peers would refuse.
func TestBuildDeltasSkipsOverLimitState(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxKeys = 2
	m := NewMap()
	m.SetLimits(limits)
	m.Put("ok", state(1, 5, map[string]int64{"a": 1}))
	m.Put("over", state(1, 5, map[string]int64{"a": 1, "b": 2, "c": 3}))
	deltas, complete := m.BuildDeltas([]Want{{Endpoint: "ok"}, {Endpoint: "over"}}, 1<<20)
	assert.True(t, complete)
	require.Len(t, deltas, 1)
	assert.Equal(t, "ok", deltas[0].Endpoint)
}

func TestCheckState(t *testing.T) {
	l := DefaultLimits()
	l.MaxKeys = 2
	s := state(1, 1, map[string]int64{"a": 1, "b": 2})
	s.Set(KeyAddress, "127.0.0.1:1", 3)
	require.NoError(t, l.CheckState(s))
	s.Delete("c", 4, t0)
	s.Delete("d", 5, t0)
	require.NoError(t, l.CheckState(s), "MaxKeys tombstones on top")
	s.Delete("e", 6, t0)
	assert.ErrorIs(t, l.CheckState(s), ErrTooManyKeys)
	s = state(1, 1, nil)
	for i := range ReservedKeys + 1 {
		s.Set(fmt.Sprintf("%sx%d", ReservedPrefix, i), "v", int64(i+1))
	}
	assert.ErrorIs(t, l.CheckState(s), ErrTooManyKeys, "reserved keys are bounded too")
	s = state(1, 1, nil)
	s.Set(KeyAddress, strings.Repeat("a", 513), 1)
	assert.ErrorIs(t, l.CheckState(s), ErrStateTooLarge)
}

// TestBuildDeltasRechecksChangedStates: BuildDeltas checks a state against
// the limits again once anything that check reads may have changed (it
// remembers a state that passed, see EndpointState.withinLimits): a key
// set or taken from a peer, tombstones collected, new limits, a state
// checked by another Map.
func TestBuildDeltasRechecksChangedStates(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxKeys = 2
	sent := func(m *Map) bool {
		deltas, complete := m.BuildDeltas([]Want{{Endpoint: "a"}}, 1<<20)
		require.True(t, complete)
		return len(deltas) == 1
	}
	t.Run("set", func(t *testing.T) {
		m := NewMap()
		m.SetLimits(limits)
		m.Put("a", state(1, 5, map[string]int64{"x": 1, "y": 2}))
		require.True(t, sent(m))
		m.Get("a").Set("z", "v", 6)
		assert.False(t, sent(m), "three live keys")
	})
	t.Run("applied", func(t *testing.T) {
		m := NewMap()
		m.SetLimits(limits)
		m.Put("a", state(1, 5, map[string]int64{"x": 1, "y": 2}))
		require.True(t, sent(m))
		loose := DefaultLimits() // the receiver's own limits allow it
		_, err := m.Apply([]Delta{{Endpoint: "a", Generation: 1, FromVersion: 5, HeartBeat: 7,
			States: []KeyValue{{Key: "z", VersionedValue: VersionedValue{Value: "v", Version: 6}}}}},
			ApplyOptions{Now: t0, Limits: loose})
		require.NoError(t, err)
		assert.False(t, sent(m), "three live keys")
	})
	t.Run("heartbeat only", func(t *testing.T) {
		m := NewMap()
		m.SetLimits(limits)
		m.Put("a", state(1, 5, map[string]int64{"x": 1, "y": 2, "z": 3}))
		require.False(t, sent(m))
		_, err := m.Apply([]Delta{{Endpoint: "a", Generation: 1, FromVersion: 5, HeartBeat: 7}},
			ApplyOptions{Now: t0, Limits: DefaultLimits()})
		require.NoError(t, err)
		assert.False(t, sent(m), "still three live keys")
	})
	// withTombstones is a map whose state for "a" breaks the limits by
	// its three tombstones.
	withTombstones := func(t *testing.T) *Map {
		m := NewMap()
		m.SetLimits(limits)
		s := state(1, 9, map[string]int64{"x": 1})
		s.Delete("d1", 2, t0)
		s.Delete("d2", 3, t0)
		s.Delete("d3", 4, t0)
		m.Put("a", s)
		require.False(t, sent(m), "three tombstones")
		return m
	}
	t.Run("tombstones collected", func(t *testing.T) {
		m := withTombstones(t)
		require.Equal(t, 3, m.CollectGarbage(t0.Add(time.Hour), time.Minute))
		assert.True(t, sent(m), "none left")
	})
	t.Run("tombstones trimmed", func(t *testing.T) {
		m := withTombstones(t)
		require.Equal(t, 1, m.Get("a").TrimTombstones(2))
		assert.True(t, sent(m), "two left")
	})
	t.Run("new limits", func(t *testing.T) {
		m := NewMap()
		m.SetLimits(DefaultLimits())
		m.Put("a", state(1, 5, map[string]int64{"x": 1, "y": 2, "z": 3}))
		require.True(t, sent(m))
		m.SetLimits(limits)
		assert.False(t, sent(m), "three live keys, limit 2")
	})
	t.Run("another map's check", func(t *testing.T) {
		loose := NewMap()
		loose.SetLimits(DefaultLimits())
		s := state(1, 5, map[string]int64{"x": 1, "y": 2, "z": 3})
		loose.Put("a", s)
		require.True(t, sent(loose))
		strict := NewMap()
		strict.SetLimits(limits)
		strict.Put("a", s)
		assert.False(t, sent(strict), "three live keys, limit 2")
	})
}
