package endpointstate

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func opts() ApplyOptions { return ApplyOptions{Now: t0, Limits: DefaultLimits()} }

// state builds a state of generation gen with heartbeat version hb and the
// given key=version pairs (value "v<version>").
func state(gen, hb int64, kvs map[string]int64) *EndpointState {
	s := NewEndpointState(gen)
	s.HeartBeat.Version = hb
	for k, v := range kvs {
		s.Set(k, "v"+itoa(v), v)
	}
	return s
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

// TestExamineDigestCases pins every row of the digest comparison table
// (Cassandra's examineGossiper, reference cassandra.md §2.4).
func TestExamineDigestCases(t *testing.T) {
	local := NewMap()
	local.Put("a", state(100, 5, map[string]int64{"k": 3})) // max version 5
	cases := []struct {
		name     string
		remote   Digest
		requests []Digest
		wants    []Want
	}{
		{"equal", Digest{"a", 100, 5}, nil, nil},
		{"same generation, remote lower version", Digest{"a", 100, 2}, nil, []Want{{Endpoint: "a", FromVersion: 2}}},
		{"same generation, remote higher version", Digest{"a", 100, 9}, []Digest{{"a", 100, 5}}, nil},
		{"remote higher generation", Digest{"a", 101, 1}, []Digest{{"a", 101, 0}}, nil},
		{"remote lower generation", Digest{"a", 99, 50}, nil, []Want{{Endpoint: "a", FromVersion: 0}}},
		{"unknown endpoint", Digest{"b", 7, 3}, []Digest{{"b", 7, 0}}, []Want{{Endpoint: "a", FromVersion: 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, wants := local.Examine([]Digest{tc.remote})
			assert.Equal(t, tc.requests, req)
			assert.Equal(t, tc.wants, wants)
		})
	}
}

func TestExamineSendsEndpointsTheSynOmits(t *testing.T) {
	local := NewMap()
	local.Put("a", state(1, 1, nil))
	local.Put("b", state(1, 1, nil))
	req, wants := local.Examine([]Digest{{"a", 1, 1}})
	assert.Empty(t, req)
	assert.Equal(t, []Want{{Endpoint: "b", FromVersion: 0}}, wants)
}

func TestExamineAfterGarbageCollectionSendsReset(t *testing.T) {
	s := state(1, 10, map[string]int64{"keep": 2})
	s.Delete("gone", 5, t0)
	m := NewMap()
	m.Put("a", s)
	require.Equal(t, 1, m.CollectGarbage(t0.Add(time.Hour), time.Minute))
	require.EqualValues(t, 5, s.GCVersion)
	require.EqualValues(t, 10, s.MaxVersion(), "collecting must not lower the max version")

	_, wants := m.Examine([]Digest{{"a", 1, 4}})
	assert.Equal(t, []Want{{Endpoint: "a", FromVersion: 0}}, wants, "peer below the GC version gets the whole state")
	_, wants = m.Examine([]Digest{{"a", 1, 6}})
	assert.Equal(t, []Want{{Endpoint: "a", FromVersion: 6}}, wants, "peer above the GC version gets a plain delta")
}

func TestWantsForChecksGeneration(t *testing.T) {
	m := NewMap()
	m.Put("a", state(10, 7, nil))
	assert.Equal(t, []Want{{Endpoint: "a", FromVersion: 3}}, m.WantsFor([]Digest{{"a", 10, 3}}))
	assert.Equal(t, []Want{{Endpoint: "a", FromVersion: 0}}, m.WantsFor([]Digest{{"a", 10, 0}}))
	assert.Equal(t, []Want{{Endpoint: "a", FromVersion: 0}}, m.WantsFor([]Digest{{"a", 9, 3}}))
	assert.Empty(t, m.WantsFor([]Digest{{"a", 11, 0}}))
	assert.Empty(t, m.WantsFor([]Digest{{"a", 10, 7}}))
	assert.Empty(t, m.WantsFor([]Digest{{"zz", 1, 0}}))
}

func TestDeltaCarriesOnlyNewerVersions(t *testing.T) {
	m := NewMap()
	m.Put("a", state(1, 9, map[string]int64{"x": 2, "y": 5, "z": 8}))
	deltas, complete := m.BuildDeltas([]Want{{Endpoint: "a", FromVersion: 4}}, 1<<20)
	require.True(t, complete)
	require.Len(t, deltas, 1)
	d := deltas[0]
	assert.False(t, d.Reset)
	assert.EqualValues(t, 9, d.HeartBeat)
	require.Len(t, d.States, 2)
	assert.Equal(t, "y", d.States[0].Key)
	assert.Equal(t, "z", d.States[1].Key)
}

func TestApplyRules(t *testing.T) {
	t.Run("new endpoint needs a reset delta", func(t *testing.T) {
		m := NewMap()
		ch, err := m.Apply([]Delta{{Endpoint: "a", Generation: 5, HeartBeat: 3, States: []KeyValue{kv("k", "v", 2)}}}, opts())
		require.NoError(t, err)
		assert.Empty(t, ch)
		assert.Nil(t, m.Get("a"))

		ch, err = m.Apply([]Delta{{Endpoint: "a", Generation: 5, HeartBeat: 3, Reset: true, States: []KeyValue{kv("k", "v", 2)}}}, opts())
		require.NoError(t, err)
		require.Len(t, ch, 2)
		assert.Equal(t, ChangeJoined, ch[0].Kind)
		assert.Equal(t, Change{Kind: ChangeValue, Endpoint: "a", Key: "k", New: VersionedValue{"v", 2, false}, Generation: 5}, ch[1])
	})
	t.Run("higher generation replaces the whole state", func(t *testing.T) {
		m := NewMap()
		m.Put("a", state(5, 30, map[string]int64{"old": 20, "both": 21}))
		ch, err := m.Apply([]Delta{{Endpoint: "a", Generation: 6, HeartBeat: 2, Reset: true, States: []KeyValue{kv("both", "new", 1)}}}, opts())
		require.NoError(t, err)
		got := m.Get("a")
		assert.EqualValues(t, 6, got.HeartBeat.Generation)
		assert.EqualValues(t, 2, got.HeartBeat.Version)
		assert.Equal(t, map[string]VersionedValue{"both": {"new", 1, false}}, got.States.Map())
		require.Len(t, ch, 3)
		assert.Equal(t, ChangeRestarted, ch[0].Kind)
		assert.EqualValues(t, 5, ch[0].OldGeneration)
		assert.Equal(t, ChangeValue, ch[1].Kind)
		assert.Equal(t, "v21", ch[1].Old.Value)
		assert.Equal(t, Change{Kind: ChangeDeleted, Endpoint: "a", Key: "old", Old: VersionedValue{"v20", 20, false}, Generation: 6}, ch[2])
	})
	t.Run("lower generation ignored", func(t *testing.T) {
		m := NewMap()
		m.Put("a", state(5, 3, nil))
		ch, err := m.Apply([]Delta{{Endpoint: "a", Generation: 4, HeartBeat: 99, Reset: true}}, opts())
		require.NoError(t, err)
		assert.Empty(t, ch)
		assert.EqualValues(t, 3, m.Get("a").HeartBeat.Version)
	})
	t.Run("older version never overwrites newer", func(t *testing.T) {
		m := NewMap()
		m.Put("a", state(5, 3, map[string]int64{"k": 8}))
		ch, err := m.Apply([]Delta{{Endpoint: "a", Generation: 5, HeartBeat: 9, States: []KeyValue{kv("k", "stale", 6)}}}, opts())
		require.NoError(t, err)
		assert.Equal(t, "v8", m.Get("a").States.Map()["k"].Value)
		require.Len(t, ch, 1)
		assert.Equal(t, ChangeHeartBeat, ch[0].Kind)
		assert.EqualValues(t, 9, m.Get("a").HeartBeat.Version)
	})
	t.Run("tombstone wins over older value", func(t *testing.T) {
		m := NewMap()
		m.Put("a", state(5, 3, map[string]int64{"k": 4}))
		del := KeyValue{Key: "k", VersionedValue: VersionedValue{Version: 6, Deleted: true}}
		ch, err := m.Apply([]Delta{{Endpoint: "a", Generation: 5, States: []KeyValue{del}}}, opts())
		require.NoError(t, err)
		_, ok := m.Get("a").Get("k")
		assert.False(t, ok)
		require.Len(t, ch, 1)
		assert.Equal(t, ChangeDeleted, ch[0].Kind)
		assert.Equal(t, "v4", ch[0].Old.Value)
	})
	t.Run("generation more than a year ahead rejected", func(t *testing.T) {
		m := NewMap()
		far := t0.Unix() + MaxGenerationDrift + 1
		ch, err := m.Apply([]Delta{
			{Endpoint: "far", Generation: far, Reset: true},
			{Endpoint: "ok", Generation: t0.Unix(), Reset: true},
		}, opts())
		require.ErrorIs(t, err, ErrGenerationTooFar)
		assert.Nil(t, m.Get("far"))
		assert.NotNil(t, m.Get("ok"))
		assert.Len(t, ch, 1)
	})
	t.Run("skip", func(t *testing.T) {
		m := NewMap()
		o := opts()
		o.Skip = func(ep string, _ int64) bool { return ep == "self" }
		_, err := m.Apply([]Delta{{Endpoint: "self", Generation: 1, Reset: true}}, o)
		require.NoError(t, err)
		assert.Zero(t, m.Len())
	})
}

func kv(k, v string, ver int64) KeyValue {
	return KeyValue{Key: k, VersionedValue: VersionedValue{Value: v, Version: ver}}
}

// TestApplyRefusesBadDeltaAlone: an invalid delta is refused for its
// endpoint alone; the good delta in the same message applies (issue 11,
// item 1: one bad endpoint must not make a whole message undeliverable).
func TestApplyRefusesBadDeltaAlone(t *testing.T) {
	cases := []struct {
		name  string
		delta Delta
		err   error
	}{
		{"empty endpoint", Delta{Generation: 1, Reset: true}, ErrInvalidEndpoint},
		{"invalid utf8 key", Delta{Endpoint: "a", Generation: 1, Reset: true, States: []KeyValue{kv("\xff\xfe", "v", 1)}}, ErrInvalidKey},
		{"invalid utf8 endpoint", Delta{Endpoint: "\xc3", Generation: 1, Reset: true}, ErrInvalidEndpoint},
		{"negative version", Delta{Endpoint: "a", Generation: 1, Reset: true, States: []KeyValue{kv("k", "v", -1)}}, ErrInvalidVersion},
		{"negative heartbeat", Delta{Endpoint: "a", Generation: 1, HeartBeat: -5, Reset: true}, ErrInvalidVersion},
		{"zero generation", Delta{Endpoint: "a", Generation: 0, Reset: true}, ErrInvalidVersion},
		{"oversized value", Delta{Endpoint: "a", Generation: 1, Reset: true, States: []KeyValue{kv("k", string(make([]byte, 64<<10+1)), 1)}}, ErrValueTooLarge},
		{"long key", Delta{Endpoint: "a", Generation: 1, Reset: true, States: []KeyValue{kv(string(make([]byte, 300)), "v", 1)}}, ErrKeyTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMap()
			m.Put("z", state(1, 1, nil))
			before := m.Clone()
			good := Delta{Endpoint: "good", Generation: 1, HeartBeat: 2, Reset: true, States: []KeyValue{kv("k", "v", 1)}}
			ch, err := m.Apply([]Delta{tc.delta, good}, opts())
			require.ErrorIs(t, err, tc.err)
			require.NotEmpty(t, ch)
			for _, c := range ch {
				assert.Equal(t, "good", c.Endpoint)
			}
			require.NotNil(t, m.Get("good"), "the good delta applies")
			assert.Equal(t, "v", m.Get("good").States.Map()["k"].Value)
			m.Remove("good")
			assert.True(t, m.Equal(before), "nothing else changes")
		})
	}
}

func TestBuildDeltasRespectsBudget(t *testing.T) {
	m := NewMap()
	// a is very stale, b slightly, c is a whole state.
	m.Put("a", state(1, 100, map[string]int64{"k1": 10, "k2": 20, "k3": 30}))
	m.Put("b", state(1, 50, map[string]int64{"k": 45}))
	m.Put("c", state(1, 5, map[string]int64{"x": 4}))
	wants := []Want{{Endpoint: "a", FromVersion: 5}, {Endpoint: "b", FromVersion: 44}, {Endpoint: "c", FromVersion: 0}}

	all, complete := m.BuildDeltas(wants, 1<<20)
	require.True(t, complete)
	require.Len(t, all, 3)
	assert.Equal(t, []string{"c", "a", "b"}, []string{all[0].Endpoint, all[1].Endpoint, all[2].Endpoint}, "whole states first, then by staleness")
	assert.EqualValues(t, 5, all[1].FromVersion)

	// Room for c and b but not a: a is left whole for later, never cut,
	// and the smaller b still goes.
	require.Greater(t, all[1].SizeBound(), all[2].SizeBound())
	budget := all[0].SizeBound() + all[2].SizeBound()
	part, complete := m.BuildDeltas(wants, budget)
	require.False(t, complete)
	require.Len(t, part, 2)
	assert.Equal(t, "c", part[0].Endpoint)
	assert.Equal(t, "b", part[1].Endpoint)
	assert.Equal(t, all[2], part[1], "deltas are whole")
}

// TestApplyIgnoresDeltaWithGap: an incremental delta that starts above the
// receiver's max version would leave versions missing; it is ignored.
func TestApplyIgnoresDeltaWithGap(t *testing.T) {
	m := NewMap()
	m.Put("a", state(1, 15, nil))
	gap := Delta{Endpoint: "a", Generation: 1, HeartBeat: 26, FromVersion: 20, States: []KeyValue{kv("k", "v", 24)}}
	ch, err := m.Apply([]Delta{gap}, opts())
	require.NoError(t, err)
	assert.Empty(t, ch)
	assert.EqualValues(t, 15, m.Get("a").MaxVersion())
	ok := gap
	ok.FromVersion = 15
	ch, err = m.Apply([]Delta{ok}, opts())
	require.NoError(t, err)
	assert.NotEmpty(t, ch)
}

// TestReceiverTrimsTombstones: a receiver keeps at most MaxKeys
// tombstones per endpoint, so its reset deltas always pass the limits.
func TestReceiverTrimsTombstones(t *testing.T) {
	l := Limits{MaxKeyLength: 16, MaxValueSize: 16, MaxKeys: 4, MaxBytes: 64}
	src := NewEndpointState(1)
	var v int64
	for i := range 6 {
		v++
		src.Delete(fmt.Sprintf("k%d", i), v, t0)
	}
	src.HeartBeat.Version = v + 1
	d := Delta{Endpoint: "a", Generation: 1, HeartBeat: src.HeartBeat.Version, Reset: true, States: src.entriesAbove(0)}
	d.States = d.States[:4] // what a trimmed owner would send...
	m := NewMap()
	m.Put("a", state(1, 0, nil))
	_, err := m.Apply([]Delta{d}, ApplyOptions{Now: t0, Limits: l})
	require.NoError(t, err)
	for i := 4; i < 6; i++ { // ...then more deletes arrive incrementally
		inc := Delta{Endpoint: "a", Generation: 1, HeartBeat: 7 + int64(i), FromVersion: m.Get("a").MaxVersion(),
			States: []KeyValue{{Key: fmt.Sprintf("k%d", i), VersionedValue: VersionedValue{Version: 7 + int64(i), Deleted: true}}}}
		_, err := m.Apply([]Delta{inc}, ApplyOptions{Now: t0, Limits: l})
		require.NoError(t, err)
	}
	got := m.Get("a")
	assert.LessOrEqual(t, got.States.Len(), l.MaxKeys)
	assert.Positive(t, got.GCVersion)
	out, _ := m.BuildDeltas([]Want{{Endpoint: "a"}}, 1<<20)
	require.Len(t, out, 1)
	assert.NoError(t, l.CheckDelta(&out[0]))
}

func TestReapplyIsNoOp(t *testing.T) {
	src := NewMap()
	src.Put("a", state(3, 9, map[string]int64{"x": 4, "y": 7}))
	deltas, _ := src.BuildDeltas([]Want{{Endpoint: "a", FromVersion: 0}}, 1<<20)
	dst := NewMap()
	ch, err := dst.Apply(deltas, opts())
	require.NoError(t, err)
	require.NotEmpty(t, ch)
	snapshot := dst.Clone()
	ch, err = dst.Apply(deltas, opts())
	require.NoError(t, err)
	assert.Empty(t, ch)
	assert.True(t, dst.Equal(snapshot))
	assert.True(t, dst.Equal(src))
}

func TestTrimTombstones(t *testing.T) {
	s := state(1, 1, nil)
	for i := int64(1); i <= 5; i++ {
		s.Delete("k"+itoa(i), i+1, t0)
	}
	assert.Equal(t, 3, s.TrimTombstones(2))
	assert.EqualValues(t, 4, s.GCVersion)
	assert.Equal(t, 2, s.States.Len())
	assert.Contains(t, s.States.Map(), "k5")
}

func TestLimitsCheckSet(t *testing.T) {
	l := Limits{MaxKeyLength: 8, MaxValueSize: 4, MaxKeys: 2, MaxBytes: 9}
	require.NoError(t, l.Validate())
	s := NewEndpointState(1)
	require.NoError(t, l.CheckSet(s, "a", "1234"))
	s.Set("a", "1234", 1)
	s.Set("b", "1", 2)
	assert.ErrorIs(t, l.CheckSet(s, "c", "1"), ErrTooManyKeys)
	assert.NoError(t, l.CheckSet(s, "b", "12"), "replacing a key does not add one")
	assert.ErrorIs(t, l.CheckSet(s, "b", "1234"), ErrStateTooLarge)
	assert.ErrorIs(t, l.CheckSet(s, "b", "12345"), ErrValueTooLarge)
	assert.ErrorIs(t, l.CheckSet(s, "toolongkey", "1"), ErrKeyTooLong)
	assert.ErrorIs(t, DefaultLimits().CheckUserKey("hearsay.addr"), ErrInvalidKey)
	assert.Error(t, Limits{}.Validate())
	assert.NoError(t, DefaultLimits().Validate())
}

// TestApplyKeepsAux: Apply updates a known endpoint's state in place and
// leaves its Aux, the Store's byte, as it was (the gossiper keeps a
// record's flags there).
func TestApplyKeepsAux(t *testing.T) {
	m := NewMap()
	m.Put("a", state(5, 3, map[string]int64{"k": 2}))
	m.Get("a").Aux = 0b101
	ch, err := m.Apply([]Delta{{Endpoint: "a", Generation: 5, HeartBeat: 9, FromVersion: 3, States: []KeyValue{kv("k", "w", 7)}}}, opts())
	require.NoError(t, err)
	require.NotEmpty(t, ch, "the delta is newer")
	got := m.Get("a")
	assert.EqualValues(t, 9, got.HeartBeat.Version)
	assert.EqualValues(t, 0b101, got.Aux)
}

// TestWantsForDuplicates: a request repeated in one Ack counts once (the
// first), call after call; an unknown endpoint's gets nothing.
func TestWantsForDuplicates(t *testing.T) {
	m := NewMap()
	m.Put("a", state(10, 7, nil))
	m.Put("b", state(10, 7, nil))
	for range 3 {
		assert.Equal(t, []Want{{Endpoint: "a", FromVersion: 3}, {Endpoint: "b", FromVersion: 0}},
			m.WantsFor([]Digest{{"a", 10, 3}, {"zz", 1, 0}, {"a", 10, 5}, {"b", 10, 0}, {"zz", 1, 0}, {"b", 10, 2}}))
	}
}
