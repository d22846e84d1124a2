package core

// Announcing a member left: the operator's Remove and Assassinate, and
// RemoveDownAfter's announcement.

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// Remove is the operator's removenode: a member that is down is announced
// as left (under a generation one higher than its own, so the announcement
// beats its last state everywhere), with an absolute expiry LeftExpiry
// from now at which every node removes it. A member that is up is refused
// with ErrMemberAlive.
func (n *Node) Remove(now time.Time, id string) (Output, error) {
	if err := n.checkTarget(id); err != nil {
		return Output{}, err
	}
	if n.states.Get(id) == nil {
		return Output{}, ErrUnknownMember
	}
	if p := n.peers.get(id); p != nil && p.alive() {
		return Output{}, ErrMemberAlive
	}
	var out Output
	return out, n.announceLeft(now, id, "removed", &out)
}

// Assassinate is the operator's assassinate: like Remove, but without
// checking liveness, and also for an ID this node does not know (it is
// announced left with a generation a minute ahead of the clock, as
// Cassandra does). A member that is in fact running refutes the
// announcement with a newer generation and comes back up. An announcement
// that could not be applied (endpointstate.ErrTooManyEndpoints for an
// unknown ID with MaxEndpoints known, ErrGenerationTooFar for a member at
// the edge of the acceptance window) is an error and changes nothing, as
// for Remove.
func (n *Node) Assassinate(now time.Time, id string) (Output, error) {
	if err := n.checkTarget(id); err != nil {
		return Output{}, err
	}
	var out Output
	return out, n.announceLeft(now, id, "assassinated", &out)
}

func (n *Node) checkTarget(id string) error {
	switch {
	case n.phase != phaseRunning:
		return ErrNotStarted
	case id == n.id:
		return ErrSelf
	}
	return n.cfg.Limits.CheckEndpoint(id)
}

// announceLeft replaces id's state, locally and then everywhere through
// gossip, by one of a higher generation saying it left, expiring
// LeftExpiry from now. reason goes into the dead event if id was up. If
// the announcement cannot be applied (a generation beyond the acceptance
// window, no room for a new endpoint), it returns the error and changes
// nothing: no event, no quarantine lifted.
func (n *Node) announceLeft(now time.Time, id, reason string, out *Output) error {
	gen := now.Unix() + 60
	addr := ""
	old := n.states.Get(id)
	if old != nil {
		gen, addr = old.HeartBeat.Generation+1, old.Address()
	}
	switch {
	case gen > generationLimit(now):
		return farGeneration(gen, now, fmt.Sprintf("announce %q left", id))
	case old == nil && n.states.Len() >= n.cfg.MaxEndpoints:
		return fmt.Errorf("announce %q left: %w: %d known, limit %d", id, endpointstate.ErrTooManyEndpoints, n.states.Len(), n.cfg.MaxEndpoints)
	}
	delta := leftDelta(id, gen, addr, now.Add(n.cfg.LeftExpiry).Unix())
	delete(n.removed, id)
	n.markDown(id, now, reason, 0, out)
	var applied Output
	err := n.applyDeltas(now, []endpointstate.Delta{delta}, &applied)
	out.Messages = append(out.Messages, applied.Messages...)
	out.Events = append(out.Events, applied.Events...)
	out.Warnings = append(out.Warnings, applied.Warnings...)
	return err
}

// leftDelta is the full state announcing that id (at addr) left, in
// generation gen, expiring at exp (Unix seconds). Its versions derive from
// the expiry, so two announcements made apart (a partition, two operators)
// order deterministically: the later expiry has the higher max version and
// wins everywhere.
func leftDelta(id string, gen int64, addr string, exp int64) endpointstate.Delta {
	base := 4 * exp
	return endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: base + 4, Reset: true, States: []endpointstate.KeyValue{
		{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: addr, Version: base + 1}},
		{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusLeft, Version: base + 2}},
		{Key: endpointstate.KeyExpires, VersionedValue: endpointstate.VersionedValue{Value: strconv.FormatInt(exp, 10), Version: base + 3}},
	}}
}
