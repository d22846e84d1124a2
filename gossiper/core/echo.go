package core

// Echoes: a peer is marked up only when it answers our echo itself; down
// peers that talk to us directly are echoed, and peers' echoes answered.

import (
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// echo is the outstanding echo to a down peer (see Node.echoes): nonce
// is the latest's, first the nonce of the first echo sent since the last
// answer. A reply to any of them counts (nonces only grow), so a peer
// whose round trip is longer than an interval, and which is echoed again
// each interval, is still marked up.
type echo struct {
	nonce, first uint64
	sentAt       moment
}

// maybeEcho sends an echo to a down peer, at most one per interval.
func (n *Node) maybeEcho(ep string, now time.Time, out *Output) {
	p, s := n.peers.get(ep), n.states.Get(ep)
	if n.phase != phaseRunning || p == nil || s == nil || s.Status() == endpointstate.StatusLeft || s.Status() == endpointstate.StatusShutdown {
		return
	}
	e, pending := n.echoes.m[ep]
	if pending && now.Sub(n.time(e.sentAt)) < n.cfg.Interval {
		return
	}
	n.nonce++
	if !pending {
		e.first = n.nonce
	}
	e.nonce, e.sentAt = n.nonce, n.moment(now)
	n.echoes.set(ep, e)
	out.send(s.Address(), &messaging.Echo{Nonce: n.nonce})
}

// handleEchoReply marks a peer up when it answers our echo itself, from the
// incarnation we know (a newer one is marked up once its state arrives).
func (n *Node) handleEchoReply(now time.Time, from string, r *messaging.EchoReply, out *Output) {
	p, s := n.peers.get(from), n.states.Get(from)
	e, pending := n.echoes.m[from]
	if p == nil || s == nil || !pending || r.Nonce < e.first || r.Nonce > e.nonce {
		return
	}
	n.echoes.drop(from)
	if p.alive() || s.Status() != endpointstate.StatusNormal || r.Generation != s.HeartBeat.Generation {
		return
	}
	p.setAlive(true)
	n.retarget()
	n.detector.ReportTracker(&p.fd, from, now)
	out.event(now, Event{Kind: EventAlive, Endpoint: from, Generation: s.HeartBeat.Generation})
}

// directContact is called for every message from a known peer: a peer we
// think is down that talks to us directly gets an echo, the proof that
// marks it up.
func (n *Node) directContact(now time.Time, from string, out *Output) {
	if p := n.peers.get(from); p != nil && !p.alive() {
		n.maybeEcho(from, now, out)
	}
}

// answerEcho answers a peer's echo (or a twin's probe) with our
// generation, within the sender's answer budget.
func (n *Node) answerEcho(now time.Time, env *messaging.Envelope, m *messaging.Echo, out *Output) {
	n.answer(now, env, &messaging.EchoReply{Nonce: m.Nonce, Generation: n.gen}, out)
}
