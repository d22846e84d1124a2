package core

// Applying gossip: deltas from the network become state changes, events,
// failure-detector arrivals and settled liveness; refused deltas are
// counted and reported, rate-limited.

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// applyDeltas applies deltas from the network and turns their changes into
// events, failure-detector arrivals and liveness transitions. It returns
// Apply's error (the refused deltas), which is also counted and, at most
// once per refusalWarnEvery, reported as a warning.
func (n *Node) applyDeltas(now time.Time, deltas []endpointstate.Delta, out *Output) error {
	if len(deltas) == 0 {
		return nil
	}
	n.checkSelf(now, deltas, out)
	changes, err := n.states.Apply(deltas, endpointstate.ApplyOptions{
		Now: now, Limits: n.cfg.Limits, MaxEndpoints: n.cfg.MaxEndpoints,
		Skip: func(ep string, gen int64) bool { return ep == n.id || n.quarantined(ep, gen, now) },
	})
	if err != nil {
		n.counters.Rejected++
		if w := n.countRefused(now, err); w != nil {
			out.Warnings = append(out.Warnings, w)
		}
	}
	for _, c := range changes {
		if movesTarget(c) {
			n.retarget()
		}
		n.onChange(now, c, out)
	}
	n.notePushChanges(changes)
	n.settleChanged(now, changes, out)
	n.cfg.Scratch.PutChanges(changes)
	return err
}

// movesTarget reports whether c can move its endpoint between the gossip
// targets (see [Node.targets]): a join, a restart, or a change of its
// address or status. (An application value or a heartbeat cannot.)
func movesTarget(c endpointstate.Change) bool {
	switch c.Kind {
	case endpointstate.ChangeHeartBeat:
		return false
	case endpointstate.ChangeValue, endpointstate.ChangeDeleted:
		return c.Key == endpointstate.KeyAddress || c.Key == endpointstate.KeyStatus
	}
	return true
}

// settleChanged settles the liveness of each endpoint in changes by the
// status it ended with. An endpoint's changes are adjacent (settling
// twice, should one message carry two deltas for it, changes nothing). A
// heartbeat alone leaves the status as it was, so a peer that is up has
// nothing to settle.
func (n *Node) settleChanged(now time.Time, changes []endpointstate.Change, out *Output) {
	for i, c := range changes {
		if i > 0 && changes[i-1].Endpoint == c.Endpoint {
			continue
		}
		if c.Kind == endpointstate.ChangeHeartBeat && (i+1 == len(changes) || changes[i+1].Endpoint != c.Endpoint) {
			if p := n.peers.ofChange(c); p != nil && p.alive() {
				continue
			}
		}
		n.settle(now, c.Endpoint, out)
	}
}

// maxRefusalsLogged is how many refused deltas one warning names; the
// others are only counted, so a flood of forged endpoints is one line.
const maxRefusalsLogged = 3

// refusalWarnEvery is the least time between two warnings about refused
// deltas: a peer sending bad deltas in every message cannot flood the log.
// Every refusal is counted whether or not it is reported.
const refusalWarnEvery = 10 * time.Second

// refusalLog rate-limits the warnings about refused deltas.
type refusalLog struct {
	last       time.Time // when the last warning was given
	suppressed int       // deltas refused since, not reported
}

// countRefused counts the deltas Apply refused (err joins one error per
// delta) and returns one warning naming the first few, or nil if a warning
// was given less than refusalWarnEvery ago.
func (n *Node) countRefused(now time.Time, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	n.countRefusals(errs)
	if !n.refusals.last.IsZero() && now.Sub(n.refusals.last) < refusalWarnEvery && now.After(n.refusals.last) {
		n.refusals.suppressed += len(errs)
		return nil
	}
	earlier := ""
	if n.refusals.suppressed > 0 {
		earlier = fmt.Sprintf(" (%d more refused since the last such warning, only counted)", n.refusals.suppressed)
	}
	n.refusals = refusalLog{last: now}
	if len(errs) <= maxRefusalsLogged && earlier == "" {
		return err
	}
	if len(errs) <= maxRefusalsLogged {
		return fmt.Errorf("%w%s", err, earlier)
	}
	return fmt.Errorf("refused %d deltas, each for its endpoint alone: %w; and %d more%s",
		len(errs), errors.Join(errs[:maxRefusalsLogged]...), len(errs)-maxRefusalsLogged, earlier)
}

func (n *Node) onChange(now time.Time, c endpointstate.Change, out *Output) {
	switch c.Kind {
	case endpointstate.ChangeJoined:
		n.onJoined(now, c, out)
	case endpointstate.ChangeRestarted:
		n.onRestarted(now, c, out)
	case endpointstate.ChangeHeartBeat:
		p := n.peers.ofChange(c)
		if p == nil {
			p = n.peer(c.Endpoint, now)
		}
		n.detector.ReportTracker(&p.fd, c.Endpoint, now)
	case endpointstate.ChangeValue, endpointstate.ChangeDeleted:
		out.event(now, Event{Kind: EventChange, Endpoint: c.Endpoint, Generation: c.Generation,
			Key: c.Key, Old: c.Old.Value, New: c.New.Value, Deleted: c.Kind == endpointstate.ChangeDeleted})
	}
}

// onJoined tracks a new endpoint, down until it answers an echo. A
// detector state kept from before goes on, as the detector's own table
// did.
func (n *Node) onJoined(now time.Time, c endpointstate.Change, out *Output) {
	p := n.peers.track(c.Endpoint)
	n.newIncarnation(c.Endpoint, p)
	n.learnt()
	n.detector.ReportTracker(&p.fd, c.Endpoint, now)
	out.event(now, Event{Kind: EventJoin, Endpoint: c.Endpoint, Generation: c.Generation})
}

// onRestarted restarts a peer's failure detection for its new generation.
// A new incarnation must prove itself with an echo: down, silently (no
// dead event), until it answers (Cassandra's markAlive). A new generation
// that announces the peer left or shut down is no restart: settle reports
// it.
func (n *Node) onRestarted(now time.Time, c endpointstate.Change, out *Output) {
	p := n.peer(c.Endpoint, now)
	n.detector.Untrack(&p.fd)
	n.detector.ReportTracker(&p.fd, c.Endpoint, now)
	if st := n.states.Get(c.Endpoint).Status(); st == endpointstate.StatusLeft || st == endpointstate.StatusShutdown {
		return
	}
	n.counters.Restarts++
	n.newIncarnation(c.Endpoint, p)
	out.event(now, Event{Kind: EventRestart, Endpoint: c.Endpoint, Generation: c.Generation, OldGeneration: c.OldGeneration})
}

// newIncarnation starts a new incarnation of ep afresh: down, not left,
// no echo in flight.
func (n *Node) newIncarnation(ep string, p *peer) {
	p.setAlive(false)
	n.left.drop(ep)
	n.echoes.drop(ep)
}

func (n *Node) peer(ep string, now time.Time) *peer {
	p := n.peers.get(ep)
	if p == nil {
		p = n.peers.track(ep)
		n.retarget()
	}
	return p
}

// countRefusals counts each refused delta in errs, one error each, as an
// endpoint refused (over MaxEndpoints) or a delta refused.
func (n *Node) countRefusals(errs []error) {
	for _, e := range errs {
		if errors.Is(e, endpointstate.ErrTooManyEndpoints) {
			n.counters.EndpointsRefused++
		} else {
			n.counters.DeltasRefused++
		}
	}
}
