package endpointstate

// Scratch lends the Maps that share it the buffers of their
// reconciliation, so that they reuse them rather than allocate new ones
// on every call: the digests of a request list ([Map.Examine]), the
// deltas of [Map.BuildDeltas], and the working lists of [Map.Examine],
// [Map.WantsFor], [Map.BuildDeltas] and [Map.Apply]. A simulation of N
// nodes whose every message carries N digests or deltas otherwise
// allocates (and leaves the collector) O(N²) bytes a round; with one
// Scratch for all of its nodes it reuses O(N) bytes.
//
// A buffer a call returns is the caller's until it hands it back (the
// Put methods); one not handed back is simply not reused. A buffer handed
// back must no longer be read or written by anyone: a message's digests
// and deltas only once every receiver has handled the message. Maps
// without a Scratch (the default, and the runtime's) allocate as before.
// A free buffer may keep the strings it last held alive (at most
// scratchKeep lists of each kind). A Scratch is not safe for concurrent use: the Maps sharing it must run
// on one goroutine (the simulator's).
type Scratch struct {
	digests freeLists[Digest]
	numbers freeLists[uint32]
	deltas  freeLists[Delta]
	wants   largest[Want]
	// sortedWants is Examine's second want list, over a numbered store
	// (see Map.wantsByRank).
	sortedWants []Want
	changes     largest[Change]
	items       []item
	ordered     []item // BuildDeltas' items in order (see Map.orderItems)
	// verdicts, keys and tmp are Examine's, over a numbered store.
	verdicts  []verdict
	keys, tmp []uint64
	locals    []*EndpointState // Apply's, over a numbered store
}

// scratchKeep is how many free digest and delta lists a Scratch keeps:
// about the messages a simulation has in flight at once.
const scratchKeep = 128

// NewScratch returns an empty Scratch.
func NewScratch() *Scratch { return &Scratch{} }

// SetScratch makes m take its buffers from s (nil: allocate them).
func (m *Map) SetScratch(s *Scratch) { m.scratch = s }

// Digests returns an empty list of digests to append to, of a buffer
// handed back earlier if there is one; nil on a nil Scratch.
func (s *Scratch) Digests() []Digest {
	if s == nil {
		return nil
	}
	return s.digests.take()
}

// PutDigests hands back a list of digests no one reads any more.
func (s *Scratch) PutDigests(d []Digest) {
	if s != nil {
		s.digests.put(d)
	}
}

// Numbers returns an empty list of endpoint numbers to append to (the
// numbers of a list of digests, see [Map.ExamineNumbered]), of a buffer
// handed back earlier if there is one; nil on a nil Scratch.
func (s *Scratch) Numbers() []uint32 {
	if s == nil {
		return nil
	}
	return s.numbers.take()
}

// PutNumbers hands back a list of numbers no one reads any more.
func (s *Scratch) PutNumbers(n []uint32) {
	if s != nil {
		s.numbers.put(n)
	}
}

// deltaList returns an empty list of deltas to append to, with room for
// n if it has to be made.
func (s *Scratch) deltaList(n int) []Delta {
	if s == nil {
		return make([]Delta, 0, n)
	}
	if d := s.deltas.take(); d != nil {
		return d
	}
	return make([]Delta, 0, n)
}

// PutDeltas hands back a list of deltas no one reads any more.
func (s *Scratch) PutDeltas(d []Delta) {
	if s != nil {
		s.deltas.put(d)
	}
}

// freeLists holds up to scratchKeep emptied lists for reuse, the last
// handed back first.
type freeLists[T any] [][]T

// take returns an empty list of a buffer handed back earlier, or nil.
func (f *freeLists[T]) take() []T {
	l := *f
	if len(l) == 0 {
		return nil
	}
	d := l[len(l)-1]
	l[len(l)-1] = nil
	*f = l[:len(l)-1]
	return d
}

// put keeps d's buffer for reuse, unless it has none or enough are kept.
func (f *freeLists[T]) put(d []T) {
	if cap(d) == 0 || len(*f) >= scratchKeep {
		return
	}
	*f = append(*f, d[:0])
}

// largest keeps the largest list handed back, emptied, for reuse.
type largest[T any] []T

// take returns the list kept (nil if none) and keeps none.
func (l *largest[T]) take() []T {
	d := *l
	*l = nil
	return d[:0]
}

// put keeps d's buffer if it is larger than the one kept.
func (l *largest[T]) put(d []T) {
	if cap(d) > cap(*l) {
		*l = d[:0]
	}
}

// wantList returns the free list of wants, emptied, or nil.
func (s *Scratch) wantList() []Want {
	if s == nil {
		return nil
	}
	return s.wants.take()
}

// PutWants hands back the wants of [Map.Examine] or [Map.WantsFor] once
// used.
func (s *Scratch) PutWants(w []Want) {
	if s != nil {
		s.wants.put(w)
	}
}

// changeList returns the free list of changes, emptied, or a new one
// with room for n.
func (s *Scratch) changeList(n int) []Change {
	if s != nil {
		if c := s.changes.take(); c != nil {
			return c
		}
	}
	return make([]Change, 0, n)
}

// PutChanges hands back the changes of [Map.Apply] once used.
func (s *Scratch) PutChanges(c []Change) {
	if s != nil {
		s.changes.put(c)
	}
}
