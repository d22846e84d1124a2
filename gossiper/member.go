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

// Member is a snapshot of one known endpoint. Members are values: changing
// one changes nothing in the gossiper.
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
	// "hearsay."-prefixed keys included).
	States map[string]Value `json:"states"`
}

func memberStates(s *endpointstate.EndpointState) map[string]Value {
	out := make(map[string]Value, len(s.States))
	for k, v := range s.States {
		if !v.Deleted {
			out[k] = Value{Value: v.Value, Version: v.Version}
		}
	}
	return out
}
