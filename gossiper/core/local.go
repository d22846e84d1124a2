package core

import (
	"strconv"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// SetState publishes key=value as the local node's application state under
// a fresh version. It fails, changing nothing, for a reserved or invalid
// key or a value beyond the limits.
func (n *Node) SetState(now time.Time, key, value string) (Output, error) {
	var out Output
	if n.phase == phaseStopped {
		return out, ErrStopped
	}
	s := n.self()
	if err := n.cfg.Limits.CheckUserKey(key); err != nil {
		return out, err
	}
	if err := n.cfg.Limits.CheckSet(s, key, value); err != nil {
		return out, err
	}
	old, had := s.Get(key)
	if had && old == value {
		return out, nil
	}
	v := n.versions.Next()
	s.Set(key, value, v)
	n.markDirty(n.id, n.gen, v, "")
	out.event(now, Event{Kind: EventChange, Endpoint: n.id, Generation: n.gen, Key: key, Old: old, New: value})
	return out, nil
}

// DeleteState deletes a local application state (a tombstone under a
// fresh version). Deleting an absent key does nothing.
func (n *Node) DeleteState(now time.Time, key string) (Output, error) {
	var out Output
	if n.phase == phaseStopped {
		return out, ErrStopped
	}
	if err := n.cfg.Limits.CheckUserKey(key); err != nil {
		return out, err
	}
	s := n.self()
	old, had := s.Get(key)
	if !had {
		return out, nil
	}
	v := n.versions.Next()
	s.Delete(key, v, now)
	n.markDirty(n.id, n.gen, v, "")
	s.TrimTombstones(n.cfg.Limits.MaxKeys)
	out.event(now, Event{Kind: EventChange, Endpoint: n.id, Generation: n.gen, Key: key, Old: old, Deleted: true})
	return out, nil
}

// Shutdown announces a graceful shutdown: the local status becomes
// "shutdown" and a Shutdown message carrying the full local state goes to
// every live peer, which marks this node down at once. The node then stops
// gossiping and answering.
func (n *Node) Shutdown(now time.Time) Output {
	return n.announceExit(now, endpointstate.StatusShutdown)
}

// Leave announces that the node leaves the cluster for good: like
// Shutdown, but with status "left", so peers keep it as left and remove it
// after LeftExpiry instead of waiting for it to come back.
func (n *Node) Leave(now time.Time) Output {
	return n.announceExit(now, endpointstate.StatusLeft)
}

func (n *Node) announceExit(now time.Time, status string) Output {
	var out Output
	if n.phase != phaseRunning {
		n.phase = phaseStopped
		return out
	}
	n.phase = phaseStopped
	s := n.self()
	s.Set(endpointstate.KeyStatus, status, n.versions.Next())
	if status == endpointstate.StatusLeft {
		s.Set(endpointstate.KeyExpires, strconv.FormatInt(now.Add(n.cfg.LeftExpiry).Unix(), 10), n.versions.Next())
	}
	s.HeartBeat.Version = n.versions.Next()
	deltas, _ := n.states.BuildDeltas([]endpointstate.Want{{Endpoint: n.id}}, n.cfg.MaxFrameSize-n.overhead)
	if len(deltas) != 1 {
		return out
	}
	live, _ := n.targets()
	for i := range live.len() {
		out.send(n.addrOf(live.at(i)), &messaging.Shutdown{State: deltas[0]})
	}
	return out
}
