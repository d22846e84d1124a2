package core

import (
	"sort"
	"strings"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// targetList is a list of endpoint IDs in ascending order (the gossip
// targets, see [Node.targets]): the IDs themselves, or, for a node sharing
// an IDTable (NodeConfig.IDs), their numbers in it: 4 bytes an endpoint
// rather than 16, in a list every node of a simulation keeps of every
// other.
type targetList struct {
	names []string
	nums  []uint32
	ids   *endpointstate.IDTable // numbers the entries of nums
}

// newTargetList returns an empty list, of numbers if ids is not nil.
func newTargetList(ids *endpointstate.IDTable) targetList { return targetList{ids: ids} }

// len returns the number of IDs.
func (l targetList) len() int {
	if l.ids != nil {
		return len(l.nums)
	}
	return len(l.names)
}

// at returns the i-th ID.
func (l targetList) at(i int) string {
	if l.ids != nil {
		return l.ids.Name(l.nums[i])
	}
	return l.names[i]
}

// add appends ep, which must come after every ID in the list.
func (l *targetList) add(ep string) {
	if l.ids == nil {
		l.names = append(l.names, ep)
		return
	}
	i, _ := l.ids.Lookup(ep) // a record's ID: numbered while the record exists
	l.nums = append(l.nums, i)
}

// find returns ep's position and whether it is in the list.
func (l targetList) find(ep string) (int, bool) {
	n := l.len()
	i := sort.Search(n, func(i int) bool { return strings.Compare(l.at(i), ep) >= 0 })
	return i, i < n && l.at(i) == ep
}

// strings returns the IDs as a new slice.
func (l targetList) strings() []string {
	out := make([]string, l.len())
	for i := range out {
		out[i] = l.at(i)
	}
	return out
}
