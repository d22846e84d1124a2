package endpointstate

import (
	"cmp"
	"fmt"
	"iter"
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
		nEP := rapid.IntRange(1, 150).Draw(rt, "endpoints")
		plain := NewMap()
		shared := NewMapIn(&numberedTestStore{ids: ids})
		shared.SetScratch(scratch)
		for i := range nEP {
			if rapid.Bool().Draw(rt, "known") {
				st := NewEndpointState(int64(rapid.IntRange(1, 3).Draw(rt, "gen")))
				st.HeartBeat.Version = int64(rapid.IntRange(0, 20).Draw(rt, "hb"))
				if rapid.Bool().Draw(rt, "value") {
					st.Set("k", "v", int64(rapid.IntRange(1, 20).Draw(rt, "ver")))
				}
				ep := fmt.Sprintf("e%03d", i)
				plain.Put(ep, st.Clone())
				shared.Put(ep, st.Clone())
			}
		}
		for call := range rapid.IntRange(1, 4).Draw(rt, "calls") {
			nd := rapid.IntRange(0, 200).Draw(rt, "digests")
			remote := make([]Digest, nd)
			for k := range remote {
				remote[k] = Digest{
					Endpoint:   fmt.Sprintf("e%03d", rapid.IntRange(0, nEP+5).Draw(rt, "ep")),
					Generation: int64(rapid.IntRange(1, 3).Draw(rt, "dgen")),
					MaxVersion: int64(rapid.IntRange(0, 25).Draw(rt, "dver")),
				}
			}
			wantReq, wantWants := plain.Examine(remote)
			gotReq, gotWants := shared.Examine(remote)
			require.Equal(rt, norm(wantReq), norm(gotReq), "call %d: requests", call)
			require.Equal(rt, norm(wantWants), norm(gotWants), "call %d: wants", call)
			wantDeltas, wantComplete := plain.BuildDeltas(wantWants, 1<<20)
			gotDeltas, gotComplete := shared.BuildDeltas(gotWants, 1<<20)
			require.Equal(rt, wantComplete, gotComplete)
			require.Equal(rt, norm(wantDeltas), norm(gotDeltas), "call %d: deltas", call)
			wantFor := plain.WantsFor(wantReq)
			gotFor := shared.WantsFor(gotReq)
			require.Equal(rt, norm(wantFor), norm(gotFor), "call %d: wants for the requests", call)
			now := time.Unix(10, 0)
			wantCh, wantErr := plain.Apply(wantDeltas, ApplyOptions{Now: now})
			gotCh, gotErr := shared.Apply(gotDeltas, ApplyOptions{Now: now})
			require.Equal(rt, wantErr, gotErr)
			require.Equal(rt, norm(wantCh), norm(gotCh), "call %d: changes", call)
			scratch.PutWants(gotWants)
			scratch.PutWants(gotFor)
			scratch.PutChanges(gotCh)
			scratch.PutDigests(gotReq)
			scratch.PutDeltas(gotDeltas)
		}
	})
}

// norm makes an empty slice nil, so that a fresh result (nil) and a
// reused buffer (empty) compare equal.
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
