package core

import (
	"math"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// Push on change (rumour mongering, Demers et al. 1987): the second speed
// next to the digest rounds. A change of application state (SetState,
// DeleteState, a new generation of this node or of a peer, this node
// entering the cluster) marks its endpoint dirty; [Node.Flush] sends the
// new versions of every dirty endpoint, as one Push, to PushFanout random
// live peers. A node that applies a pushed delta that was new to it marks
// those changes dirty in turn and forwards them once, never to the node
// it got them from; a delta that changes nothing is not forwarded, so
// each change is forwarded at most once per node and the epidemic ends.
// Heartbeat-only changes are never pushed. A token bucket in virtual time
// (PushRate, PushBurst) bounds the Push messages a node sends; changes
// that arrive while it is empty wait in the dirty set and go out together
// in a later push. Push is best effort: a lost Push costs nothing but
// speed, as the digest rounds still bring every change everywhere.

// pushState is the core's push bookkeeping.
type pushState struct {
	// dirty holds, per endpoint, what to push at the next flush.
	dirty map[string]pushEntry
	// entered is set once the node's own state was marked for its first
	// push after it started running.
	entered bool
	// bucket is the push budget (PushRate, PushBurst).
	bucket tokenBucket
	// need is the fanout of the last push attempted: the tokens the next
	// one will likely take.
	need int
	// sender, while a Push is applied, is its sender's ID: changes it
	// brought are forwarded, but not back to it.
	sender  string
	viaPush bool
}

// pushEntry is one dirty endpoint: the generation the change was in, and
// the lowest new version (0: the whole state, for a new generation).
type pushEntry struct {
	generation int64
	lowest     int64
	sender     string
}

// markDirty records a change of endpoint ep in generation gen whose new
// versions start at lowest (0: the whole state), learned from sender (""
// for a local change or an unknown one).
func (n *Node) markDirty(ep string, gen, lowest int64, sender string) {
	if n.cfg.PushFanout == 0 {
		return
	}
	if n.push.dirty == nil {
		n.push.dirty = map[string]pushEntry{}
	}
	e, ok := n.push.dirty[ep]
	switch {
	case !ok || e.generation != gen:
		e = pushEntry{generation: gen, lowest: lowest, sender: sender}
	case lowest < e.lowest:
		e.lowest = lowest
	}
	n.push.dirty[ep] = e
}

// releaseDirty empties the dirty set. A set that grew large (a join
// learns the whole cluster at once) is dropped rather than cleared, since
// a Go map keeps its capacity: the node would hold a slot per endpoint
// for good.
func (n *Node) releaseDirty() {
	if len(n.push.dirty) > 64 {
		n.push.dirty = nil
		return
	}
	clear(n.push.dirty)
}

// notePushChanges marks for a push what applied gossip changed: a new
// generation (a restart, an announcement that a node left) from any
// source, and new values or deletes that came in a Push. News of a new
// endpoint (a join) is pushed on only first-hand, when the Push came from
// that endpoint itself: a join announcement travels two hops by push (the
// new node to a few peers, each of them to a few more) and the digest
// rounds carry it the rest of the way. Forwarded from every node it was
// new to, as other news is, a cluster starting at once sent N² × fanout
// pushes, each a connection to open (docs/performance.md, "Join").
func (n *Node) notePushChanges(changes []endpointstate.Change) {
	if n.phase != phaseRunning || n.cfg.PushFanout == 0 {
		return
	}
	secondHand := n.secondHandJoins(changes)
	for _, c := range changes {
		switch c.Kind {
		case endpointstate.ChangeJoined:
			if n.push.viaPush && !secondHand[c.Endpoint] {
				n.markDirty(c.Endpoint, c.Generation, 0, n.push.sender)
			}
		case endpointstate.ChangeRestarted:
			n.markDirty(c.Endpoint, c.Generation, 0, n.push.sender)
		case endpointstate.ChangeValue, endpointstate.ChangeDeleted:
			if n.push.viaPush && !secondHand[c.Endpoint] {
				// A key that vanished in a reset has no new version: push
				// the whole state.
				n.markDirty(c.Endpoint, c.Generation, max(c.New.Version, 0), n.push.sender)
			}
		}
	}
}

// secondHandJoins returns the endpoints changes show joining that the
// Push being applied did not come from (nil when there are none, or when
// no Push is being applied: then only restarts are pushed on).
func (n *Node) secondHandJoins(changes []endpointstate.Change) map[string]bool {
	if !n.push.viaPush {
		return nil
	}
	var joins map[string]bool
	for _, c := range changes {
		if c.Kind == endpointstate.ChangeJoined && c.Endpoint != n.push.sender {
			if joins == nil {
				joins = map[string]bool{}
			}
			joins[c.Endpoint] = true
		}
	}
	return joins
}

// handlePush applies a pushed delta like an Ack2's, and never answers:
// what was new here is forwarded by the next Flush.
func (n *Node) handlePush(now time.Time, env *messaging.Envelope, m *messaging.Push, out *Output) {
	n.push.sender, n.push.viaPush = env.From, true
	defer func() { n.push.sender, n.push.viaPush = "", false }()
	n.applyDeltas(now, m.Deltas, out)
}

// PushPending reports whether changes wait to be pushed, or echoes to be
// sent, and how long from now until the rate limits let [Node.Flush] send
// them (0: at once).
func (n *Node) PushPending(now time.Time) (wait time.Duration, pending bool) {
	wait, pending = n.pushPending(now)
	if ew, ok := n.echoPending(now); ok && (!pending || ew < wait) {
		wait, pending = ew, true
	}
	if cw, ok := n.catchUpPending(now); ok && (!pending || cw < wait) {
		wait, pending = cw, true
	}
	return wait, pending
}

func (n *Node) pushPending(now time.Time) (wait time.Duration, pending bool) {
	if n.phase != phaseRunning || n.cfg.PushFanout == 0 {
		return 0, false
	}
	if !n.push.entered {
		return 0, true
	}
	if len(n.push.dirty) == 0 {
		return 0, false
	}
	n.refill(now)
	need := max(n.push.need, 1)
	if n.hasTokens(need) {
		return 0, true
	}
	return max(n.push.bucket.wait(need, n.cfg.PushRate), time.Nanosecond), true
}

// hasTokens reports whether the bucket holds k tokens (within rounding:
// refills add fractions of a token).
func (n *Node) hasTokens(k int) bool { return n.push.bucket.tokens+1e-9 >= float64(k) }

// refill adds the push tokens earned since the last refill, up to
// PushBurst.
func (n *Node) refill(now time.Time) {
	n.push.bucket.refill(n.moment(now), n.cfg.PushRate, float64(n.cfg.PushBurst))
}

// Flush pushes what changed since the last push: the new versions of
// every dirty endpoint, in one Push, to up to PushFanout random live peers
// (if the rate limit does not allow that many now, the changes wait for a
// later Flush, see [Node.PushPending]), and sends the echoes due that the
// echo budget allows. The runtime calls it after
// it has drained the messages and commands waiting, so changes that come
// in a burst are pushed together. It does nothing unless the node runs.
func (n *Node) Flush(now time.Time) Output {
	var out Output
	if n.phase == phaseRunning {
		n.sendCatchUp(now, &out)
		n.sendEchoes(now, &out)
	}
	if n.phase != phaseRunning || n.cfg.PushFanout == 0 {
		return out
	}
	if !n.push.entered {
		// A node that starts (or ends its shadow round) announces itself.
		n.push.entered = true
		n.markDirty(n.id, n.gen, 0, "")
	}
	if eps, targets := n.pushDue(now); len(targets) > 0 {
		n.sendPush(eps, targets, &out)
	}
	return out
}

// pushDue returns the dirty endpoints, sorted, and the peers to push them
// to; no targets when nothing is to be pushed now: nothing is dirty, the
// rate limit says wait (counted in PushesDeferred), or nobody is there to
// tell (the rounds will: the changes are released).
func (n *Node) pushDue(now time.Time) (eps, targets []string) {
	if len(n.push.dirty) == 0 {
		return nil, nil
	}
	n.refill(now)
	if !n.hasTokens(max(n.push.need, 1)) {
		n.counters.PushesDeferred++
		return nil, nil
	}
	eps = sortedKeys(n.push.dirty)
	if targets = n.pushTargets(eps); len(targets) == 0 {
		n.releaseDirty()
		return nil, nil
	}
	// A push goes to its full fanout or waits: a thinner one would reach
	// fewer nodes.
	if n.push.need = len(targets); !n.hasTokens(n.push.need) {
		n.counters.PushesDeferred++
		return nil, nil
	}
	return eps, targets
}

// sendPush sends the new versions of the dirty endpoints eps in one Push
// to each of targets, spending a token each, and releases them. What does
// not fit one frame is left to the rounds.
func (n *Node) sendPush(eps, targets []string, out *Output) {
	wants := make([]endpointstate.Want, 0, len(eps))
	for _, ep := range eps {
		if w, ok := n.pushWant(ep, n.push.dirty[ep]); ok {
			wants = append(wants, w)
		}
	}
	n.releaseDirty()
	deltas, _ := n.states.BuildDeltas(wants, n.cfg.MaxFrameSize-n.overhead)
	if len(deltas) == 0 {
		return
	}
	push := &messaging.Push{Deltas: deltas}
	for _, to := range targets {
		out.send(to, push)
	}
	n.push.bucket.tokens -= float64(len(targets))
	n.counters.Pushes += uint64(len(targets))
}

// pushWant is what to push of endpoint ep: the versions from e.lowest on,
// sent above the highest version held below them, so that a receiver that
// has everything older takes the delta without a gap; or the whole state
// for a new generation.
func (n *Node) pushWant(ep string, e pushEntry) (endpointstate.Want, bool) {
	s := n.states.Get(ep)
	if s == nil {
		return endpointstate.Want{}, false
	}
	if e.lowest <= 0 || s.HeartBeat.Generation != e.generation {
		return endpointstate.Want{Endpoint: ep}, true
	}
	from := int64(0)
	for _, v := range s.States.All() {
		if v.Version < e.lowest {
			from = max(from, v.Version)
		}
	}
	if s.GCVersion > from {
		from = 0 // a delete collected here: send the whole state
	}
	return endpointstate.Want{Endpoint: ep, FromVersion: from}, true
}

// pushTargets returns up to PushFanout addresses to push to, in random
// order: live peers other than the nodes the changes came from and the
// endpoints they are about. A node that sees no peer up yet (it has just
// started) pushes to the peers it knows of instead, or to its seeds.
func (n *Node) pushTargets(eps []string) []string {
	live, unreachable := n.targets()
	candidates := live
	if live.len() == 0 {
		candidates = unreachable
	}
	if candidates.len() == 0 {
		return pickRandom(n, slices.Clone(n.seeds), n.pushFanout(live.len()))
	}
	// The candidates less the skipped ones, picked among without a copy
	// of them (a push in a large cluster would copy every live peer):
	// the positions of the few skipped, then the same draws as picking
	// among a filtered copy.
	skip := make([]int, 0, 2*len(eps))
	for _, ep := range eps {
		for _, id := range [2]string{ep, n.push.dirty[ep].sender} {
			if i, found := candidates.find(id); found {
				skip = append(skip, i)
			}
		}
	}
	slices.Sort(skip)
	skip = slices.Compact(skip)
	picked := pickRandomSkipping(n, candidates, skip, n.pushFanout(live.len()))
	for i, ep := range picked {
		picked[i] = n.addrOf(ep)
	}
	return picked
}

// pickRandomSkipping returns what pickRandom(n, filtered, k) would, for
// filtered a copy of list without the elements at the ascending positions
// skip, without making the copy: the same draws, a Fisher–Yates shuffle
// whose few moved slots are kept aside.
func pickRandomSkipping(n *Node, list targetList, skip []int, k int) []string {
	size := list.len() - len(skip)
	k = min(k, size)
	// at returns the list position of filtered element x.
	at := func(x int) int {
		for _, s := range skip {
			if s > x {
				break
			}
			x++
		}
		return x
	}
	type slot struct{ pos, val int }
	moved := make([]slot, 0, 2*k)
	get := func(x int) int {
		for _, m := range moved {
			if m.pos == x {
				return m.val
			}
		}
		return at(x)
	}
	put := func(x, v int) {
		for i := range moved {
			if moved[i].pos == x {
				moved[i].val = v
				return
			}
		}
		moved = append(moved, slot{x, v})
	}
	picked := make([]string, k)
	for i := range k {
		j := i + n.rng.IntN(size-i)
		vi, vj := get(i), get(j)
		put(i, vj)
		put(j, vi)
		picked[i] = list.at(vj)
	}
	return picked
}

// pushFanout is Config.PushFanout, or for PushFanoutAuto ceil(ln n) + 3
// for the n nodes seen up (this one included), at least 3; never more
// than PushBurst.
func (n *Node) pushFanout(live int) int {
	f := n.cfg.PushFanout
	if f == PushFanoutAuto {
		f = max(3, int(math.Ceil(math.Log(float64(live+1))))+3)
	}
	return min(f, n.cfg.PushBurst)
}

// pickRandom moves k random elements of list (or all of them) to its
// front, in random order, and returns them.
func pickRandom(n *Node, list []string, k int) []string {
	k = min(k, len(list))
	for i := range k {
		j := i + n.rng.IntN(len(list)-i)
		list[i], list[j] = list[j], list[i]
	}
	return list[:k]
}

// roundPeers returns the addresses of the live peers a round sends its Syn
// to: Fanout of them, distinct, at random (one, as in Cassandra, by
// default).
func (n *Node) roundPeers(live targetList) []string {
	if live.len() == 0 {
		return nil
	}
	if n.cfg.Fanout <= 1 {
		return []string{n.addrOf(live.at(n.rng.IntN(live.len())))}
	}
	// The same draws as pickRandom on a copy of the list, without the copy.
	picked := pickRandomSkipping(n, live, nil, n.cfg.Fanout)
	for i, ep := range picked {
		picked[i] = n.addrOf(ep)
	}
	return picked
}
