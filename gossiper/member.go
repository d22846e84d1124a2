package gossiper

import (
	"github.com/hearsay-io/hearsay/endpointstate"
)

// Status is an endpoint's liveness as seen by this node.
type Status string

// Statuses of a [Member].
const (
	// StatusUp: the endpoint answered directly and is not convicted.
	StatusUp Status = "up"
	// StatusDown: convicted, shut down, or not yet confirmed by an echo.
	StatusDown Status = "down"
	// StatusLeft: the endpoint left for good (or was removed or
	// assassinated); it is forgotten after Config.LeftExpiry.
	StatusLeft Status = "left"
)

// Value is one application state as shown to users.
type Value struct {
	// Value is the application value.
	Value string `json:"value"`
	// Version is the owner's version of it.
	Version int64 `json:"version"`
}

// Member is a snapshot of one known endpoint. A Member is a value, except
// for States: that map is shared by every snapshot that shows the same
// application states (so reading the membership copies none), and must be
// treated as read-only; copy it (maps.Clone) to change it.
type Member struct {
	// ID is the endpoint's node ID.
	ID string `json:"id"`
	// Address is the gossip address it advertises ("host:port").
	Address string `json:"address"`
	// Status is up, down or left.
	Status Status `json:"status"`
	// Generation is the endpoint's generation (start time, seconds).
	Generation int64 `json:"generation"`
	// HeartBeat is the endpoint's heartbeat version.
	HeartBeat int64 `json:"heartbeat"`
	// Phi is the failure detector's suspicion, clamped to a finite
	// maximum (0 for the local node).
	Phi float64 `json:"phi"`
	// Self is true for the local node.
	Self bool `json:"self"`
	// States are the endpoint's live application states (hearsay's own
	// "hearsay."-prefixed keys included). Read-only: the map is shared
	// with other snapshots.
	States map[string]Value `json:"states"`
}

// shownStates is the States map of an endpoint's Members, kept while the
// endpoint's generation and states version stay the same. A map once
// handed out is never changed: a change builds a new one.
type shownStates struct {
	generation, version int64
	states              map[string]Value
}

// memberStates returns the live application states of ep's state s, as
// shown in a Member: the map built for an earlier snapshot if s has not
// changed since, else a new one.
func (n *Node) memberStates(ep string, s *endpointstate.EndpointState) map[string]Value {
	gen, version := s.HeartBeat.Generation, s.StatesVersion()
	if c, ok := n.shown[ep]; ok && c.generation == gen && c.version == version {
		return c.states
	}
	out := make(map[string]Value, s.States.Len())
	for k, v := range s.States.All() {
		if !v.Deleted {
			out[k] = Value{Value: v.Value, Version: v.Version}
		}
	}
	if n.shown == nil {
		n.shown = map[string]shownStates{}
	}
	n.shown[ep] = shownStates{generation: gen, version: version, states: out}
	return out
}

// forgetShown drops the kept States maps of endpoints no longer known.
func (n *Node) forgetShown() {
	if len(n.shown) <= n.states.Len() {
		return
	}
	for ep := range n.shown {
		if n.states.Get(ep) == nil {
			delete(n.shown, ep)
		}
	}
}
