package endpointstate

import (
	"cmp"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// numberedTestStore is a NumberedStore of pointers by number, as the
// simulator's cores keep their records.
type numberedTestStore struct {
	ids    *IDTable
	states []*EndpointState
	n      int
}

func (s *numberedTestStore) IDs() *IDTable { return s.ids }

func (s *numberedTestStore) ByNumber(i uint32) *EndpointState {
	if int(i) < len(s.states) {
		return s.states[i]
	}
	return nil
}

func (s *numberedTestStore) Get(ep string) *EndpointState {
	if i, ok := s.ids.Lookup(ep); ok {
		return s.ByNumber(i)
	}
	return nil
}

func (s *numberedTestStore) Put(ep string, st *EndpointState) *EndpointState {
	i := s.ids.Acquire(ep)
	for int(i) >= len(s.states) {
		s.states = append(s.states, nil)
	}
	if s.states[i] == nil {
		s.n++
	} else {
		s.ids.Release(i)
	}
	s.states[i] = st
	return st
}

func (s *numberedTestStore) Delete(ep string) {
	if i, ok := s.ids.Lookup(ep); ok && s.states[i] != nil {
		s.states[i] = nil
		s.n--
		s.ids.Release(i)
	}
}

func (s *numberedTestStore) Len() int { return s.n }

func (s *numberedTestStore) All() iter.Seq2[string, *EndpointState] {
	return func(yield func(string, *EndpointState) bool) {
		for i, st := range s.states {
			if st != nil && !yield(s.ids.Name(uint32(i)), st) {
				return
			}
		}
	}
}

// TestScratchSameResults: Maps sharing a Scratch (over a numbered store,
// as the simulator's, where Examine judges digests in the order of their
// numbers) return what a Map of its own returns, call after call, for
// SYNs with unknown endpoints, duplicates and every kind of difference,
// with the buffers handed back between calls.
func TestScratchSameResults(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ids := NewIDTable()
		scratch := NewScratch()
		nEP := rapid.SampledFrom([]int{1, 5, 40, 100, 250}).Draw(rt, "endpoints")
		// Two nodes' maps, each as a Map of its own (plain) and as a Map
		// sharing the table and the Scratch (shared): A answers a SYN,
		// B applies A's deltas.
		plainA, plainB := NewMap(), NewMap()
		sharedA, sharedB := NewMapIn(&numberedTestStore{ids: ids}), NewMapIn(&numberedTestStore{ids: ids})
		sharedA.SetScratch(scratch)
		sharedB.SetScratch(scratch)
		for i := range nEP {
			ep := fmt.Sprintf("e%03d", i)
			gen := int64(rapid.IntRange(1, 3).Draw(rt, "gen"))
			if rapid.Bool().Draw(rt, "A knows") {
				st := NewEndpointState(gen)
				st.HeartBeat.Version = int64(rapid.IntRange(0, 20).Draw(rt, "hb"))
				if rapid.Bool().Draw(rt, "value") {
					st.Set("k", "v", int64(rapid.IntRange(1, 20).Draw(rt, "ver")))
				}
				plainA.Put(ep, st.Clone())
				sharedA.Put(ep, st.Clone())
			}
			if rapid.Bool().Draw(rt, "B knows") {
				st := NewEndpointState(gen)
				st.HeartBeat.Version = int64(rapid.IntRange(1, 20).Draw(rt, "hb B"))
				plainB.Put(ep, st.Clone())
				sharedB.Put(ep, st.Clone())
			}
		}
		for call := range 3 { // the second and third carry heartbeat deltas
			remote := plainB.Digests()
			for range rapid.IntRange(0, 20).Draw(rt, "extra digests") {
				remote = append(remote, Digest{
					Endpoint:   fmt.Sprintf("e%03d", rapid.IntRange(0, nEP+5).Draw(rt, "ep")),
					Generation: int64(rapid.IntRange(1, 3).Draw(rt, "dgen")),
					MaxVersion: int64(rapid.IntRange(0, 25).Draw(rt, "dver")),
				})
			}
			seed := rapid.Int64().Draw(rt, "shuffle")
			shuffle(remote, seed)
			wantReq, wantWants := plainA.Examine(remote)
			// The digests' numbers, as a Syn between cores sharing the
			// table carries them (Map.ExamineNumbered): mostly right,
			// some missing, some naming another endpoint or none.
			nums := make([]uint32, len(remote))
			for k, d := range remote {
				i, ok := ids.Lookup(d.Endpoint)
				switch rapid.IntRange(0, 3).Draw(rt, "number") {
				case 0, 1:
					if ok {
						nums[k] = i + 1
					}
				case 2:
					nums[k] = uint32(rapid.IntRange(1, nEP+10).Draw(rt, "wrong number"))
				}
			}
			gotReq, gotReqNums, gotWants := sharedA.ExamineNumbered(remote, nums)
			if gotReqNums != nil {
				require.Len(rt, gotReqNums, len(gotReq), "call %d: a number per request", call)
				for k, r := range gotReq {
					if gotReqNums[k] != 0 {
						require.True(rt, ids.Numbers(gotReqNums[k]-1, r.Endpoint), "call %d: request %q numbered %d", call, r.Endpoint, gotReqNums[k])
					}
					if rapid.IntRange(0, 3).Draw(rt, "request number") == 0 {
						gotReqNums[k] = uint32(rapid.IntRange(0, nEP+10).Draw(rt, "wrong request number"))
					}
				}
			}
			require.Equal(rt, norm(wantReq), norm(gotReq), "call %d: requests", call)
			require.Equal(rt, norm(wantWants), norm(unnumberedWants(gotWants)), "call %d: wants", call)
			// The shared map's wants carry their endpoints' numbers
			// (Want.Number), which BuildDeltas trusts only where the
			// table agrees: some are lost or made wrong here.
			for k := range gotWants {
				w := &gotWants[k]
				require.True(rt, w.Number == 0 || ids.Numbers(w.Number-1, w.Endpoint), "call %d: want %q numbered %d", call, w.Endpoint, w.Number)
				switch rapid.IntRange(0, 3).Draw(rt, "want number") {
				case 0:
					w.Number = 0
				case 1:
					w.Number = uint32(rapid.IntRange(1, nEP+10).Draw(rt, "wrong want number"))
				}
			}
			wantDeltas, wantComplete := plainA.BuildDeltas(wantWants, 1<<20)
			gotDeltas, gotComplete := sharedA.BuildDeltas(gotWants, 1<<20)
			require.Equal(rt, wantComplete, gotComplete)
			// The shared map's deltas carry their endpoints' numbers
			// (Delta.Number); some are lost or made wrong on the way.
			for k := range gotDeltas {
				d := &gotDeltas[k]
				require.True(rt, d.Number != 0 && ids.Numbers(d.Number-1, d.Endpoint), "call %d: delta %q numbered %d", call, d.Endpoint, d.Number)
				switch rapid.IntRange(0, 3).Draw(rt, "delta number") {
				case 0:
					d.Number = 0
				case 1:
					d.Number = uint32(rapid.IntRange(1, nEP+10).Draw(rt, "wrong delta number"))
				}
			}
			require.Equal(rt, norm(wantDeltas), norm(unnumbered(gotDeltas)), "call %d: deltas", call)
			now := time.Unix(10, 0)
			wantCh, wantErr := plainB.Apply(wantDeltas, ApplyOptions{Now: now, Limits: DefaultLimits()})
			gotCh, gotErr := sharedB.Apply(gotDeltas, ApplyOptions{Now: now, Limits: DefaultLimits()})
			require.NoError(rt, wantErr)
			require.NoError(rt, gotErr)
			for _, c := range gotCh {
				if c.Number != 0 {
					require.True(rt, ids.Numbers(c.Number-1, c.Endpoint), "call %d: change of %q numbered %d", call, c.Endpoint, c.Number)
				}
			}
			require.Equal(rt, norm(wantCh), norm(unnumberedChanges(gotCh)), "call %d: changes", call)
			require.Equal(rt, plainB.Digests(), sharedB.Digests(), "call %d: B after the deltas", call)
			wantFor := plainB.WantsFor(wantReq)
			gotFor := sharedB.WantsForNumbered(gotReq, gotReqNums)
			require.Equal(rt, norm(wantFor), norm(unnumberedWants(gotFor)), "call %d: wants for the requests", call)
			// Wants in no endpoint order (an Ack's requests follow the
			// Syn's shuffled digests), some repeated: the same deltas in
			// the same order.
			mixed := slices.Clone(wantWants)
			for range rapid.IntRange(0, 5).Draw(rt, "repeats") {
				if len(wantWants) > 0 {
					mixed = append(mixed, wantWants[rapid.IntRange(0, len(wantWants)-1).Draw(rt, "repeat")])
				}
			}
			rand.New(rand.NewPCG(uint64(seed), 2)).Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
			wantMixed, wantMixedComplete := plainA.BuildDeltas(mixed, 1<<20)
			gotMixed, gotMixedComplete := sharedA.BuildDeltas(slices.Clone(mixed), 1<<20)
			require.Equal(rt, wantMixedComplete, gotMixedComplete)
			require.Equal(rt, norm(wantMixed), norm(unnumbered(gotMixed)), "call %d: deltas of shuffled wants", call)
			wantFor2, _ := plainB.BuildDeltas(wantFor, 1<<20)
			gotFor2, _ := sharedB.BuildDeltas(gotFor, 1<<20)
			require.Equal(rt, norm(wantFor2), norm(unnumbered(gotFor2)), "call %d: deltas for the requests", call)
			scratch.PutWants(gotWants)
			scratch.PutWants(gotFor)
			scratch.PutChanges(gotCh)
			scratch.PutDigests(gotReq)
			scratch.PutDeltas(gotDeltas)
			// A moves on: every heartbeat it holds advances.
			for _, m := range []*Map{plainA, sharedA} {
				for _, st := range m.All() {
					st.HeartBeat.Version++
				}
			}
		}
	})
}

// shuffle shuffles ds with a generator seeded by seed.
func shuffle(ds []Digest, seed int64) {
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
}

// norm makes an empty slice nil, so that a fresh result (nil) and a
// reused buffer (empty) compare equal.
// unnumbered returns deltas with their numbers cleared.
func unnumbered(deltas []Delta) []Delta {
	out := slices.Clone(deltas)
	for i := range out {
		out[i].Number = 0
	}
	return out
}

// unnumberedWants returns wants with their numbers cleared.
func unnumberedWants(wants []Want) []Want {
	out := slices.Clone(wants)
	for i := range out {
		out[i].Number = 0
	}
	return out
}

// unnumberedChanges returns changes with their numbers cleared.
func unnumberedChanges(changes []Change) []Change {
	out := slices.Clone(changes)
	for i := range out {
		out[i].Number = 0
	}
	return out
}

func norm[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestScratchReuses: a buffer handed back is lent again.
func TestScratchReuses(t *testing.T) {
	s := NewScratch()
	assert.Nil(t, s.Digests(), "nothing handed back yet")
	d := make([]Digest, 3, 10)
	s.PutDigests(d)
	got := s.Digests()
	assert.Equal(t, 0, len(got))
	assert.Equal(t, 10, cap(got), "the buffer handed back")
	var none *Scratch
	assert.Nil(t, none.Digests(), "a nil Scratch lends nothing")
	none.PutDigests(d) // and takes nothing back
}

// TestRadixSortHigh: keys come out sorted by their high halves, those of
// equal high halves in their order before, for numbers of one to four
// bytes.
func TestRadixSortHigh(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		bits := rapid.SampledFrom([]int{1, 8, 9, 16, 24, 32}).Draw(rt, "bits")
		n := rapid.IntRange(0, 300).Draw(rt, "n")
		keys := make([]uint64, n)
		for k := range keys {
			hi := rapid.Uint64Range(0, 1<<bits-1).Draw(rt, "hi")
			keys[k] = hi<<32 | uint64(k)
		}
		want := slices.Clone(keys)
		slices.SortStableFunc(want, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
		var tmp []uint64
		got := radixSortHigh(slices.Clone(keys), &tmp)
		require.Equal(rt, want, got)
	})
}
