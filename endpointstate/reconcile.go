package endpointstate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxGenerationDrift is how far ahead of the receiver's clock a generation
// may be, in seconds (one year, as in Cassandra and ScyllaDB).
const MaxGenerationDrift = 365 * 24 * 60 * 60

// Want names an endpoint whose state should be sent to a peer: every
// application state above FromVersion, or the whole state (a reset) when
// FromVersion is 0.
type Want struct {
	// Endpoint is the node ID.
	Endpoint string
	// FromVersion is the version above which states are sent; 0 means the
	// whole state.
	FromVersion int64
	// Number is the endpoint's number in the table of the Map's
	// [NumberedStore], plus 1, when the Map that made the want knew it
	// ([Map.ExamineNumbered], [Map.WantsForNumbered]); 0 otherwise.
	// [Map.BuildDeltas] then finds the state without hashing the ID,
	// trusting the number only where the table names Endpoint with it
	// ([IDTable.Numbers]), as [Delta.Number].
	Number uint32
}

// Examine compares a peer's SYN digests with the local map (Cassandra's
// examineGossiper) and returns the digests to request from the peer and
// the states to send it. Each request's MaxVersion is the version above
// which states are wanted (0: everything). Endpoints known locally but
// absent from the digests are sent whole. Duplicate digests count once.
// Both results are in a deterministic order: requests as the digests came,
// wants by endpoint.
func (m *Map) Examine(remote []Digest) (requests []Digest, wants []Want) {
	requests, _, wants = m.ExamineNumbered(remote, nil)
	return requests, wants
}

// ExamineNumbered is Examine for digests whose endpoints' numbers in the
// table of the Map's [NumberedStore] come with them: numbers[k] is
// remote[k]'s, plus 1, or 0 if unknown (nil: all unknown). The simulator's
// cores share one table and hand each other their messages as they are,
// so a digest's endpoint is found without hashing its ID; a number is
// trusted only if the table numbers that ID with it ([IDTable.Numbers]),
// and the result is Examine's in every case. It also returns the
// requests' numbers the same way (nil when it judged by ID), from the
// Scratch ([Scratch.PutNumbers] hands them back).
func (m *Map) ExamineNumbered(remote []Digest, numbers []uint32) (requests []Digest, requestNumbers []uint32, wants []Want) {
	if len(numbers) != len(remote) {
		numbers = nil
	}
	// Each known endpoint met is stamped with this call's epoch, so a
	// duplicate costs nothing to detect and the endpoints the SYN did not
	// mention are the unstamped ones. Only unknown endpoints, rare in
	// steady state, need a set.
	m.nextEpoch()
	requests, wants = m.scratch.Digests(), m.scratch.wantList()
	var verdicts []verdict
	var ranks []uint32 // by number: the rank of each ID in ascending order
	var ranked []uint64
	if m.numbered != nil && m.scratch != nil && len(remote) >= numberedExamineFrom {
		verdicts = m.judgeByNumber(remote, numbers)
		ranks, ranked = m.numbered.IDs().ranks(), m.scratch.keys[:0]
		requestNumbers = m.scratch.Numbers()
	}
	var unknown map[string]struct{}
	matched := 0
	for k, d := range remote {
		var v verdict
		if verdicts != nil {
			v = verdicts[k]
		} else {
			v = m.judge(d, m.states.Get(d.Endpoint))
		}
		switch v.kind {
		case verdictUnknown:
			if _, dup := unknown[d.Endpoint]; dup {
				continue
			}
			if unknown == nil {
				unknown = map[string]struct{}{}
			}
			unknown[d.Endpoint] = struct{}{}
			if verdicts != nil {
				var number uint32
				if numbers != nil && numbers[k] != 0 && m.numbered.IDs().Numbers(numbers[k]-1, d.Endpoint) {
					number = numbers[k]
				}
				requestNumbers = append(requestNumbers, number)
			}
			requests = append(requests, Digest{Endpoint: d.Endpoint, Generation: d.Generation})
		case verdictRequest:
			matched++
			if verdicts != nil {
				requestNumbers = append(requestNumbers, v.number)
			}
			requests = append(requests, Digest{Endpoint: d.Endpoint, Generation: d.Generation, MaxVersion: v.version})
		case verdictWant:
			matched++
			if v.number != 0 {
				ranked = append(ranked, uint64(ranks[v.number-1])<<32|uint64(len(wants)))
			}
			wants = append(wants, Want{Endpoint: d.Endpoint, FromVersion: v.version, Number: v.number})
		case verdictEven:
			matched++
		}
	}
	if verdicts != nil {
		m.scratch.verdicts = verdicts[:0]
	}
	if matched < m.states.Len() {
		if ranks != nil {
			ids := m.numbered.IDs()
			for i, s := range m.AllNumbered() {
				if s.seen != m.epoch {
					ranked = append(ranked, uint64(ranks[i])<<32|uint64(len(wants)))
					wants = append(wants, Want{Endpoint: ids.Name(i), Number: uint32(i) + 1})
				}
			}
		} else {
			for ep, s := range m.states.All() {
				if s.seen != m.epoch {
					wants = append(wants, Want{Endpoint: ep})
				}
			}
		}
	}
	if ranks != nil && len(ranked) == len(wants) {
		wants, ranked = m.wantsByRank(wants, ranked)
	} else {
		slices.SortFunc(wants, func(a, b Want) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	}
	if ranks != nil {
		m.scratch.keys = ranked[:0]
	}
	return requests, requestNumbers, wants
}

// wantsByRank returns wants sorted by endpoint, given each one's rank in
// the table's ascending order of IDs and its index in ranked (rank << 32
// | index): a radix sort of the ranks rather than a comparison sort of
// the IDs, into the Scratch's other want list (wants goes back to it).
// The ranks are distinct (Examine wants an endpoint once), so the order
// is the comparison sort's. It also returns ranked's buffer, sorted (the
// radix sort may swap it with the Scratch's other).
func (m *Map) wantsByRank(wants []Want, ranked []uint64) ([]Want, []uint64) {
	ranked = radixSortHigh(ranked, &m.scratch.tmp)
	out := m.scratch.sortedWants[:0]
	for _, key := range ranked {
		out = append(out, wants[uint32(key)])
	}
	clear(wants)
	m.scratch.sortedWants = wants[:0]
	return out, ranked
}

// verdict is what Examine makes of one digest.
type verdict struct {
	kind uint8
	// number is the endpoint's number in the store's table, plus 1,
	// when judged by number (judgeByNumber), else 0.
	number  uint32
	version int64 // a request's MaxVersion, a want's FromVersion
}

// Kinds of verdict.
const (
	verdictEven      uint8 = iota // the same state: nothing to do
	verdictUnknown                // no local state: request it whole
	verdictDuplicate              // the endpoint was met before in the SYN
	verdictRequest                // the peer knows more: request above version
	verdictWant                   // the peer knows less: send above version
)

// judge returns the verdict on digest d against the local state local
// (nil if none), stamping local with the current epoch.
func (m *Map) judge(d Digest, local *EndpointState) verdict {
	switch {
	case local == nil:
		return verdict{kind: verdictUnknown}
	case local.seen == m.epoch:
		return verdict{kind: verdictDuplicate}
	}
	local.seen = m.epoch
	if d.Generation > local.HeartBeat.Generation {
		return verdict{kind: verdictRequest}
	}
	if d.Generation < local.HeartBeat.Generation {
		return verdict{kind: verdictWant}
	}
	lv := local.MaxVersion()
	switch {
	case d.MaxVersion > lv:
		return verdict{kind: verdictRequest, version: lv}
	case d.MaxVersion < lv:
		return verdict{kind: verdictWant, version: local.fromVersion(d.MaxVersion)}
	}
	return verdict{kind: verdictEven}
}

// numberedExamineFrom is the least number of digests Examine judges in
// the order of their endpoints' numbers (see judgeByNumber).
const numberedExamineFrom = 64

// judgeByNumber returns the verdicts on remote, judged in the order of
// their endpoints' numbers in the store's table rather than the SYN's
// (shuffled) order: a large store's states lie in memory by number, so
// each one judged is near the last rather than a cache miss. The
// verdicts are the same as judging in the SYN's order: among duplicates
// the first in the SYN is still judged first (the sort is by number, then
// position).
func (m *Map) judgeByNumber(remote []Digest, numbers []uint32) []verdict {
	verdicts := m.scratch.verdicts[:0]
	for range remote {
		verdicts = append(verdicts, verdict{kind: verdictUnknown})
	}
	m.inNumberOrder(len(remote), func(k int) (string, uint32) {
		if numbers != nil {
			return remote[k].Endpoint, numbers[k]
		}
		return remote[k].Endpoint, 0
	}, func(k int, i uint32, local *EndpointState) {
		verdicts[k] = m.judge(remote[k], local)
		verdicts[k].number = i + 1
	})
	return verdicts
}

// inNumberOrder calls visit(k, local) for each k < n whose endpoint (named
// by endpoint(k), with its number plus 1 if known, else 0) has a state
// in the numbered store, in the order of the endpoints' numbers, which is
// the order of their records in memory: a long list in a peer's order
// would make each lookup a cache miss. A known number spares hashing the
// ID (see ExamineNumbered).
func (m *Map) inNumberOrder(n int, endpoint func(k int) (string, uint32), visit func(k int, i uint32, local *EndpointState)) {
	ids := m.numbered.IDs()
	keys := m.scratch.keys[:0]
	for k := range n {
		ep, num := endpoint(k)
		if num != 0 && ids.Numbers(num-1, ep) {
			keys = append(keys, uint64(num-1)<<32|uint64(k))
		} else if i, ok := ids.Lookup(ep); ok {
			keys = append(keys, uint64(i)<<32|uint64(k))
		}
	}
	keys = radixSortHigh(keys, &m.scratch.tmp)
	for _, key := range keys {
		if local := m.numbered.ByNumber(uint32(key >> 32)); local != nil {
			visit(int(uint32(key)), uint32(key>>32), local)
		}
	}
	m.scratch.keys = keys[:0]
}

// radixSortHigh sorts keys by their high 32 bits, stably (keys of equal
// high halves keep their order), a byte at a time, and returns the sorted
// slice: keys or *tmp, the other becoming *tmp. Linear in len(keys): a
// SYN of a large cluster sorts its N digests' numbers this way.
func radixSortHigh(keys []uint64, tmp *[]uint64) []uint64 {
	var top uint64
	for _, k := range keys {
		top = max(top, k>>32)
	}
	if cap(*tmp) < len(keys) {
		*tmp = make([]uint64, len(keys))
	}
	src, dst := keys, (*tmp)[:len(keys)]
	for shift := uint(32); shift < 64 && top>>(shift-32) > 0; shift += 8 {
		var count [257]int
		for _, k := range src {
			count[(k>>shift)&0xff+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, k := range src {
			b := (k >> shift) & 0xff
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	*tmp = dst[:0]
	return src
}

// fromVersion is the version to send from for a peer that knows the state
// up to v: v itself, or 0 (a reset) when tombstones the peer may not have
// seen were collected here.
func (s *EndpointState) fromVersion(v int64) int64 {
	if s.GCVersion > v {
		return 0
	}
	return v
}

// WantsFor turns a peer's requests (the digests of its ACK) into the states
// to send back in an ACK2. Unlike Cassandra, the generation is checked: a
// request for an older generation gets the whole current state, a request
// for a newer one gets nothing.
func (m *Map) WantsFor(requests []Digest) []Want {
	return m.WantsForNumbered(requests, nil)
}

// WantsForNumbered is WantsFor for requests whose endpoints' numbers come
// with them, as in [Map.ExamineNumbered]: numbers[k] is requests[k]'s
// plus 1, or 0; a number is trusted only where the table names the same
// ID with it.
func (m *Map) WantsForNumbered(requests []Digest, numbers []uint32) []Want {
	// A duplicate request counts once: each state met is stamped with
	// this call's epoch, as in Examine (a request for an unknown
	// endpoint gets nothing, duplicate or not).
	m.nextEpoch()
	wants := m.scratch.wantList()
	var ids *IDTable
	if m.numbered != nil && len(numbers) == len(requests) {
		ids = m.numbered.IDs()
	}
	for k, r := range requests {
		var local *EndpointState
		var number uint32
		if ids != nil && numbers[k] != 0 && ids.Numbers(numbers[k]-1, r.Endpoint) {
			local, number = m.numbered.ByNumber(numbers[k]-1), numbers[k]
		} else {
			local = m.states.Get(r.Endpoint)
		}
		if local != nil {
			if local.seen == m.epoch {
				continue
			}
			local.seen = m.epoch
		}
		switch {
		case local == nil || r.Generation > local.HeartBeat.Generation:
		case r.Generation < local.HeartBeat.Generation || r.MaxVersion <= 0:
			wants = append(wants, Want{Endpoint: r.Endpoint, Number: number})
		case local.MaxVersion() > r.MaxVersion:
			wants = append(wants, Want{Endpoint: r.Endpoint, FromVersion: local.fromVersion(r.MaxVersion), Number: number})
		}
	}
	return wants
}

// BuildDeltas turns wants into deltas whose total SizeBound is at most
// budget bytes. The most out-of-date endpoints (the largest gap between the
// local max version and FromVersion; whole states first) go first, ties by
// endpoint. A delta that does not fit whole is left for a later message
// (deltas are never cut: a receiver must get every version above
// FromVersion at once), and smaller ones after it may still fit. complete
// is false when something was left out. With [Map.SetLimits], an endpoint
// whose state breaks the limits is never sent (and does not make the
// result incomplete).
func (m *Map) BuildDeltas(wants []Want, budget int) (deltas []Delta, complete bool) {
	items := m.items[:0]
	if m.scratch != nil {
		items, m.scratch.items = m.scratch.items[:0], nil
	}
	if cap(items) < len(wants) {
		items = make([]item, 0, len(wants))
	}
	var ids *IDTable
	if m.numbered != nil {
		ids = m.numbered.IDs()
	}
	for _, w := range wants {
		var s *EndpointState
		var number uint32
		if ids != nil {
			if w.Number != 0 && ids.Numbers(w.Number-1, w.Endpoint) {
				s, number = m.numbered.ByNumber(w.Number-1), w.Number
			} else if i, ok := ids.Lookup(w.Endpoint); ok {
				s, number = m.numbered.ByNumber(i), i+1
			}
		} else {
			s = m.states.Get(w.Endpoint)
		}
		if s == nil || m.limits != nil && !m.withinLimits(s) {
			continue
		}
		gap := s.MaxVersion() - w.FromVersion
		if w.FromVersion == 0 {
			gap = wholeGap
		}
		if gap <= 0 {
			continue
		}
		items = append(items, item{want: w, state: s, gap: gap, number: number})
	}
	ordered := m.orderItems(items)
	complete = true
	if len(items) > 0 {
		deltas = m.scratch.deltaList(len(items))
	}
	defer func() {
		clear(items)
		if m.scratch != nil {
			m.scratch.items = items[:0]
			return
		}
		m.items = items[:0]
		if cap(items) > keepItems {
			m.items = nil // a node of a large cluster would keep N items for good
		}
	}()
	for _, it := range ordered {
		d := it.state.delta(it.want)
		d.Number = it.number
		if size := d.SizeBound(); size <= budget {
			budget -= size
			deltas = append(deltas, d)
		} else {
			complete = false
		}
	}
	return deltas, complete
}

// withinLimits reports whether s satisfies the Map's limits
// ([Limits.CheckState]), checking only when States changed since it last
// did: the check reads nothing else (see EndpointState.withinLimits).
func (m *Map) withinLimits(s *EndpointState) bool {
	if s.withinLimits {
		return true
	}
	if m.limits.CheckState(s) != nil {
		return false
	}
	s.withinLimits = true
	return true
}

// wholeGap is the gap of a delta that sends a state whole: it goes first.
const wholeGap = 1<<63 - 1

// orderItems returns items in the order BuildDeltas sends them: the
// largest gap first, ties by endpoint. With a Scratch, a long list is
// ordered by a stable radix sort of the gaps' ranks into the Scratch's
// buffer, without comparing endpoints, when its wants come sorted by
// endpoint (Examine's) or when a numbered store's table ranks their
// endpoints (see byRank); otherwise items is sorted in place.
func (m *Map) orderItems(items []item) []item {
	if m.scratch == nil || len(items) < numberedExamineFrom {
		return m.sortedItems(items)
	}
	var top int64
	for _, it := range items {
		if it.gap != wholeGap {
			top = max(top, it.gap)
		}
	}
	if top >= 1<<32-1 {
		return m.sortedItems(items)
	}
	keys, ok := m.byRank(items)
	if !ok {
		if !byEndpoint(items) {
			return m.sortedItems(items)
		}
		for k := range items {
			keys = append(keys, uint64(k))
		}
	}
	// keys holds the items' indexes (low halves) in endpoint order: the
	// stable sort by gap rank keeps that order among equal gaps.
	for j, key := range keys {
		it := &items[uint32(key)]
		var rank uint64 // whole states first, then by gap, the largest first
		if it.gap != wholeGap {
			rank = uint64(top - it.gap + 1)
		}
		keys[j] = rank<<32 | uint64(uint32(key))
	}
	keys = radixSortHigh(keys, &m.scratch.tmp)
	ordered := m.scratch.ordered[:0]
	for _, key := range keys {
		ordered = append(ordered, items[uint32(key)])
	}
	m.scratch.keys, m.scratch.ordered = keys[:0], ordered[:0]
	return ordered
}

// byRank returns the indexes of items in ascending order of their
// endpoints (the low halves of the keys, in the Scratch's buffer), found
// by the endpoints' ranks in a numbered store's table ([IDTable.ranks])
// rather than by comparing them, and true; or an empty buffer and false
// when an item has no number (not from a numbered store). Equal
// endpoints have equal ranks and keep their order: their items are
// equal (one state, one gap, hence one FromVersion), so the order is a
// comparison sort's.
func (m *Map) byRank(items []item) ([]uint64, bool) {
	keys := m.scratch.keys[:0]
	if m.numbered == nil {
		return keys, false
	}
	ranks := m.numbered.IDs().ranks()
	sorted := true
	for k, it := range items {
		if it.number == 0 {
			return keys[:0], false
		}
		key := uint64(ranks[it.number-1])<<32 | uint64(k)
		if k > 0 && key < keys[k-1] {
			sorted = false
		}
		keys = append(keys, key)
	}
	if !sorted {
		keys = radixSortHigh(keys, &m.scratch.tmp)
	}
	return keys, true
}

// sortedItems sorts items in place by gap, the largest first, then by
// endpoint.
func (m *Map) sortedItems(items []item) []item {
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(b.gap, a.gap); c != 0 {
			return c
		}
		return cmp.Compare(a.want.Endpoint, b.want.Endpoint)
	})
	return items
}

// byEndpoint reports whether items are in strictly ascending endpoint
// order.
func byEndpoint(items []item) bool {
	for i := 1; i < len(items); i++ {
		if items[i-1].want.Endpoint >= items[i].want.Endpoint {
			return false
		}
	}
	return true
}

// keepItems is the largest BuildDeltas buffer a Map keeps between calls:
// an Ack to a Syn of a large cluster wants nearly every endpoint, and a
// simulation of N nodes would otherwise hold N² items.
const keepItems = 256

// item is one want BuildDeltas considers.
type item struct {
	want  Want
	state *EndpointState
	gap   int64
	// number is the endpoint's number plus 1 in a numbered store's
	// table, 0 otherwise: the delta carries it (Delta.Number).
	number uint32
}

// delta builds the delta for w from s. A want from at or above the
// states' versions (StatesVersion: a peer behind by heartbeats only, the
// usual case) gets no states without walking them.
func (s *EndpointState) delta(w Want) Delta {
	d := Delta{
		Endpoint:    w.Endpoint,
		Generation:  s.HeartBeat.Generation,
		GCVersion:   s.GCVersion,
		Reset:       w.FromVersion == 0,
		FromVersion: w.FromVersion,
	}
	if w.FromVersion < s.StatesVersion() {
		d.States = s.entriesAbove(w.FromVersion)
	}
	if d.Reset || s.HeartBeat.Version > w.FromVersion || len(d.States) > 0 {
		d.HeartBeat = s.HeartBeat.Version
	}
	return d
}

// ChangeKind says what an applied delta changed.
type ChangeKind uint8

// Kinds of [Change].
const (
	// ChangeJoined: a new endpoint. Generation is set.
	ChangeJoined ChangeKind = iota + 1
	// ChangeRestarted: a higher generation replaced the endpoint's state.
	// OldGeneration and Generation are set.
	ChangeRestarted
	// ChangeHeartBeat: the endpoint's heartbeat advanced (Generation, and
	// New.Version = the new heartbeat version). A failure detector counts
	// these as arrivals.
	ChangeHeartBeat
	// ChangeValue: Key now has New.Value (Old is the previous live value,
	// zero if there was none).
	ChangeValue
	// ChangeDeleted: Key was deleted (Old is the last live value).
	ChangeDeleted
)

// String returns the kind's name.
func (k ChangeKind) String() string {
	switch k {
	case ChangeJoined:
		return "joined"
	case ChangeRestarted:
		return "restarted"
	case ChangeHeartBeat:
		return "heartbeat"
	case ChangeValue:
		return "value"
	case ChangeDeleted:
		return "deleted"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one effect of [Map.Apply].
type Change struct {
	// Kind says what changed.
	Kind ChangeKind
	// Endpoint is the node ID the change is about.
	Endpoint string
	// Key is the application-state key (value and delete changes).
	Key string
	// Old and New are the key's previous and new values (value and delete
	// changes); for heartbeat changes New.Version is the new heartbeat.
	Old, New VersionedValue
	// Generation is the endpoint's generation after the change;
	// OldGeneration the one before (restarts).
	Generation, OldGeneration int64
	// Number is the endpoint's number in the table of the Map's
	// [NumberedStore], plus 1, when Apply knew it without hashing the ID
	// (the delta carried it: [Delta.Number]); 0 otherwise. The caller
	// may find its own record of the endpoint by it.
	Number uint32
}

// ApplyOptions are the receiver-side inputs of [Map.Apply].
type ApplyOptions struct {
	// Now is the receiver's wall clock: it bounds generations and stamps
	// tombstones for collection.
	Now time.Time
	// Limits every delta, and every state it leaves, must satisfy.
	Limits Limits
	// MaxEndpoints, when > 0, is the most endpoints the map may hold: a
	// delta about a new endpoint is refused (ErrTooManyEndpoints) once
	// the map holds that many. Known endpoints keep updating.
	MaxEndpoints int
	// Skip, when set, names deltas to ignore by endpoint and generation:
	// the local node's (only it speaks for itself) and those of removed
	// endpoints in quarantine.
	Skip func(endpoint string, generation int64) bool
}

// Apply applies deltas received from a peer and returns what changed, in
// order. Each delta is judged alone: one that is invalid
// ([Limits.CheckDelta]), whose generation is more than
// [MaxGenerationDrift] ahead of Now ([ErrGenerationTooFar]), that would
// add an endpoint beyond MaxEndpoints ([ErrTooManyEndpoints]), or whose
// result would break the limits ([Limits.CheckState]: the merged state,
// not just the delta, so no number of deltas can grow an endpoint past
// them) is refused, leaving that endpoint as it was, while the others
// apply. The returned error joins one error per refused delta, each
// naming its endpoint (errors.Join: it has an Unwrap() []error method).
// Rules per delta (Cassandra's applyStateLocally):
//   - an unknown endpoint or a higher generation: the whole state is
//     replaced, provided the delta is a reset (an incremental delta about a
//     state we do not have is stale and ignored);
//   - a lower generation: ignored;
//   - the same generation: a reset with a higher max version replaces the
//     state; an incremental delta starting above our max version (it would
//     leave a gap) is ignored; otherwise each key is taken only if its
//     version is strictly higher than ours (and, for a key we do not hold,
//     above our GCVersion: its delete was collected here), and the
//     heartbeat only if it advanced.
//
// Every applied state then keeps at most Limits.MaxKeys tombstones, the
// oldest being collected, so a state received always fits a reset delta.
func (m *Map) Apply(deltas []Delta, opts ApplyOptions) ([]Change, error) {
	changes := m.scratch.changeList(len(deltas))
	var errs []error
	limit := opts.Now.Unix() + MaxGenerationDrift
	var locals []*EndpointState
	if m.numbered != nil && m.scratch != nil && len(deltas) >= numberedExamineFrom {
		locals = m.localsByNumber(deltas)
		defer func() { clear(locals); m.scratch.locals = locals[:0] }()
	}
	var ids *IDTable
	if m.numbered != nil {
		ids = m.numbered.IDs()
	}
	// The changes a delta carrying a valid number makes are numbered
	// with it, at the start of the next iteration (or after the last).
	from, number := 0, uint32(0)
	for i := range deltas {
		d := &deltas[i]
		numberChanges(changes[from:], number)
		from, number = len(changes), 0
		if ids != nil && d.Number != 0 && ids.Numbers(d.Number-1, d.Endpoint) {
			number = d.Number
		}
		if err := opts.Limits.CheckDelta(d); err != nil {
			errs = append(errs, fmt.Errorf("apply: %w", err))
			continue
		}
		if opts.Skip != nil && opts.Skip(d.Endpoint, d.Generation) {
			continue
		}
		if d.Generation > limit {
			errs = append(errs, fmt.Errorf("apply %q: %w: generation %d, clock %d",
				d.Endpoint, ErrGenerationTooFar, d.Generation, opts.Now.Unix()))
			continue
		}
		if opts.MaxEndpoints > 0 && d.Reset && m.states.Len() >= opts.MaxEndpoints && m.states.Get(d.Endpoint) == nil {
			errs = append(errs, fmt.Errorf("apply %q: %w: %d known, limit %d",
				d.Endpoint, ErrTooManyEndpoints, m.states.Len(), opts.MaxEndpoints))
			continue
		}
		if !d.Reset && len(d.States) == 0 {
			// Only the heartbeat (and GCVersion) can move: the stored
			// state keeps its keys, so it stays within the limits.
			var local *EndpointState
			if locals != nil {
				local = locals[i]
			}
			switch {
			case local != nil:
			case number != 0:
				local = m.numbered.ByNumber(number - 1)
			default:
				local = m.states.Get(d.Endpoint)
			}
			if local != nil && local.HeartBeat.Generation == d.Generation && d.FromVersion <= local.MaxVersion() {
				changes = local.merge(d, opts.Now, changes)
			}
			continue
		}
		next, changed := m.applyOne(d, opts.Now, changes)
		if next == nil {
			continue
		}
		next.TrimTombstones(opts.Limits.MaxKeys)
		if err := opts.Limits.CheckState(next); err != nil {
			errs = append(errs, fmt.Errorf("apply %q: the resulting state: %w", d.Endpoint, err))
			continue
		}
		if local := m.states.Get(d.Endpoint); local == nil {
			m.states.Put(d.Endpoint, next)
			m.dirty = true
		} else if local != next {
			aux := local.Aux // the Store's, not the state's
			*local = *next   // in place: Map.sorted keeps pointing at it
			local.Aux = aux
		}
		changes = changed
	}
	numberChanges(changes[from:], number)
	return changes, errors.Join(errs...)
}

// numberChanges sets the Number of changes to number, unless it is 0.
func numberChanges(changes []Change, number uint32) {
	if number == 0 {
		return
	}
	for i := range changes {
		changes[i].Number = number
	}
}

// localsByNumber returns the local state of each delta's endpoint (nil
// if none), looked up in the order of the endpoints' numbers in the
// store's table rather than the deltas' order, as judgeByNumber does: a
// large store's states lie in memory by number. Apply uses them for its
// heartbeat deltas, which the deltas before cannot have made stale: a
// numbered store keeps an endpoint's state in place, and Apply removes
// none (a state made by an earlier delta is looked up again). It reads
// each state's versions here (MaxVersion, which at most fills its own cache), in
// memory order, so that Apply's later reads in the deltas' order find
// them in the cache: at 3,000 nodes that halved Apply's CPU.
func (m *Map) localsByNumber(deltas []Delta) []*EndpointState {
	locals := m.scratch.locals[:0]
	for range deltas {
		locals = append(locals, nil)
	}
	m.inNumberOrder(len(deltas), func(k int) (string, uint32) { return deltas[k].Endpoint, deltas[k].Number }, func(k int, _ uint32, local *EndpointState) {
		// The fields Apply's heartbeat path reads, read here in the order
		// of the states in memory rather than later in the deltas' order.
		local.MaxVersion()
		locals[k] = local
	})
	return locals
}

// applyOne returns the state d leaves for its endpoint (nil when d changes
// nothing) and changes with d's effects appended. It changes neither the
// map nor the stored state: the caller installs the result if it is within
// the limits.
func (m *Map) applyOne(d *Delta, now time.Time, changes []Change) (*EndpointState, []Change) {
	local := m.states.Get(d.Endpoint)
	switch {
	case local == nil:
		if !d.Reset {
			return nil, changes
		}
		s := stateFromDelta(d, now)
		changes = append(changes, Change{Kind: ChangeJoined, Endpoint: d.Endpoint, Generation: d.Generation})
		return s, diff(changes, d.Endpoint, NewEndpointState(d.Generation), s)
	case d.Generation > local.HeartBeat.Generation:
		if !d.Reset {
			return nil, changes
		}
		s := stateFromDelta(d, now)
		changes = append(changes, Change{Kind: ChangeRestarted, Endpoint: d.Endpoint,
			Generation: d.Generation, OldGeneration: local.HeartBeat.Generation})
		return s, diff(changes, d.Endpoint, local, s)
	case d.Generation < local.HeartBeat.Generation:
		return nil, changes
	case d.Reset:
		if d.MaxVersion() <= local.MaxVersion() {
			return nil, changes
		}
		s := stateFromDelta(d, now)
		s.HeartBeat.Version = max(s.HeartBeat.Version, local.HeartBeat.Version)
		changes = heartbeatChange(changes, d, local)
		return s, diff(changes, d.Endpoint, local, s)
	}
	if d.FromVersion > local.MaxVersion() {
		return nil, changes
	}
	s := local.Clone()
	return s, s.merge(d, now, changes)
}

// merge applies an incremental delta of the same generation.
func (s *EndpointState) merge(d *Delta, now time.Time, changes []Change) []Change {
	changes = heartbeatChange(changes, d, s)
	if d.HeartBeat > s.HeartBeat.Version {
		s.HeartBeat.Version = d.HeartBeat
	}
	s.GCVersion = max(s.GCVersion, d.GCVersion)
	var taken []KeyValue
	for _, kv := range d.States {
		old, had := s.States.Get(kv.Key)
		for i := len(taken) - 1; i >= 0; i-- {
			if taken[i].Key == kv.Key { // a key the delta repeats: its latest
				old, had = taken[i].VersionedValue, true
				break
			}
		}
		if had && kv.Version <= old.Version || !had && kv.Version <= s.GCVersion {
			continue
		}
		taken = append(taken, kv)
		changes = appendKeyChange(changes, d.Endpoint, kv.Key, old, had, kv.VersionedValue, d.Generation)
	}
	s.putAll(taken, now)
	return changes
}

func heartbeatChange(changes []Change, d *Delta, local *EndpointState) []Change {
	if d.HeartBeat > local.HeartBeat.Version {
		changes = append(changes, Change{Kind: ChangeHeartBeat, Endpoint: d.Endpoint,
			Generation: d.Generation, New: VersionedValue{Version: d.HeartBeat}})
	}
	return changes
}

func stateFromDelta(d *Delta, now time.Time) *EndpointState {
	s := NewEndpointState(d.Generation)
	s.HeartBeat.Version = d.HeartBeat
	s.GCVersion = d.GCVersion
	var taken []KeyValue
	for _, kv := range d.States {
		if i := slices.IndexFunc(taken, func(t KeyValue) bool { return t.Key == kv.Key }); i >= 0 {
			if taken[i].Version < kv.Version {
				taken[i] = kv
			}
			continue
		}
		taken = append(taken, kv)
	}
	s.putAll(taken, now)
	return s
}

// diff appends the value and delete changes that turn old into new, in the
// order of the new versions (deletions of vanished keys last, by key).
func diff(changes []Change, endpoint string, old, new *EndpointState) []Change {
	for _, kv := range new.entriesAbove(0) {
		prev, had := old.States.Get(kv.Key)
		if had && prev == kv.VersionedValue {
			continue
		}
		changes = appendKeyChange(changes, endpoint, kv.Key, prev, had, kv.VersionedValue, new.HeartBeat.Generation)
	}
	for key, prev := range old.States.All() {
		if _, still := new.States.Get(key); still || prev.Deleted {
			continue
		}
		changes = append(changes, Change{Kind: ChangeDeleted, Endpoint: endpoint, Key: key,
			Old: prev, Generation: new.HeartBeat.Generation})
	}
	return changes
}

// appendKeyChange reports a key moving from old (had: present) to new, if
// the live value visibly changed.
func appendKeyChange(changes []Change, endpoint, key string, old VersionedValue, had bool, new VersionedValue, gen int64) []Change {
	wasLive := had && !old.Deleted
	if !wasLive {
		old = VersionedValue{}
	}
	switch {
	case new.Deleted && wasLive:
		return append(changes, Change{Kind: ChangeDeleted, Endpoint: endpoint, Key: key, Old: old, New: new, Generation: gen})
	case new.Deleted:
		return changes
	case wasLive && old.Value == new.Value:
		return changes
	}
	return append(changes, Change{Kind: ChangeValue, Endpoint: endpoint, Key: key, Old: old, New: new, Generation: gen})
}
