package core

// The quarantine filter: an endpoint removed here is forgotten, and gossip
// about it at its removed generation ignored for QuarantineDuration.

import (
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// removal is what a node remembers of an endpoint it removed.
type removal struct {
	generation int64
	until      time.Time
}

// quarantined reports whether gossip about ep at generation gen is to be
// ignored: ep was removed here at that generation or a newer one, less than
// QuarantineDuration ago.
func (n *Node) quarantined(ep string, gen int64, now time.Time) bool {
	r, ok := n.removed[ep]
	return ok && gen <= r.generation && now.Before(r.until)
}

func (n *Node) dropQuarantined(wants []endpointstate.Want, now time.Time) []endpointstate.Want {
	if len(n.removed) == 0 {
		return wants // nothing in quarantine: no state to look up
	}
	out := wants[:0]
	for _, w := range wants {
		if s := n.states.Get(w.Endpoint); s == nil || !n.quarantined(w.Endpoint, s.HeartBeat.Generation, now) {
			out = append(out, w)
		}
	}
	return out
}

// remove forgets an endpoint and quarantines it so stale gossip cannot
// bring it back (Cassandra's evictFromMembership).
func (n *Node) remove(ep string, now time.Time, reason string, out *Output) {
	s := n.states.Get(ep)
	if s == nil {
		return
	}
	out.event(now, Event{Kind: EventRemove, Endpoint: ep, Generation: s.HeartBeat.Generation, Reason: reason})
	n.states.Remove(ep)
	if p := n.peers.get(ep); p != nil {
		n.detector.Untrack(&p.fd)
	}
	n.peers.untrack(ep)
	n.echoes.drop(ep)
	n.retarget()
	n.removed[ep] = removal{generation: s.HeartBeat.Generation, until: now.Add(n.cfg.QuarantineDuration)}
}

// dropQuarantinedDigests returns the digests not about a quarantined
// endpoint (our own always stays); digests itself when nothing is
// quarantined.
func (n *Node) dropQuarantinedDigests(digests []endpointstate.Digest, now time.Time) []endpointstate.Digest {
	if len(n.removed) == 0 {
		return digests
	}
	out := make([]endpointstate.Digest, 0, len(digests))
	for _, d := range digests {
		if d.Endpoint == n.id || !n.quarantined(d.Endpoint, d.Generation, now) {
			out = append(out, d)
		}
	}
	return out
}

// expireQuarantines ends the quarantines whose time is up.
func (n *Node) expireQuarantines(now time.Time) {
	for ep, r := range n.removed {
		if !now.Before(r.until) {
			delete(n.removed, ep)
		}
	}
}
