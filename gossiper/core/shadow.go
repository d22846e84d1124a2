package core

import (
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// shadowRound is the start-up state of a node that reads the cluster's
// state from its seeds before announcing itself (Cassandra's shadow round).
type shadowRound struct {
	deadline time.Time
	lastSent time.Time
	// emptyFrom are seeds that answered but are themselves starting.
	emptyFrom map[string]bool
	// probe is an echo sent to the address an existing state with our ID
	// advertises; a reply means the ID is in use.
	probeNonce    uint64
	probeDeadline time.Time
}

func (n *Node) beginShadow(now time.Time, out *Output) {
	n.phase = phaseShadow
	n.shadow = shadowRound{deadline: now.Add(n.cfg.ShadowTimeout), emptyFrom: map[string]bool{}}
	n.sendShadowSyns(now, out)
}

func (n *Node) sendShadowSyns(now time.Time, out *Output) {
	n.shadow.lastSent = now
	for _, s := range n.seeds {
		out.send(s, &messaging.ShadowSyn{})
	}
}

func (n *Node) tickShadow(now time.Time, out *Output) {
	switch {
	case n.shadow.probeNonce != 0:
		if !now.Before(n.shadow.probeDeadline) {
			n.finishShadow(now, out)
		}
	case !now.Before(n.shadow.deadline):
		out.Warnings = append(out.Warnings, fmt.Errorf("shadow round: no seed of %v answered within %v; starting alone", n.seeds, n.cfg.ShadowTimeout))
		n.finishShadow(now, out)
	case now.Sub(n.shadow.lastSent) >= n.cfg.Interval:
		n.sendShadowSyns(now, out)
	}
}

// handleShadowSyn answers a starting node with every full state that fits
// one frame, its own ID's state first. A node that is itself in its shadow
// round answers with nothing.
func (n *Node) handleShadowSyn(env *messaging.Envelope, out *Output) {
	if n.phase != phaseRunning {
		if n.phase == phaseShadow {
			out.reply(env, &messaging.ShadowAck{})
		}
		return
	}
	out.reply(env, &messaging.ShadowAck{Deltas: n.shadowDeltas(env.From)})
}

// shadowDeltas is every full state that fits one frame, from's first;
// one that does not fit counts in AcksTruncated.
func (n *Node) shadowDeltas(from string) []endpointstate.Delta {
	wants := []endpointstate.Want{}
	if n.states.Get(from) != nil {
		wants = append(wants, endpointstate.Want{Endpoint: from})
	}
	budget := n.cfg.MaxFrameSize - n.overhead
	first, complete := n.states.BuildDeltas(wants, budget)
	for i := range first {
		budget -= first[i].SizeBound()
	}
	wants = wants[:0]
	for _, ep := range n.states.Endpoints() {
		if ep != from {
			wants = append(wants, endpointstate.Want{Endpoint: ep})
		}
	}
	rest, restComplete := n.states.BuildDeltas(wants, budget)
	if !complete || !restComplete {
		n.counters.AcksTruncated++
	}
	return append(first, rest...)
}

// handleShadowAck takes a seed's view of the cluster. If it holds a live
// state under our own ID at another address, an echo probes that address:
// a reply means the ID is in use and the node refuses to start.
func (n *Node) handleShadowAck(now time.Time, env *messaging.Envelope, ack *messaging.ShadowAck, out *Output) {
	if n.shadow.probeNonce != 0 {
		return
	}
	if len(ack.Deltas) == 0 {
		n.shadow.emptyFrom[env.Addr] = true
		if len(n.shadow.emptyFrom) >= len(n.seeds) {
			n.finishShadow(now, out)
		}
		return
	}
	var mine *endpointstate.Delta
	for i := range ack.Deltas {
		if ack.Deltas[i].Endpoint == n.id {
			mine = &ack.Deltas[i]
		}
	}
	n.applyDeltas(now, ack.Deltas, out)
	if mine == nil {
		n.finishShadow(now, out)
		return
	}
	n.outrunShadowed(now, mine.Generation, out)
	if !n.probeShadowTwin(now, mine, out) {
		n.finishShadow(now, out)
	}
}

// handleLateShadowAck applies a ShadowAck that arrives after the shadow
// round, like an Ack2: the later datagrams of an answer split over
// several (messaging, "Datagrams"; the first ended the round), or the
// answer to a ShadowSyn sent again. Before, it was dropped, and what it
// held came only with the catch-up rounds.
func (n *Node) handleLateShadowAck(now time.Time, ack *messaging.ShadowAck, out *Output) {
	n.applyDeltas(now, ack.Deltas, out)
}

func deltaValue(d *endpointstate.Delta, key string) string {
	for _, kv := range d.States {
		if kv.Key == key && !kv.Deleted {
			return kv.Value
		}
	}
	return ""
}

// finishShadow ends the shadow round: the node starts gossiping and echoes
// every known peer so the live ones are marked up quickly.
func (n *Node) finishShadow(now time.Time, out *Output) {
	n.phase = phaseRunning
	n.shadow = shadowRound{}
	n.beginCatchUp(now)
	for _, ep := range n.states.Endpoints() {
		if ep != n.id {
			n.maybeEcho(ep, now, out)
		}
	}
}

// stepShadow handles the shadow round's messages, from peers or under our
// own ID; it reports whether it handled env (a ShadowAck outside the
// shadow round it does not).
func (n *Node) stepShadow(now time.Time, env *messaging.Envelope, out *Output) bool {
	switch m := env.Message.(type) {
	case *messaging.ShadowSyn:
		if n.allowAnswer(now, env) {
			n.handleShadowSyn(env, out)
		}
		return true
	case *messaging.ShadowAck:
		if n.phase == phaseShadow {
			n.handleShadowAck(now, env, m, out)
			return true
		}
	}
	return false
}
