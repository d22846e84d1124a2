// Package api holds the JSON shapes of the hearsay agent's admin HTTP API,
// shared by the agent that serves them and the client subcommands that read
// them. docs/http-api.md documents every endpoint.
//
// Members are served as [gossiper.Member] values, whose JSON tags already
// are the API's field names; this package adds what the gossiper does not
// define in JSON form: events, failure-detector statistics, state writes and
// errors.
package api

import (
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
)

// Paths of the API, as Go 1.22 ServeMux patterns and as client paths.
const (
	PathMembers         = "/v1/members"
	PathState           = "/v1/state/"
	PathEvents          = "/v1/events"
	PathFailureDetector = "/v1/failure-detector"
	PathLeave           = "/v1/leave"
	PathMetrics         = "/metrics"
	PathHealth          = "/healthz"
)

// Error is the body of every error answer: {"error": "..."}.
type Error struct {
	// Error says what went wrong, in words a user can act on.
	Error string `json:"error"`
}

// State is the answer to a successful PUT /v1/state/{key}.
type State struct {
	// Key is the application-state key that was set.
	Key string `json:"key"`
	// Value is its new value.
	Value string `json:"value"`
	// Version is the version the local node gave it.
	Version int64 `json:"version"`
}

// Left is the answer to POST /v1/leave.
type Left struct {
	// ID is the node that left.
	ID string `json:"id"`
	// Status is always "left".
	Status string `json:"status"`
}

// Event is one membership event, the data line of a server-sent event of
// GET /v1/events. It is [gossiper.Event] with lower-case JSON names.
type Event struct {
	// Kind is join, alive, dead, change, restart or remove.
	Kind string `json:"kind"`
	// Endpoint is the node ID the event is about.
	Endpoint string `json:"endpoint"`
	// Time is when the serving node saw it happen.
	Time time.Time `json:"time"`
	// Generation is the endpoint's generation after the event.
	Generation int64 `json:"generation"`
	// OldGeneration is the generation before a restart.
	OldGeneration int64 `json:"old_generation,omitempty"`
	// Key is the application state a change event is about.
	Key string `json:"key,omitempty"`
	// Old is the previous value of Key.
	Old string `json:"old,omitempty"`
	// New is the new value of Key ("" when Deleted).
	New string `json:"new,omitempty"`
	// Deleted is true when Key was deleted.
	Deleted bool `json:"deleted,omitempty"`
	// Reason explains a dead or remove event: convicted, shutdown, left,
	// expired, removed or assassinated.
	Reason string `json:"reason,omitempty"`
	// Phi is the failure detector's phi at a conviction.
	Phi float64 `json:"phi,omitempty"`
}

// NewEvent converts a gossiper event to its API form.
func NewEvent(e gossiper.Event) Event {
	return Event{
		Kind: e.Kind.String(), Endpoint: e.Endpoint, Time: e.Time,
		Generation: e.Generation, OldGeneration: e.OldGeneration,
		Key: e.Key, Old: e.Old, New: e.New, Deleted: e.Deleted,
		Reason: e.Reason, Phi: e.Phi,
	}
}

// Detector is one peer's failure-detector statistics, an element of the
// answer to GET /v1/failure-detector.
type Detector struct {
	// Endpoint is the peer's node ID.
	Endpoint string `json:"endpoint"`
	// Phi is its current suspicion level, finite (at most 1000).
	Phi float64 `json:"phi"`
	// MeanMillis is the mean heartbeat inter-arrival interval, in ms.
	MeanMillis float64 `json:"mean_ms"`
	// StdDevMillis is the standard deviation of the intervals, in ms.
	StdDevMillis float64 `json:"stddev_ms"`
	// Samples is the number of intervals in the window.
	Samples int `json:"samples"`
	// LastArrival is when the last heartbeat was applied (zero if never).
	LastArrival time.Time `json:"last_arrival"`
}

// NewDetector converts detector statistics to their API form.
func NewDetector(s failuredetector.EndpointStats) Detector {
	return Detector{
		Endpoint: s.Endpoint, Phi: failuredetector.ClampPhi(s.Phi),
		MeanMillis:   float64(s.Mean) / float64(time.Millisecond),
		StdDevMillis: float64(s.StdDev) / float64(time.Millisecond),
		Samples:      s.Samples, LastArrival: s.LastArrival,
	}
}
