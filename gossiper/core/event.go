package core

import (
	"fmt"
	"time"
)

// EventKind says what happened to an endpoint.
type EventKind uint8

// Event kinds, in the order they usually happen to an endpoint.
const (
	// EventJoin: a new endpoint appeared (learned through gossip).
	EventJoin EventKind = iota + 1
	// EventAlive: an endpoint answered our echo and is up.
	EventAlive
	// EventDead: an endpoint is down (convicted by the failure detector,
	// announced its shutdown, or left).
	EventDead
	// EventChange: one application state of an endpoint changed (Key, Old,
	// New; Deleted for a delete).
	EventChange
	// EventRestart: an endpoint came back with a higher generation; its
	// whole state was replaced.
	EventRestart
	// EventRemove: an endpoint was removed from membership (down too
	// long, left and expired, or removed by an operator) and quarantined.
	EventRemove
	// EventOverflow: this subscription (or the callbacks) fell behind and
	// Lost events were dropped; resynchronise from [Gossiper.Members]. It
	// concerns the reader, not an endpoint, and is delivered whatever kinds
	// were asked for.
	EventOverflow
)

// String returns the kind's name: "join", "alive", "dead", "change",
// "restart", "remove" or "overflow".
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventAlive:
		return "alive"
	case EventDead:
		return "dead"
	case EventChange:
		return "change"
	case EventRestart:
		return "restart"
	case EventRemove:
		return "remove"
	case EventOverflow:
		return "overflow"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name, so events read well in JSON.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses a name written by MarshalText.
func (k *EventKind) UnmarshalText(b []byte) error {
	v, err := ParseEventKind(string(b))
	if err == nil {
		*k = v
	}
	return err
}

// ParseEventKind parses a name returned by String.
func ParseEventKind(s string) (EventKind, error) {
	for k := EventJoin; k <= EventOverflow; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown event kind %q (want join, alive, dead, change, restart, remove or overflow)", s)
}

// Event is something that happened to an endpoint, as seen by this node.
type Event struct {
	// Kind says what happened.
	Kind EventKind `json:"kind"`
	// Endpoint is the node ID concerned.
	Endpoint string `json:"endpoint"`
	// Time is when this node saw it happen.
	Time time.Time `json:"time"`
	// Generation is the endpoint's generation after the event.
	Generation int64 `json:"generation"`
	// OldGeneration is the generation before a restart.
	OldGeneration int64 `json:"old_generation,omitempty"`
	// Key, Old and New describe a change: the key, its previous value
	// ("" if none) and its new value ("" when Deleted).
	Key string `json:"key,omitempty"`
	// Old is the previous value of Key.
	Old string `json:"old,omitempty"`
	// New is the new value of Key.
	New string `json:"new,omitempty"`
	// Deleted is true when Key was deleted.
	Deleted bool `json:"deleted,omitempty"`
	// Reason explains a dead or remove event: "convicted", "shutdown",
	// "left", "expired", "removed" or "assassinated".
	Reason string `json:"reason,omitempty"`
	// Phi is the failure detector's phi at a conviction (finite).
	Phi float64 `json:"phi,omitempty"`
	// Lost is, for an overflow event, how many events were dropped since
	// the previous overflow event of the same subscription.
	Lost uint64 `json:"lost,omitempty"`
}
