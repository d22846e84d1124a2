package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging"
)

// NodeConfig configures the core [Node]: the fields the protocol itself
// reads. It holds no runtime concern (sockets, clock, logs, randomness:
// [NewNode]'s caller supplies those). Start from [DefaultNodeConfig]; set
// at least ID. [Config] embeds it for the runtime [Gossiper].
type NodeConfig struct {
	// ID is the node's stable identity (not its address): 1..256 bytes of
	// UTF-8. Required.
	ID string
	// ClusterName must be equal on every node; messages from other
	// clusters are dropped and counted. Default "hearsay".
	ClusterName string
	// Interval between gossip rounds. Default 1s; range 1ms..1m.
	Interval time.Duration
	// Fanout is how many random live peers each round sends a Syn to,
	// besides Cassandra's occasional unreachable peer and seed. Default 1
	// (Cassandra's); range 1..64.
	Fanout int
	// PushFanout is how many random live peers a local change (SetState,
	// DeleteState, a new generation) is pushed to at once, and how many a
	// node forwards a pushed change to when it was new to it (see
	// docs/design.md, "Two speeds"). Default PushFanoutAuto (-1):
	// ceil(ln n) + 3 for n nodes seen up, at least 3, at which a change
	// pushed once by each node reaches all of them with probability about
	// exp(-exp(-3)) = 95% (Kermarrec et al. 2003); the rounds bring it to
	// the rest. 0 disables push, leaving the digest rounds alone; range
	// -1..64.
	PushFanout int
	// PushRate is how many Push messages per second the node sends at
	// most, on average; changes beyond it are coalesced into later pushes.
	// Default 128; must be > 0 (and at most 100,000) unless push is
	// disabled.
	PushRate float64
	// PushBurst is how many Push messages the node may send at once above
	// PushRate (the token bucket's depth); it also caps one push's fanout.
	// Default 64; range 1..100,000, and at least PushFanout, unless push is
	// disabled.
	PushBurst int
	// EchoRate is how many echoes a second the node sends at most (an
	// echo is the probe whose answer marks a down peer up), and EchoBurst
	// how many at once: a node that learns a whole cluster at once (a
	// join, a partition healing) echoes its N peers in about N/EchoRate
	// seconds, EchoBurst at a time. Defaults DefaultEchoRate (240) and
	// DefaultEchoBurst (24), the pacing for echoes over TCP, where each
	// echo to a peer without a connection opens one; the runtime
	// [Gossiper] raises them to DatagramEchoRate and DatagramEchoBurst
	// when left at these defaults and its transport sends echoes by
	// datagram. EchoRate range: more than 0, at most 100,000; EchoBurst
	// 1..100,000.
	EchoRate float64
	// EchoBurst: see EchoRate.
	EchoBurst int
	// FailureDetector configures phi accrual. Default
	// failuredetector.DefaultConfigFor(Interval).
	FailureDetector failuredetector.Config
	// Seeds are "host:port" addresses of nodes to contact first. May be
	// empty (a single-node cluster, or seeds from SeedProvider).
	Seeds []string
	// InitialStates are application states published from the first
	// round on.
	InitialStates map[string]string
	// QuarantineDuration is how long, after removing an endpoint, gossip
	// about it at the removed generation or an older one is ignored (a
	// restart, with a newer generation, is accepted at once). Default 60s
	// (Cassandra's QUARANTINE_DELAY).
	QuarantineDuration time.Duration
	// RemoveDownAfter: an endpoint whose heartbeat this node has not seen
	// advance for this long (it is down, and nobody relays news of it) is
	// announced as left, expiring LeftExpiry later. Only a node that sees
	// some peer up announces (a node cut off from everyone might be the
	// one at fault), so the last node standing keeps its dead peers listed
	// as down. Default 72h; 0 never.
	RemoveDownAfter time.Duration
	// LeftExpiry is how long a left endpoint (after Leave, Remove,
	// Assassinate or RemoveDownAfter) is kept, so nodes that were away
	// learn it left; the announcement carries the absolute expiry, so
	// every node removes it at the same time. Default 72h (Cassandra's 3
	// days).
	LeftExpiry time.Duration
	// TombstoneGrace is how long a deleted key's tombstone is kept before
	// it is garbage-collected. Default 1h.
	TombstoneGrace time.Duration
	// ShadowTimeout bounds the start-up shadow round (asking the seeds for
	// the cluster state before announcing). Default 10s; 0 skips it.
	ShadowTimeout time.Duration
	// Limits bound what each endpoint may publish. Default
	// endpointstate.DefaultLimits().
	Limits endpointstate.Limits
	// MaxEndpoints is the most endpoints the node knows, itself included:
	// gossip about a new endpoint beyond it is refused and counted
	// (Counters.EndpointsRefused), so a peer forging members cannot grow
	// the node without bound; known endpoints keep updating. Default
	// 10,000; range 1..1,000,000.
	MaxEndpoints int
	// MaxFrameSize is the largest message in bytes. Default 1 MiB; it must
	// hold one full endpoint state (Limits.StateSizeBound) plus envelope.
	MaxFrameSize int
	// IDs, when set, numbers the endpoint IDs the core keeps records of,
	// shared with other cores stepped by the same goroutine: the core
	// keeps its records in a slice by number and walks the table's order,
	// and the simulator gives all its cores one table, so each ID and the
	// ascending order are held once (see [endpointstate.IDTable]).
	// Default nil: the core keeps its records in a map of its own, which
	// costs less than a table of its own would.
	IDs *endpointstate.IDTable
	// Scratch, when set, lends the core the buffers of its messages and
	// of its reconciliation (see [endpointstate.Scratch]), shared with
	// other cores stepped by the same goroutine: the simulator gives all
	// its cores one, and hands back a Syn's digests and an Ack's or
	// Ack2's lists once every receiver has handled the message (see
	// [Release]). Default nil: every message gets buffers of its own, as
	// a runtime node needs (its messages are encoded on other goroutines).
	Scratch *endpointstate.Scratch
}

// Defaults of the speed knobs (see [Config]).
const (
	// DefaultFanout is Config.Fanout's default: one live peer per round.
	DefaultFanout = 1
	// PushFanoutAuto, as Config.PushFanout, scales the fanout with the
	// cluster: ceil(ln n) + 3 for n nodes seen up, at least 3.
	PushFanoutAuto = -1
	// DefaultPushFanout is Config.PushFanout's default.
	DefaultPushFanout = PushFanoutAuto
	// DefaultPushRate is Config.PushRate's default, in Push messages per
	// second.
	DefaultPushRate = 128
	// DefaultPushBurst is Config.PushBurst's default.
	DefaultPushBurst = 64
)

// Echo pacing (see [NodeConfig.EchoRate]).
const (
	// DefaultEchoRate is NodeConfig.EchoRate's default, in echoes a
	// second: the pacing for echoes over TCP, a few dozen connections to
	// open at a time.
	DefaultEchoRate = 240
	// DefaultEchoBurst is NodeConfig.EchoBurst's default.
	DefaultEchoBurst = 24
	// DatagramEchoRate is the echo rate the runtime uses when echoes go by
	// datagram (no connection to open): a joining node echoes 128 peers
	// at once and a 10,000-node cluster in about 8 s, never more than
	// DatagramEchoBurst datagrams at once (docs/performance.md, "Echo
	// pacing by path").
	DatagramEchoRate = 1280
	// DatagramEchoBurst is the echo burst when echoes go by datagram.
	DatagramEchoBurst = 128
)

// DefaultMaxEndpoints is Config.MaxEndpoints' default.
const DefaultMaxEndpoints = 10_000

// DefaultNodeConfig returns a safe core configuration for a 1 s
// interval. ID must still be set.
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{
		ClusterName:        "hearsay",
		Interval:           time.Second,
		Fanout:             DefaultFanout,
		PushFanout:         DefaultPushFanout,
		PushRate:           DefaultPushRate,
		PushBurst:          DefaultPushBurst,
		EchoRate:           DefaultEchoRate,
		EchoBurst:          DefaultEchoBurst,
		FailureDetector:    failuredetector.DefaultConfig(),
		QuarantineDuration: 60 * time.Second,
		RemoveDownAfter:    72 * time.Hour,
		LeftExpiry:         72 * time.Hour,
		TombstoneGrace:     time.Hour,
		ShadowTimeout:      10 * time.Second,
		Limits:             endpointstate.DefaultLimits(),
		MaxFrameSize:       messaging.DefaultMaxFrameSize,
		MaxEndpoints:       DefaultMaxEndpoints,
	}
}

// Validate reports every field out of range, without changing c.
func (c NodeConfig) Validate() error {
	return errors.Join(c.validate("")...)
}

// ValidateFor is [NodeConfig.Validate] for a node advertising addr: the
// address counts toward the endpoint state's and every envelope's size, as
// [NewNode] counts it.
func (c NodeConfig) ValidateFor(addr string) error {
	return errors.Join(c.validate(addr)...)
}

// validate lists the problems of c for a node advertising addr (counted
// in the endpoint state and the envelope, when known).
func (c NodeConfig) validate(addr string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	} else if err := c.Limits.CheckEndpoint(c.ID); err != nil {
		bad("ID %q: %v", c.ID, err)
	}
	if c.ClusterName == "" || len(c.ClusterName) > c.Limits.MaxKeyLength {
		bad("ClusterName %q: want 1..%d bytes", c.ClusterName, c.Limits.MaxKeyLength)
	}
	if c.Interval < time.Millisecond || c.Interval > time.Minute {
		bad("Interval %v: want 1ms..1m", c.Interval)
	}
	if c.Fanout < 1 || c.Fanout > 64 {
		bad("Fanout %d: want 1..64 live peers per round (default %d)", c.Fanout, DefaultFanout)
	}
	if c.PushFanout < PushFanoutAuto || c.PushFanout > 64 {
		bad("PushFanout %d: want 1..64 peers per push, %d for automatic (the default), or 0 to disable push", c.PushFanout, PushFanoutAuto)
	}
	if c.PushFanout != 0 {
		if !(c.PushRate > 0 && c.PushRate <= 100_000) {
			bad("PushRate %v: want more than 0 and at most 100000 Push messages per second, or PushFanout 0 to disable push (default %d)", c.PushRate, DefaultPushRate)
		}
		if c.PushBurst < max(c.PushFanout, 1) || c.PushBurst > 100_000 {
			bad("PushBurst %d: want %d..100000, so one push can reach PushFanout peers (default %d)", c.PushBurst, max(c.PushFanout, 1), DefaultPushBurst)
		}
	}
	if !(c.EchoRate > 0 && c.EchoRate <= 100_000) {
		bad("EchoRate %v: want more than 0 and at most 100000 echoes per second (default %d, %d when echoes go by datagram)", c.EchoRate, DefaultEchoRate, DatagramEchoRate)
	}
	if c.EchoBurst < 1 || c.EchoBurst > 100_000 {
		bad("EchoBurst %d: want 1..100000 echoes at once (default %d, %d when echoes go by datagram)", c.EchoBurst, DefaultEchoBurst, DatagramEchoBurst)
	}
	if err := c.FailureDetector.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("config: FailureDetector: %w", err))
	}
	for _, s := range c.Seeds {
		if err := checkHostPort(s); err != nil {
			bad("seed %q: %v", s, err)
		}
	}
	if c.Limits.Validate() == nil {
		// Counted as the node will hold them: with its own address and
		// status.
		initial := endpointstate.NewEndpointState(1)
		initial.Set(endpointstate.KeyAddress, addr, 1)
		initial.Set(endpointstate.KeyStatus, endpointstate.StatusNormal, 2)
		for i, k := range sortedKeys(c.InitialStates) {
			v := c.InitialStates[k]
			if err := c.Limits.CheckUserKey(k); err != nil {
				bad("InitialStates: %v", err)
			} else if err := c.Limits.CheckSet(initial, k, v); err != nil {
				bad("InitialStates[%q]: %v", k, err)
			} else {
				initial.Set(k, v, int64(i+3))
			}
		}
	}
	for name, d := range map[string]time.Duration{"QuarantineDuration": c.QuarantineDuration, "LeftExpiry": c.LeftExpiry, "TombstoneGrace": c.TombstoneGrace} {
		if d <= 0 {
			bad("%s %v: want > 0", name, d)
		}
	}
	if c.RemoveDownAfter < 0 || c.ShadowTimeout < 0 {
		bad("RemoveDownAfter %v, ShadowTimeout %v: want >= 0", c.RemoveDownAfter, c.ShadowTimeout)
	}
	if need := c.Limits.StateSizeBound() + messaging.EnvelopeOverhead(c.ClusterName, c.ID, addr); c.MaxFrameSize < need {
		bad("MaxFrameSize %d: must hold one full endpoint state within Limits, at least %d", c.MaxFrameSize, need)
	}
	if c.MaxEndpoints < 1 || c.MaxEndpoints > 1_000_000 {
		bad("MaxEndpoints %d: want 1..1000000 (default %d)", c.MaxEndpoints, DefaultMaxEndpoints)
	}
	return errs
}
