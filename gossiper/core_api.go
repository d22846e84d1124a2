package gossiper

import (
	"math/rand/v2"

	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
)

// The protocol core lives in package [core]; these aliases keep its names
// available here, so code written against package gossiper (the runtime's
// API) needs no second import. Each is the same type, constant, error or
// function as in core.

// Node is the protocol core's state machine: see [core.Node].
type Node = core.Node

// NodeConfig configures the core [Node]: see [core.NodeConfig]. [Config]
// embeds it for the runtime.
type NodeConfig = core.NodeConfig

// Output is what one step of the core produced: see [core.Output].
type Output = core.Output

// Outgoing is a message the caller must send: see [core.Outgoing].
type Outgoing = core.Outgoing

// Event is something that happened to an endpoint, as seen by this node:
// see [core.Event].
type Event = core.Event

// EventKind says what happened to an endpoint: see [core.EventKind].
type EventKind = core.EventKind

// Member is a snapshot of one known endpoint: see [core.Member].
type Member = core.Member

// Status is an endpoint's liveness as seen by this node: see
// [core.Status].
type Status = core.Status

// States is an endpoint's application states, immutable: see
// [core.States].
type States = core.States

// Value is one application state as shown to users: see [core.Value].
type Value = core.Value

// Counters are the core's running totals, for metrics: see
// [core.Counters].
type Counters = core.Counters

// DetectorWindow is one peer's failure-detector window: see
// [core.DetectorWindow].
type DetectorWindow = core.DetectorWindow

// EndpointVersion is what a node holds of one endpoint, read without
// copying its states: see [core.EndpointVersion].
type EndpointVersion = core.EndpointVersion

// PeerView is one endpoint of a known cluster view, for
// [core.Node.StartFromView]: see [core.PeerView].
type PeerView = core.PeerView

// Event kinds: see [core.EventJoin] and the rest.
const (
	// EventJoin is [core.EventJoin].
	EventJoin = core.EventJoin
	// EventAlive is [core.EventAlive].
	EventAlive = core.EventAlive
	// EventDead is [core.EventDead].
	EventDead = core.EventDead
	// EventRestart is [core.EventRestart].
	EventRestart = core.EventRestart
	// EventChange is [core.EventChange].
	EventChange = core.EventChange
	// EventRemove is [core.EventRemove].
	EventRemove = core.EventRemove
	// EventOverflow is [core.EventOverflow].
	EventOverflow = core.EventOverflow
)

// Member statuses: see [core.StatusUp] and the rest.
const (
	// StatusUp is [core.StatusUp].
	StatusUp = core.StatusUp
	// StatusDown is [core.StatusDown].
	StatusDown = core.StatusDown
	// StatusLeft is [core.StatusLeft].
	StatusLeft = core.StatusLeft
)

// Defaults of the core's configuration: see [core.DefaultFanout] and the
// rest.
const (
	// DefaultFanout is [core.DefaultFanout].
	DefaultFanout = core.DefaultFanout
	// PushFanoutAuto is [core.PushFanoutAuto].
	PushFanoutAuto = core.PushFanoutAuto
	// DefaultPushFanout is [core.DefaultPushFanout].
	DefaultPushFanout = core.DefaultPushFanout
	// DefaultPushRate is [core.DefaultPushRate].
	DefaultPushRate = core.DefaultPushRate
	// DefaultPushBurst is [core.DefaultPushBurst].
	DefaultPushBurst = core.DefaultPushBurst
	// DefaultMaxEndpoints is [core.DefaultMaxEndpoints].
	DefaultMaxEndpoints = core.DefaultMaxEndpoints
)

// The core's errors: the same values as core's, so errors.Is matches
// either name.
var (
	// ErrStopped is [core.ErrStopped].
	ErrStopped = core.ErrStopped
	// ErrNotStarted is [core.ErrNotStarted].
	ErrNotStarted = core.ErrNotStarted
	// ErrIDInUse is [core.ErrIDInUse].
	ErrIDInUse = core.ErrIDInUse
	// ErrUnknownMember is [core.ErrUnknownMember].
	ErrUnknownMember = core.ErrUnknownMember
	// ErrMemberAlive is [core.ErrMemberAlive].
	ErrMemberAlive = core.ErrMemberAlive
	// ErrSelf is [core.ErrSelf].
	ErrSelf = core.ErrSelf
)

// NewNode returns a core node: see [core.NewNode].
func NewNode(cfg NodeConfig, addr string, gen int64, rng *rand.Rand) (*Node, error) {
	return core.NewNode(cfg, addr, gen, rng)
}

// DefaultNodeConfig returns a safe core configuration for a 1 s
// interval: see [core.DefaultNodeConfig].
func DefaultNodeConfig() NodeConfig { return core.DefaultNodeConfig() }

// ParseEventKind parses an event kind's name: see [core.ParseEventKind].
func ParseEventKind(s string) (EventKind, error) { return core.ParseEventKind(s) }

// StatesOf returns the States holding m's values: see [core.StatesOf].
func StatesOf(m map[string]Value) States { return core.StatesOf(m) }

// echoPacing returns cfg with the echo pacing for tr: when cfg leaves it
// at the defaults (the pacing for echoes over TCP) and tr sends echoes by
// datagram, the faster DatagramEchoRate and DatagramEchoBurst; otherwise
// cfg unchanged.
func echoPacing(cfg NodeConfig, tr messaging.Transport) NodeConfig {
	d, ok := tr.(messaging.DatagramEchoer)
	if ok && d.EchoesByDatagram() && cfg.EchoRate == core.DefaultEchoRate && cfg.EchoBurst == core.DefaultEchoBurst {
		cfg.EchoRate, cfg.EchoBurst = core.DatagramEchoRate, core.DatagramEchoBurst
	}
	return cfg
}
