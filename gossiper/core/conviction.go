package core

// Liveness: settling a peer by its status, marking it down or left, and
// the round's status check (conviction, left expiry, RemoveDownAfter).

import (
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
)

// settle brings an endpoint's liveness in line with its state after
// gossip about it was applied: left and shut-down endpoints go down, and a
// normal endpoint that is down gets an echo (it is marked up only when it
// answers itself, never on hearsay).
func (n *Node) settle(now time.Time, ep string, out *Output) {
	s, p := n.states.Get(ep), n.peers.get(ep)
	if s == nil || p == nil {
		return
	}
	switch s.Status() {
	case endpointstate.StatusLeft:
		n.markLeft(ep, now, out)
	case endpointstate.StatusShutdown:
		n.markDown(ep, now, "shutdown", 0, out)
	default:
		if !p.alive() {
			n.maybeEcho(ep, now, out)
		}
	}
}

// markDown marks a peer down; an event fires only if it was up.
func (n *Node) markDown(ep string, now time.Time, reason string, phi float64, out *Output) {
	p := n.peers.get(ep)
	if p == nil || !p.alive() {
		return
	}
	p.setAlive(false)
	n.echoes.drop(ep)
	n.retarget()
	s := n.states.Get(ep)
	out.event(now, Event{Kind: EventDead, Endpoint: ep, Generation: s.HeartBeat.Generation, Reason: reason, Phi: failuredetector.ClampPhi(phi)})
}

// markLeft records that a peer left; it is removed at its expiry.
func (n *Node) markLeft(ep string, now time.Time, out *Output) {
	n.peer(ep, now)
	n.markDown(ep, now, "left", 0, out)
	if !n.left.has(ep) {
		n.left.set(ep, n.moment(now))
	}
}

// checkStatus is Cassandra's doStatusCheck: convict live peers whose phi
// crossed the threshold; announce as left the peers whose heartbeat has
// not moved for RemoveDownAfter; remove left peers whose expiry passed; end
// expired quarantines.
func (n *Node) checkStatus(now time.Time, out *Output) {
	// A node that sees nobody up may be the one cut off: it announces no
	// one left (the others would have to refute it when it comes back).
	canRemove := n.cfg.RemoveDownAfter > 0 && n.anyAlive()
	due := n.dueEndpoints(now)
	for _, ep := range due {
		n.checkEndpoint(now, ep, canRemove, out)
	}
	clear(due)
	n.due = due[:0]
	n.expireQuarantines(now)
}

// dueEndpoints finds the few peers with something due without looking at
// everyone: the failure detector lists the peers whose phi may be over the
// threshold (a comparison each), and the peers that are down or left are
// walked only when there are some. They come sorted by ID, as a
// deterministic core must act on them, in n.due's buffer.
func (n *Node) dueEndpoints(now time.Time) []string {
	due := n.detector.Overdue(now, n.due[:0])
	if live, _ := n.targets(); live.len() < n.peers.peers {
		for ep, p := range n.peers.all() {
			if _, left := n.left.m[ep]; !p.alive() || left {
				due = append(due, ep)
			}
		}
	}
	slices.Sort(due)
	return slices.Compact(due)
}

// checkEndpoint convicts peer ep if it is up and its phi crossed the
// threshold, removes it if it left and its expiry passed, or announces it
// left if canRemove and it has been silent for RemoveDownAfter.
func (n *Node) checkEndpoint(now time.Time, ep string, canRemove bool, out *Output) {
	p := n.peers.get(ep)
	if p == nil || n.states.Get(ep) == nil {
		return
	}
	if p.alive() && n.detector.InterpretTracker(&p.fd, now) {
		n.counters.Convictions++
		phi := n.detector.PhiTracker(&p.fd, now)
		n.markDown(ep, now, "convicted", phi, out)
	}
	switch {
	case n.left.has(ep):
		if !now.Before(n.leftExpiry(ep)) {
			n.remove(ep, now, "expired", out)
		}
	case canRemove && !p.alive() && n.silentFor(p, now) >= n.cfg.RemoveDownAfter:
		// Silent for that long, as this node sees it: tell everyone it
		// left, with an absolute expiry all nodes share.
		_ = n.announceLeft(now, ep, "expired", out)
	}
}

// silentFor is how long peer p has been silent at now, as this node sees
// it: the time since the detector's last report of it (its heartbeat
// advancing, its first news, its echo reply), or 0 for a peer never
// reported.
func (n *Node) silentFor(p *peer, now time.Time) time.Duration {
	last, ok := n.detector.LastTracker(&p.fd)
	if !ok {
		return 0
	}
	return now.Sub(last)
}

// leftExpiry is when a left peer is removed: the absolute expiry its state
// carries, or LeftExpiry after this node saw it leave if it carries none.
func (n *Node) leftExpiry(ep string) time.Time {
	if at, ok := n.states.Get(ep).Expires(); ok {
		return at
	}
	return n.time(n.left.m[ep]).Add(n.cfg.LeftExpiry)
}
