// Package api holds the JSON shapes of the hearsay agent's admin HTTP API,
// shared by the agent that serves them and the client subcommands that read
// them. docs/http-api.md documents every endpoint.
//
// Members and events are served as [gossiper.Member] and [gossiper.Event]
// values, whose JSON tags already are the API's field names; this package
// adds what the gossiper does not define in JSON form: failure-detector
// statistics, state writes and errors.
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
	PathJoin            = "/v1/join"
	PathMetrics         = "/metrics"
	PathHealth          = "/healthz"
)

// Operator actions on another member: POST PathMembers/{id}/<action>.
const (
	// ActionRemove announces a down member as left (removenode).
	ActionRemove = "remove"
	// ActionAssassinate forces a member out, alive or not.
	ActionAssassinate = "assassinate"
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

// Left is the answer to POST /v1/leave and to POST
// /v1/members/{id}/remove and /assassinate: the node announced as left.
type Left struct {
	// ID is the node that left.
	ID string `json:"id"`
	// Status is always "left".
	Status string `json:"status"`
}

// JoinRequest is the body of POST /v1/join.
type JoinRequest struct {
	// Addrs are the gossip addresses ("host:port"; host names are
	// resolved) to contact; 1 to MaxJoinAddrs of them.
	Addrs []string `json:"addrs"`
}

// MaxJoinAddrs bounds JoinRequest.Addrs.
const MaxJoinAddrs = 64

// Joined is the answer to a successful POST /v1/join.
type Joined struct {
	// Answered is how many of the contacted addresses answered (a host
	// name may stand for several).
	Answered int `json:"answered"`
}

// Event is one membership event, the data line of a server-sent event of
// GET /v1/events: [gossiper.Event], whose JSON names are the API's.
type Event = gossiper.Event

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
