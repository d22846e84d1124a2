package endpointstate

import (
	"slices"
	"strings"
)

// IDTable numbers endpoint IDs for the stores that keep states and
// records of them by number: a store that keeps its records in a slice
// indexed by the number costs 8 bytes an endpoint rather than a map entry
// of about 44, and a look-up hashes the ID in one table. Stores sharing a
// table share its ascending order too: a [Map] over a [NumberedStore]
// walks the table's order and keeps no sorted list of its own. The
// simulator (package gossiper/sim) shares one table between all its
// nodes, so each ID is hashed into one table, held once, and looked up in
// a table that stays in the processor's cache.
//
// A number is held while some record holds its ID (Acquire, Release),
// and is reused once none does, so the table never grows beyond the
// endpoints its stores know at once (a store dropped without releasing
// its endpoints, as a simulated crash drops a node, keeps their numbers
// held). Not safe for concurrent use: the stores sharing a table must be
// used by one goroutine, with one exception: once every ID the stores
// will ever meet is pinned ([IDTable.Pin]), the table is only read, and
// stores on several goroutines may share it.
type IDTable struct {
	index map[string]uint32
	// names and refs are by number: the ID, and how many records hold
	// it (0: free, on the free list).
	names []string
	refs  []uint32
	free  []uint32
	// sorted holds the numbers in ascending order of their IDs, unless
	// stale (an ID was numbered or freed since); a built slice is never
	// changed in place, so a walk over it survives a rebuild.
	sorted []uint32
	stale  bool
	// rank holds, by number, the number's position in sorted, built
	// with it; a free number's is meaningless.
	rank []uint32
}

// pinnedRefs is the count of a pinned number (see Pin): held for good,
// never counted up or down.
const pinnedRefs = 1<<32 - 1

// NewIDTable returns an empty table.
func NewIDTable() *IDTable { return &IDTable{index: map[string]uint32{}} }

// Len returns how many IDs the table holds (some record holds each).
func (t *IDTable) Len() int { return len(t.index) }

// Lookup returns id's number, and false if no record holds id.
func (t *IDTable) Lookup(id string) (uint32, bool) {
	i, ok := t.index[id]
	return i, ok
}

// Acquire returns id's number, numbering it if it has none, and counts
// one more record holding it.
func (t *IDTable) Acquire(id string) uint32 {
	if i, ok := t.index[id]; ok {
		if t.refs[i] != pinnedRefs {
			t.refs[i]++
		}
		return i
	}
	var i uint32
	if k := len(t.free); k > 0 {
		i, t.free = t.free[k-1], t.free[:k-1]
		t.names[i], t.refs[i] = id, 1
	} else {
		i = uint32(len(t.names))
		t.names, t.refs = append(t.names, id), append(t.refs, 1)
	}
	t.index[id] = i
	t.stale = true
	return i
}

// Release counts one record fewer holding number i, freeing the number
// when none does. Each Acquire is matched by one Release.
func (t *IDTable) Release(i uint32) {
	if t.refs[i] == pinnedRefs {
		return
	}
	if t.refs[i]--; t.refs[i] > 0 {
		return
	}
	delete(t.index, t.names[i])
	t.names[i] = ""
	t.free = append(t.free, i)
	t.stale = true
}

// Pin holds every ID the table numbers now for good: from then on,
// Acquire of a pinned ID and Release of its number change nothing, and
// the ascending order is built. A table whose stores meet only pinned
// IDs is only read, so stores on several goroutines may share it (the
// simulator's workers: every core knows only the simulated nodes, all
// pinned before any core starts). Acquiring a new ID still writes the
// table, as before Pin.
func (t *IDTable) Pin() {
	for _, i := range t.index {
		t.refs[i] = pinnedRefs
	}
	t.ascending()
}

// ascending returns the numbers held, in ascending order of their IDs,
// sorting only after an ID was numbered or freed. The result is shared:
// callers must not change it.
func (t *IDTable) ascending() []uint32 {
	if t.stale || len(t.sorted) != len(t.index) {
		sorted := make([]uint32, 0, len(t.index))
		for _, i := range t.index {
			sorted = append(sorted, i)
		}
		slices.SortFunc(sorted, func(a, b uint32) int { return strings.Compare(t.names[a], t.names[b]) })
		rank := make([]uint32, len(t.names))
		for j, i := range sorted {
			rank[i] = uint32(j)
		}
		t.sorted, t.rank, t.stale = sorted, rank, false
	}
	return t.sorted
}

// ranks returns, by number, the position of each held number's ID in
// ascending order (see ascending); shared, as ascending's result is.
func (t *IDTable) ranks() []uint32 {
	t.ascending()
	return t.rank
}

// Numbers reports whether id is numbered i: a number carried beside an ID
// (see [Map.ExamineNumbered]) is trusted only if it does, which costs a
// comparison of two strings (one of their pointers, when the carried ID
// is the table's own) rather than hashing id.
func (t *IDTable) Numbers(i uint32, id string) bool {
	return id != "" && int(i) < len(t.names) && t.names[i] == id
}

// Name returns the ID numbered i, or "" if i is free.
func (t *IDTable) Name(i uint32) string { return t.names[i] }
