package core

import (
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// Start begins the node's life at now: with seeds and a ShadowTimeout it
// first runs the shadow round (see [Node.Running]); otherwise it gossips
// from the next Tick. A generation more than
// endpointstate.MaxGenerationDrift ahead of now (which every peer would
// refuse) stops the node at once with Output.Fatal.
func (n *Node) Start(now time.Time) Output {
	var out Output
	if n.phase != phaseNew {
		return out
	}
	if err := checkGeneration(n.gen, now, "node"); err != nil {
		n.phase = phaseStopped
		out.Fatal = err
		return out
	}
	if n.cfg.ShadowTimeout > 0 && len(n.seeds) > 0 {
		n.beginShadow(now, &out)
		return out
	}
	n.phase = phaseRunning
	n.beginCatchUp(now)
	return out
}

// Tick advances the node to now. While running, each call is one gossip
// round (Cassandra's GossipTask): bump the heartbeat, send a Syn to a random
// live peer, maybe to an unreachable one and maybe to a seed, then check
// every peer's liveness. Call it every Config.Interval.
func (n *Node) Tick(now time.Time) Output {
	var out Output
	switch n.phase {
	case phaseShadow:
		n.tickShadow(now, &out)
	case phaseRunning:
		n.round(now, &out)
	}
	return out
}

func (n *Node) round(now time.Time, out *Output) {
	n.counters.Rounds++
	n.tickLocalPause(now, out)
	n.tickSelfProbe(now, out)
	n.self().HeartBeat.Version = n.versions.Next()
	n.states.CollectGarbage(now, n.cfg.TombstoneGrace)
	n.gossip(now, out)
	n.checkStatus(now, out)
	n.sendEchoes(now, out)
	n.countDeferred(out)
}

// tickLocalPause feeds the round to the failure detector's local-pause
// guard: a gap since the previous round longer than MaxLocalPause is this
// node's own stall, and its excess is not counted as any peer's silence.
// Each pause is counted and reported as a notice.
func (n *Node) tickLocalPause(now time.Time, out *Output) {
	stall := n.detector.Tick(now)
	n.counters.LocalPauses = n.detector.PauseStats().Pauses
	if stall > 0 {
		limit := n.cfg.FailureDetector.MaxLocalPause
		out.Notices = append(out.Notices, fmt.Errorf("local pause: %v between two rounds (MaxLocalPause %v): "+
			"this process was stalled; %v of it is not counted as any peer's silence", stall+limit, limit, stall))
	}
}

// countDeferred counts the convictions the local-pause discount deferred
// this round and reports them as one notice.
func (n *Node) countDeferred(out *Output) {
	deferred := n.detector.PauseStats().Deferred
	if d := deferred - n.counters.ConvictionsDeferred; d > 0 {
		out.Notices = append(out.Notices, fmt.Errorf("local pause: deferred %d conviction(s) that only this node's own stall would have caused", d))
	}
	n.counters.ConvictionsDeferred = deferred
}

// gossip sends this round's Syns.
func (n *Node) gossip(now time.Time, out *Output) {
	syn := n.synDigests(now)
	live, unreachable := n.targets()
	sentToSeed := false
	first := len(out.Messages)
	for _, to := range n.roundPeers(live) {
		out.send(to, syn)
		sentToSeed = sentToSeed || n.isSeed(to)
	}
	if l, u := live.len(), unreachable.len(); u > 0 && n.rng.Float64() < float64(u)/float64(l+1) {
		out.send(n.addrOf(unreachable.at(n.rng.IntN(u))), syn)
	}
	if !sentToSeed || live.len() < len(n.seeds) {
		n.maybeGossipToSeed(live.len(), unreachable.len(), syn, out.Messages[first:], out)
	}
}

func (n *Node) maybeGossipToSeed(live, unreachable int, syn messaging.Message, sent []Outgoing, out *Output) {
	if len(n.seeds) == 0 {
		return
	}
	if live == 0 || n.rng.Float64() <= float64(len(n.seeds))/float64(live+unreachable) {
		seed := n.seeds[n.rng.IntN(len(n.seeds))]
		for _, m := range sent {
			if m.To == seed {
				return // already has this round's Syn (it was the unreachable pick)
			}
		}
		out.send(seed, syn)
	}
}

// synDigests returns the Syn of the digests of everything known except
// quarantined endpoints, shuffled, the local node's first, cut to fit one
// frame. The digest list is the round's one allocation: the Syn keeps
// it. A node sharing an ID table (the simulator's) also gives each
// digest's endpoint number (messaging.NumberedSyn), so that its receivers and the
// simulator's sizing find the endpoints without hashing their IDs.
func (n *Node) synDigests(now time.Time) messaging.Message {
	self := n.self()
	out := n.cfg.Scratch.Digests()
	if out == nil {
		out = make([]endpointstate.Digest, 0, n.states.Len())
	}
	out = append(out, endpointstate.Digest{Endpoint: n.id, Generation: self.HeartBeat.Generation, MaxVersion: self.MaxVersion()})
	var nums []uint32
	if ids := n.cfg.IDs; ids != nil && n.cfg.Scratch != nil {
		nums = append(n.cfg.Scratch.Numbers(), 0)
		for i, s := range n.states.AllNumbered() {
			ep := ids.Name(i)
			if ep == n.id {
				nums[0] = i + 1
				continue
			}
			if len(n.removed) > 0 && n.quarantined(ep, s.HeartBeat.Generation, now) {
				continue
			}
			out = append(out, endpointstate.Digest{Endpoint: ep, Generation: s.HeartBeat.Generation, MaxVersion: s.MaxVersion()})
			nums = append(nums, i+1)
		}
	} else {
		for ep, s := range n.states.All() {
			if ep == n.id || len(n.removed) > 0 && n.quarantined(ep, s.HeartBeat.Generation, now) {
				continue
			}
			out = append(out, endpointstate.Digest{Endpoint: ep, Generation: s.HeartBeat.Generation, MaxVersion: s.MaxVersion()})
		}
	}
	rest := out[1:]
	if nums != nil {
		restNums := nums[1:]
		n.rng.Shuffle(len(rest), func(i, j int) {
			rest[i], rest[j] = rest[j], rest[i]
			restNums[i], restNums[j] = restNums[j], restNums[i]
		})
	} else {
		n.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	}
	budget := n.cfg.MaxFrameSize - n.overhead
	for i, d := range out {
		if budget -= d.SizeBound(); budget < 0 {
			out = out[:i]
			break
		}
	}
	if nums != nil {
		return &messaging.NumberedSyn{Syn: messaging.Syn{Digests: out}, Numbers: nums[:len(out)]}
	}
	return &messaging.Syn{Digests: out}
}

// targets returns the live peers and the unreachable ones worth gossiping
// to (down, not left, with an address), both sorted by ID. The lists are
// kept between rounds and rebuilt only after a change that can move a
// peer between them (see [Node.retarget]); callers must not change them.
func (n *Node) targets() (live, unreachable targetList) {
	if !n.targetsStale {
		return n.live, n.unreachable
	}
	// New lists: a caller may still hold the old ones.
	live, unreachable = newTargetList(n.cfg.IDs), newTargetList(n.cfg.IDs)
	// list returns the list a tracked peer p with state s belongs in, or nil.
	list := func(p *peer, s *endpointstate.EndpointState) *targetList {
		switch {
		case p == nil || s.Address() == "":
			return nil
		case p.alive():
			return &live
		case s.Status() != endpointstate.StatusLeft:
			return &unreachable
		}
		return nil
	}
	if n.cfg.IDs != nil { // records by number: no ID hashed
		for i, s := range n.states.AllNumbered() {
			if p := n.peers.numbered(i); p != nil && p.has(flagTracked) {
				if l := list(p, s); l != nil {
					l.nums = append(l.nums, i)
				}
			}
		}
	} else {
		for ep, s := range n.states.All() {
			if l := list(n.peers.get(ep), s); l != nil {
				l.add(ep)
			}
		}
	}
	n.live, n.unreachable, n.targetsStale = live, unreachable, false
	return live, unreachable
}

// retarget marks the gossip targets for a rebuild: a peer was added,
// removed, went up or down, or its address or status may have changed.
func (n *Node) retarget() { n.targetsStale = true }

func (n *Node) anyAlive() bool {
	live, _ := n.targets()
	if live.len() > 0 {
		return true
	}
	for _, p := range n.peers.all() { // a live peer without an address
		if p.alive() {
			return true
		}
	}
	return false
}

func (n *Node) addrOf(ep string) string {
	if s := n.states.Get(ep); s != nil {
		return s.Address()
	}
	return ""
}

func (n *Node) isSeed(addr string) bool {
	for _, s := range n.seeds {
		if s == addr {
			return true
		}
	}
	return false
}
