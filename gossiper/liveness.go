package gossiper

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging"
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
		if c.Kind != endpointstate.ChangeHeartBeat {
			n.retarget() // a join, restart, address or status change
		}
		n.onChange(now, c, out)
	}
	n.notePushChanges(changes)
	// Liveness follows the status each endpoint ended with. An endpoint's
	// changes are adjacent (settling twice, should one message carry two
	// deltas for it, changes nothing). A heartbeat alone leaves the status
	// as it was, so a peer that is up has nothing to settle.
	for i, c := range changes {
		if i > 0 && changes[i-1].Endpoint == c.Endpoint {
			continue
		}
		if c.Kind == endpointstate.ChangeHeartBeat && (i+1 == len(changes) || changes[i+1].Endpoint != c.Endpoint) {
			if p := n.peers.get(c.Endpoint); p != nil && p.alive() {
				continue
			}
		}
		n.settle(now, c.Endpoint, out)
	}
	return err
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
	for _, e := range errs {
		if errors.Is(e, endpointstate.ErrTooManyEndpoints) {
			n.counters.EndpointsRefused++
		} else {
			n.counters.DeltasRefused++
		}
	}
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

// checkSelf looks at deltas about this node's own ID. Only this node speaks
// for itself, so they are never applied; but one newer than the node's own
// state shows that peers hold another incarnation of it:
//   - a "left" state (an operator's Remove or Assassinate, or a peer's
//     RemoveDownAfter, while this node in fact runs): refuted at once;
//   - a previous incarnation at this node's address, or one that does not
//     say (a restart within the same second, a clock that went back):
//     taken over at once;
//   - a state at another address, which may be a twin: probed with an
//     echo, and taken over only if nobody answers there.
//
// Taking over means taking a generation above the one seen; peers then
// replace the old state and see this node restart.
func (n *Node) checkSelf(now time.Time, deltas []endpointstate.Delta, out *Output) {
	if n.phase != phaseRunning {
		return
	}
	for i := range deltas {
		d := &deltas[i]
		if d.Endpoint != n.id {
			continue
		}
		if n.cfg.Limits.CheckDelta(d) != nil || d.Generation > generationLimit(now) {
			continue // not believable: Apply rejects it too
		}
		self := n.self()
		if d.Generation < n.gen || d.Generation == n.gen && d.MaxVersion() <= self.MaxVersion() {
			continue
		}
		addr := deltaValue(d, endpointstate.KeyAddress)
		switch {
		case deltaValue(d, endpointstate.KeyStatus) == endpointstate.StatusLeft:
			n.takeGeneration(now, d.Generation, "a peer announced that this node left", out)
		case addr == "" || addr == n.addr:
			n.takeGeneration(now, d.Generation, "peers hold a previous incarnation's state", out)
		default:
			n.probeSelf(now, addr, d.Generation, out)
		}
	}
}

// takeGeneration moves the node to a generation above seen (and not below
// the clock), keeping its application states.
//
// A generation above seen that would be beyond the acceptance window
// (more than MaxGenerationDrift ahead of the clock, where every peer
// refuses it) is never taken, nor persisted: the node keeps its own,
// warns and counts (Counters.GenerationsRefused).
func (n *Node) takeGeneration(now time.Time, seen int64, why string, out *Output) {
	n.probe.nonce = 0 // any probe is moot; lastAt still paces the next
	if !n.generationBelievable(now, seen, why, out) {
		return
	}
	gen := max(seen+1, now.Unix())
	out.Warnings = append(out.Warnings, fmt.Errorf("%s (generation %d, ours %d): taking generation %d", why, seen, n.gen, gen))
	n.gen = gen
	n.resetLocalState()
	out.NewGeneration = gen
}

// generationLimit is the highest generation peers accept at now.
func generationLimit(now time.Time) int64 {
	return now.Unix() + endpointstate.MaxGenerationDrift
}

// generationBelievable reports whether the node may take a generation
// above seen (seen+1 within the acceptance window, computed without
// overflow); if not it warns and counts.
func (n *Node) generationBelievable(now time.Time, seen int64, why string, out *Output) bool {
	if seen < generationLimit(now) {
		return true
	}
	n.counters.GenerationsRefused++
	out.Warnings = append(out.Warnings, fmt.Errorf("%s (generation %d, ours %d), but a generation above it would be "+
		"more than %d s ahead of the clock (%d), where every peer refuses it: keeping generation %d: %w",
		why, seen, n.gen, endpointstate.MaxGenerationDrift, now.Unix(), n.gen, endpointstate.ErrGenerationTooFar))
	return false
}

// checkGeneration is the error for a starting generation beyond the
// acceptance window: peers would refuse every message of the node.
func checkGeneration(gen int64, now time.Time, source string) error {
	if gen <= generationLimit(now) {
		return nil
	}
	return farGeneration(gen, now, source)
}

// farGeneration describes a generation too far ahead of now.
func farGeneration(gen int64, now time.Time, source string) error {
	return fmt.Errorf("%s: generation %d is %d s ahead of the clock (%d), and every peer refuses a node more than %d s "+
		"(a year) ahead: %w", source, gen, gen-now.Unix(), now.Unix(), endpointstate.MaxGenerationDrift, endpointstate.ErrGenerationTooFar)
}

// selfProbe is an echo sent under our own ID to the address another state
// of our ID advertises: an answer means a twin runs there.
type selfProbe struct {
	nonce    uint64
	addr     string
	seen     int64
	deadline time.Time
	lastAt   time.Time
}

func (n *Node) probeSelf(now time.Time, addr string, seen int64, out *Output) {
	if n.probe.nonce != 0 || (!n.probe.lastAt.IsZero() && now.Sub(n.probe.lastAt) < 10*n.cfg.Interval) {
		return
	}
	n.nonce++
	n.probe = selfProbe{nonce: n.nonce, addr: addr, seen: seen, deadline: now.Add(2 * n.cfg.Interval), lastAt: now}
	out.send(addr, &messaging.Echo{Nonce: n.nonce})
}

// tickSelfProbe takes over when the probed address stayed silent.
func (n *Node) tickSelfProbe(now time.Time, out *Output) {
	if n.probe.nonce != 0 && !now.Before(n.probe.deadline) {
		n.takeGeneration(now, n.probe.seen, "a previous incarnation at "+n.probe.addr+" does not answer", out)
	}
}

// handleSelfProbeReply: another live node answers under our ID.
func (n *Node) handleSelfProbeReply(env *messaging.Envelope, r *messaging.EchoReply, out *Output) {
	if n.probe.nonce == 0 || r.Nonce != n.probe.nonce {
		return
	}
	n.counters.Rejected++
	out.Warnings = append(out.Warnings, fmt.Errorf("%w: another live node answers as %q at %s; stop one of them", ErrIDInUse, n.id, env.Addr))
	n.probe.nonce = 0
}

func (n *Node) onChange(now time.Time, c endpointstate.Change, out *Output) {
	switch c.Kind {
	case endpointstate.ChangeJoined:
		p := n.peers.track(c.Endpoint)
		// A new record's liveness; a detector state kept from before
		// goes on, as the detector's own table did.
		p.setAlive(false)
		n.left.drop(c.Endpoint)
		n.echoes.drop(c.Endpoint)
		n.detector.ReportTracker(&p.fd, c.Endpoint, now)
		out.event(now, Event{Kind: EventJoin, Endpoint: c.Endpoint, Generation: c.Generation})
	case endpointstate.ChangeRestarted:
		p := n.peer(c.Endpoint, now)
		n.detector.Untrack(&p.fd)
		n.detector.ReportTracker(&p.fd, c.Endpoint, now)
		if st := n.states.Get(c.Endpoint).Status(); st == endpointstate.StatusLeft || st == endpointstate.StatusShutdown {
			return // an announcement that it left, not a restart: settle reports it
		}
		n.counters.Restarts++
		// A new incarnation must prove itself with an echo: down, silently
		// (no dead event), until it answers (Cassandra's markAlive).
		p.setAlive(false)
		n.left.drop(c.Endpoint)
		n.echoes.drop(c.Endpoint)
		out.event(now, Event{Kind: EventRestart, Endpoint: c.Endpoint, Generation: c.Generation, OldGeneration: c.OldGeneration})
	case endpointstate.ChangeHeartBeat:
		p := n.peer(c.Endpoint, now)
		n.detector.ReportTracker(&p.fd, c.Endpoint, now)
	case endpointstate.ChangeValue, endpointstate.ChangeDeleted:
		out.event(now, Event{Kind: EventChange, Endpoint: c.Endpoint, Generation: c.Generation,
			Key: c.Key, Old: c.Old.Value, New: c.New.Value, Deleted: c.Kind == endpointstate.ChangeDeleted})
	}
}

func (n *Node) peer(ep string, now time.Time) *peer {
	p := n.peers.get(ep)
	if p == nil {
		p = n.peers.track(ep)
		n.retarget()
	}
	return p
}

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
	// Versions derive from the expiry, so two announcements made apart (a
	// partition, two operators) order deterministically: the later expiry
	// has the higher max version and wins everywhere.
	exp := now.Add(n.cfg.LeftExpiry).Unix()
	base := 4 * exp
	delta := endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: base + 4, Reset: true, States: []endpointstate.KeyValue{
		{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: addr, Version: base + 1}},
		{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusLeft, Version: base + 2}},
		{Key: endpointstate.KeyExpires, VersionedValue: endpointstate.VersionedValue{Value: strconv.FormatInt(exp, 10), Version: base + 3}},
	}}
	delete(n.removed, id)
	n.markDown(id, now, reason, 0, out)
	var applied Output
	err := n.applyDeltas(now, []endpointstate.Delta{delta}, &applied)
	out.Messages = append(out.Messages, applied.Messages...)
	out.Events = append(out.Events, applied.Events...)
	out.Warnings = append(out.Warnings, applied.Warnings...)
	return err
}
