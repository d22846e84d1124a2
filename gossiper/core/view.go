package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
)

// PeerView is one peer of a known cluster view a core can start from (see
// [Node.StartFromView]): its state as the node is to hold it, whether the
// node is to see it up, and the heartbeat arrivals its failure detector is
// to have seen from it.
type PeerView struct {
	// ID is the peer's node ID.
	ID string
	// State is the peer's endpoint state; the node keeps a copy.
	State *endpointstate.EndpointState
	// Up says whether the node starts seeing the peer up (it was echoed
	// and answered). A peer that is down is echoed when gossip about it
	// arrives, as any down peer is.
	Up bool
	// Arrivals are the times the peer's heartbeat was seen advancing,
	// oldest first, on the node's clock, none after the start: the failure
	// detector learns the intervals between them as it would have at run
	// time. Empty means one arrival at the start (the detector's bootstrap
	// history alone).
	Arrivals []time.Time
}

// StartFromView starts a new node at now as if it had been running for a
// while and held view: the peers' states, their liveness and their
// heartbeat history. It skips the shadow round and the join (and pushes
// nothing: the view is taken to be the cluster's), so a simulation or a
// test can begin from a converged cluster without replaying the joins; the
// node gossips from the next [Node.Tick]. The node's own state is its
// generation's, as [NewNode] built it.
//
// A view naming the node itself, an ID twice, a nil or invalid state
// (see [endpointstate.Limits.CheckState]), more endpoints than
// Config.MaxEndpoints, or arrivals out of order or after now is an error,
// and so is a node already started: nothing is changed then.
func (n *Node) StartFromView(now time.Time, view []PeerView) error {
	if n.phase != phaseNew {
		return errors.New("start from view: node already started")
	}
	if err := checkGeneration(n.gen, now, "start from view"); err != nil {
		return err
	}
	if err := n.checkView(now, view); err != nil {
		return fmt.Errorf("start from view: %w", err)
	}
	for _, pv := range view {
		n.adoptPeerView(now, pv)
	}
	n.phase = phaseRunning
	n.push.entered = true
	clear(n.push.dirty)
	n.retarget()
	return nil
}

// adoptPeerView takes one checked peer's state, liveness and heartbeat
// arrivals from a view: as of now if it has no arrivals; down and left
// from now if its state says it left.
func (n *Node) adoptPeerView(now time.Time, pv PeerView) {
	s := pv.State.Clone()
	n.states.Put(pv.ID, s)
	p := n.peers.track(pv.ID)
	p.setAlive(pv.Up)
	if len(pv.Arrivals) == 0 {
		n.detector.ReportTracker(&p.fd, pv.ID, now)
	}
	for _, at := range pv.Arrivals {
		n.detector.ReportTracker(&p.fd, pv.ID, at)
	}
	if s.Status() == endpointstate.StatusLeft {
		p.setAlive(false)
		n.left.set(pv.ID, n.moment(now))
	}
}

// checkView reports the first problem with view for StartFromView.
func (n *Node) checkView(now time.Time, view []PeerView) error {
	if len(view)+1 > n.cfg.MaxEndpoints {
		return fmt.Errorf("%d endpoints with this node, MaxEndpoints %d: %w", len(view)+1, n.cfg.MaxEndpoints, endpointstate.ErrTooManyEndpoints)
	}
	// A view in ascending order of IDs (a simulator's, or one built from
	// a sorted list) has no ID twice if each is above the one before:
	// no set of the IDs seen is built for it.
	var seen map[string]bool
	for i, pv := range view {
		if seen == nil && i > 0 && pv.ID <= view[i-1].ID {
			seen = make(map[string]bool, len(view))
			for _, before := range view[:i] {
				seen[before.ID] = true
			}
		}
		if err := n.checkPeerView(now, i, pv, seen); err != nil {
			return err
		}
		if seen != nil {
			seen[pv.ID] = true
		}
	}
	return nil
}

// checkPeerView reports the first problem with view entry i, pv, given
// the IDs seen before it (nil while the view is in ascending order: none
// of them is pv's).
func (n *Node) checkPeerView(now time.Time, i int, pv PeerView, seen map[string]bool) error {
	switch {
	case pv.ID == n.id:
		return fmt.Errorf("peer %d: %w", i, ErrSelf)
	case seen[pv.ID]:
		return fmt.Errorf("peer %d: %q listed twice", i, pv.ID)
	case pv.State == nil:
		return fmt.Errorf("peer %d (%q): nil state", i, pv.ID)
	case pv.State.HeartBeat.Generation <= 0:
		return fmt.Errorf("peer %d (%q): generation %d, want > 0", i, pv.ID, pv.State.HeartBeat.Generation)
	}
	if err := n.cfg.Limits.CheckEndpoint(pv.ID); err != nil {
		return fmt.Errorf("peer %d: %w", i, err)
	}
	if err := n.cfg.Limits.CheckState(pv.State); err != nil {
		return fmt.Errorf("peer %d (%q): %w", i, pv.ID, err)
	}
	for j, at := range pv.Arrivals {
		if at.After(now) || j > 0 && at.Before(pv.Arrivals[j-1]) {
			return fmt.Errorf("peer %d (%q): arrival %d at %v is out of order or after the start %v", i, pv.ID, j, at, now)
		}
	}
	return nil
}

// EndpointVersion is what a node holds of one endpoint, read without
// copying its states (see [Node.EndpointVersions]).
type EndpointVersion struct {
	// ID is the endpoint's node ID.
	ID string
	// Generation and MaxVersion are what the node's digest of the
	// endpoint carries.
	Generation, MaxVersion int64
	// StatesVersion is the highest version among the endpoint's
	// application states and collected tombstones: unlike MaxVersion it
	// does not move with the heartbeat (see
	// [endpointstate.EndpointState.StatesVersion]).
	StatesVersion int64
	// Status is the endpoint's hearsay.status value ("" if none).
	Status string
	// Up reports whether the node sees the endpoint up (always for itself).
	Up bool
}

// EndpointVersion returns what the node holds of endpoint ep, and false if
// it holds nothing. It allocates nothing; a simulator calls it after every
// step to follow how far a change has spread.
func (n *Node) EndpointVersion(ep string) (EndpointVersion, bool) {
	s := n.states.Get(ep)
	if s == nil {
		return EndpointVersion{}, false
	}
	return n.endpointVersion(ep, s), true
}

func (n *Node) endpointVersion(ep string, s *endpointstate.EndpointState) EndpointVersion {
	p := n.peers.get(ep)
	return EndpointVersion{
		ID: ep, Generation: s.HeartBeat.Generation, MaxVersion: s.MaxVersion(),
		StatesVersion: s.StatesVersion(), Status: s.Status(),
		Up: ep == n.id || p != nil && p.alive(),
	}
}

// EndpointVersions appends what the node holds of every endpoint, itself
// included, sorted by ID, to dst and returns it: a cheap read of the
// node's whole view (no states are copied), for invariant checks.
func (n *Node) EndpointVersions(dst []EndpointVersion) []EndpointVersion {
	for ep, s := range n.states.All() {
		dst = append(dst, n.endpointVersion(ep, s))
	}
	return dst
}

// Phi returns the failure detector's phi for endpoint ep at now, clamped
// to a finite value (see [failuredetector.ClampPhi]); 0 for the node
// itself and for an endpoint the detector does not know.
func (n *Node) Phi(ep string, now time.Time) float64 {
	if ep == n.id {
		return 0
	}
	p := n.peers.get(ep)
	if p == nil {
		return 0
	}
	return failuredetector.ClampPhi(n.detector.PhiTracker(&p.fd, now))
}
