package core

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging"
)

// Errors returned by the core and the runtime. Callers branch on them with
// errors.Is.
var (
	// ErrIDInUse is returned by Start when the shadow round finds another
	// live node with this node's ID.
	ErrIDInUse = errors.New("node id already in use by a live node")
	// ErrUnknownMember is returned for an operation on an ID nobody knows.
	ErrUnknownMember = errors.New("unknown member")
	// ErrMemberAlive is returned by Remove for a member that is up; use
	// Assassinate to force it.
	ErrMemberAlive = errors.New("member is alive")
	// ErrSelf is returned for an operator action aimed at the local node.
	ErrSelf = errors.New("operation not allowed on the local node")
	// ErrStopped is returned after Stop or a graceful shutdown.
	ErrStopped = errors.New("gossiper stopped")
	// ErrNotStarted is returned before Start.
	ErrNotStarted = errors.New("gossiper not started")
)

// Outgoing is a message the caller must send.
type Outgoing struct {
	// To is the destination address ("host:port"). For a reply it is the
	// address the request claimed, for logs and for callers that have no
	// channel to answer on.
	To string
	// Message is the payload; the caller wraps it in an envelope.
	Message messaging.Message
	// Reply is set on an answer to the message just stepped (an Ack to a
	// Syn, an Ack2 to an Ack, an EchoReply, a ShadowAck): the caller sends
	// it back on the channel that message came in on
	// ([messaging.Packet.Reply]), never to To, which the sender may have
	// forged to aim the answer at a third party.
	Reply bool
}

// Output is what one step of the core produced: messages for the network,
// events for subscribers, and problems for the log.
type Output struct {
	// Messages to send, in order.
	Messages []Outgoing
	// Events that happened, in order.
	Events []Event
	// Warnings are problems with input (a foreign cluster, a rejected
	// delta) for the caller to log; nothing was applied from that input.
	Warnings []error
	// Notices are things about the node itself, not its input, for the
	// caller to log: a local pause (this process stalled between two
	// rounds) and the convictions it deferred.
	Notices []error
	// Fatal is set when the node cannot go on (its ID is in use).
	Fatal error
	// NewGeneration is set when the node took a new generation (to beat a
	// previous incarnation's, or to refute an announcement that it left);
	// the caller persists it.
	NewGeneration int64
}

// Counters are the core's running totals, for metrics.
type Counters struct {
	// Rounds is the number of gossip rounds run.
	Rounds uint64
	// Convictions counts endpoints convicted by the failure detector.
	Convictions uint64
	// Restarts counts endpoints seen coming back with a higher generation.
	Restarts uint64
	// ClusterMismatch counts messages dropped for a foreign cluster name.
	ClusterMismatch uint64
	// Rejected counts messages (or parts) rejected as invalid.
	Rejected uint64
	// AcksTruncated counts Acks, Ack2s and shadow-round Acks that left
	// deltas for later rounds to stay within the frame limit.
	AcksTruncated uint64
	// DeltasRefused counts deltas refused for one endpoint while the rest
	// of their message applied: invalid, over the per-endpoint limits (on
	// the merged state), or with a generation too far ahead.
	DeltasRefused uint64
	// EndpointsRefused counts deltas about new endpoints refused because
	// the node already knows Config.MaxEndpoints.
	EndpointsRefused uint64
	// LocalPauses counts gaps between this node's rounds longer than the
	// failure detector's MaxLocalPause (the process was stalled).
	LocalPauses uint64
	// ConvictionsDeferred counts, once per peer and pause, convictions
	// that only the local pause would have caused: the peer's phi was over
	// the threshold with its silence counted in full, but not with the
	// local stall discounted.
	ConvictionsDeferred uint64
	// GenerationsRefused counts far-future generations this node would
	// have had to take (to refute or take over) and did not.
	GenerationsRefused uint64
	// RepliesLimited counts requests left unanswered because their sender
	// ID, or the connection they came on, had used its answer budget for
	// the interval (see [Node.StepFrom]).
	RepliesLimited uint64
	// Pushes counts Push messages sent (changes pushed or forwarded at
	// once, see Config.PushFanout).
	Pushes uint64
	// PushesDeferred counts flushes that found changes to push but waited
	// for the rate limit (Config.PushRate); the changes went out together
	// in a later push.
	PushesDeferred uint64
	// EchoesPaced counts the times echoes due waited for the echo budget
	// (a join echoes at most a few dozen peers at once, see echo.go).
	EchoesPaced uint64
	// EchoRetries counts echoes sent again, unanswered, before a whole
	// Interval passed.
	EchoRetries uint64
	// CatchUpRounds counts the extra rounds a starting node ran while
	// its exchanges kept teaching it new endpoints (see [Node.Flush]).
	CatchUpRounds uint64
}

type phase uint8

const (
	phaseNew phase = iota
	phaseShadow
	phaseRunning
	phaseStopped
)

// peer is the core's record of one endpoint (see records): its state
// and, for a tracked peer, its liveness and failure-detector state, 120
// bytes in all, its times kept as moments; an echo in flight and the time
// a peer was seen leaving are kept beside (Node.echoes, Node.left). Its
// pointers are the state's (its application states and tombstone times).
type peer struct {
	// fd is the peer's failure-detector state (see Node.detector); its
	// last accepted report is when this node last saw the peer's
	// heartbeat advance (or first learned of it, or heard its echo reply).
	fd failuredetector.Tracker
	// st is the endpoint's state when the record holds one (see records);
	// st.Aux holds the record's flags (see peerFlag), in the state's
	// padding, so that a record takes 120 bytes rather than 128.
	st endpointstate.EndpointState
}

// peerFlag is a bit of a record's flags (peer.st.Aux).
type peerFlag = uint8

const (
	// flagAlive: the peer is up.
	flagAlive peerFlag = 1 << iota
	// flagTracked: the record holds a peer's liveness (the node's own
	// record never does).
	flagTracked
	// flagHasState: the record holds the endpoint's state, st.
	flagHasState
	// flagNumbered: the record is in place in its node's chunks and holds
	// its endpoint's number in the shared IDTable (see records).
	flagNumbered
)

func (p *peer) has(f peerFlag) bool { return p.st.Aux&f != 0 }

func (p *peer) set(f peerFlag, on bool) {
	if on {
		p.st.Aux |= f
	} else {
		p.st.Aux &^= f
	}
}

// alive reports whether the peer is up.
func (p *peer) alive() bool { return p.has(flagAlive) }

// setAlive marks the peer up or down.
func (p *peer) setAlive(up bool) { p.set(flagAlive, up) }

// moment is a time as nanoseconds after Node.base, so that a per-peer
// record holds 8 bytes per time rather than a time.Time's 24. The zero
// moment means never.
type moment int64

// moment returns t as a moment, never 0. The first time the node converts
// sets its base, a nanosecond before that time; the times must come from
// one monotonic source, as every time the core is given.
func (n *Node) moment(t time.Time) moment {
	if !n.based {
		n.base, n.based = t.Add(-time.Nanosecond), true
	}
	if m := moment(t.Sub(n.base)); m != 0 {
		return m
	}
	return 1
}

// time returns the time of moment m.
func (n *Node) time(m moment) time.Time { return n.base.Add(time.Duration(m)) }

// Node is hearsay's protocol core: a deterministic state machine stepped by
// [Node.Tick] (time passes) and [Node.Step] (a message arrived), returning
// the messages to send and the events that happened. It never sends,
// sleeps, logs or starts goroutines; time and randomness are injected.
// A Node is not safe for concurrent use: one goroutine owns it (the
// [Gossiper]'s loop, or a simulator).
type Node struct {
	cfg   NodeConfig
	id    string
	addr  string
	gen   int64
	rng   *rand.Rand
	phase phase

	versions endpointstate.VersionCounter
	states   *endpointstate.Map
	// detector is the failure detector; each peer's state in it is the
	// Tracker in the peer's record (peer.fd), so a peer costs one
	// allocation and one map entry.
	detector *failuredetector.Detector
	// peers holds one record per endpoint, n.states' included.
	peers *records
	seeds []string
	// base is the time moments count from (see Node.moment), set once.
	base  time.Time
	based bool
	// removed remembers, for QuarantineDuration, the generation of each
	// endpoint removed here: gossip about it at that generation or an older
	// one is ignored, so in-flight gossip cannot bring it back, while a
	// restart (a newer generation) is welcome at once.
	removed map[string]removal
	// echoes holds the outstanding echo of each tracked peer that has
	// one (the few down peers), and left when each peer seen leaving
	// was: kept beside the records, which then carry nothing for them.
	echoes sideTable[echo]
	left   sideTable[moment]
	// echoQ paces the echoes (see echo.go).
	echoQ echoQueue

	// live and unreachable are the gossip targets (see Node.targets),
	// rebuilt when targetsStale.
	live, unreachable targetList
	targetsStale      bool
	// due is checkStatus's buffer, kept between rounds.
	due []string

	shadow   shadowRound
	probe    selfProbe
	refusals refusalLog
	nonce    uint64
	overhead int
	counters Counters
	replies  replyBudget
	source   string // where the message being stepped came from (StepFrom)
	push     pushState
	catchUp  catchUp
}

// NewNode returns a core for cfg, advertising addr, in generation gen,
// drawing its randomness from rng. cfg must be valid; gen > 0.
func NewNode(cfg NodeConfig, addr string, gen int64, rng *rand.Rand) (*Node, error) {
	if err := errors.Join(cfg.validate(addr)...); err != nil {
		return nil, err
	}
	if gen <= 0 {
		return nil, fmt.Errorf("node: generation %d, want > 0", gen)
	}
	fd, err := failuredetector.NewDetector(cfg.FailureDetector)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if gen > math.MaxInt64-endpointstate.MaxGenerationDrift {
		return nil, fmt.Errorf("node: generation %d is beyond any clock", gen)
	}
	n := &Node{
		cfg: cfg, id: cfg.ID, addr: addr, gen: gen, rng: rng,
		detector:     fd,
		peers:        newRecords(cfg.IDs),
		removed:      map[string]removal{},
		echoes:       newSideTable[echo](),
		left:         newSideTable[moment](),
		overhead:     messaging.EnvelopeOverhead(cfg.ClusterName, cfg.ID, addr),
		targetsStale: true,
	}
	if cfg.IDs != nil {
		// Records in place hold their endpoint's number in their
		// Tracker (records.ensure): the detector names them by the
		// table rather than keeping a name per peer.
		fd.SetNames(cfg.IDs.Name)
	}
	n.states = endpointstate.NewMapIn(n.peers.store())
	n.states.SetLimits(cfg.Limits)
	n.states.SetScratch(cfg.Scratch)
	n.SetSeeds(cfg.Seeds)
	n.resetLocalState()
	return n, nil
}

// resetLocalState (re)builds the local endpoint state for n.gen: address,
// status and the application states, taken from the current local state
// when there is one (a generation bump in the shadow round keeps what the
// application set), else from InitialStates.
func (n *Node) resetLocalState() {
	states := n.cfg.InitialStates
	if prev := n.states.Get(n.id); prev != nil {
		states = map[string]string{}
		for k, v := range prev.States.All() {
			if !v.Deleted && !strings.HasPrefix(k, endpointstate.ReservedPrefix) {
				states[k] = v.Value
			}
		}
	}
	n.versions = endpointstate.VersionCounter{}
	s := endpointstate.NewEndpointState(n.gen)
	s.Set(endpointstate.KeyAddress, n.addr, n.versions.Next())
	s.Set(endpointstate.KeyStatus, endpointstate.StatusNormal, n.versions.Next())
	for _, k := range sortedKeys(states) {
		s.Set(k, states[k], n.versions.Next())
	}
	s.HeartBeat.Version = n.versions.Next()
	n.states.Put(n.id, s)
	n.markDirty(n.id, n.gen, 0, "")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ID returns the local node ID.
func (n *Node) ID() string { return n.id }

// Addr returns the address the node advertises.
func (n *Node) Addr() string { return n.addr }

// Generation returns the local generation (it may have been raised by the
// shadow round past a previous incarnation's).
func (n *Node) Generation() int64 { return n.gen }

// Running reports whether the node finished its shadow round and gossips.
func (n *Node) Running() bool { return n.phase == phaseRunning }

// Stopped reports whether the node announced its shutdown.
func (n *Node) Stopped() bool { return n.phase == phaseStopped }

// Counters returns the core's running totals.
func (n *Node) Counters() Counters { return n.counters }

// SetScratch makes the core take its buffers from s from its next call
// on (NodeConfig.Scratch), so that a core may be stepped by whichever
// goroutine has s: the simulator's workers each have a Scratch and step
// any node. Buffers the core's messages took from its former Scratch may
// be handed back to either (see [Release]); a Scratch is still used by
// one goroutine at a time.
func (n *Node) SetScratch(s *endpointstate.Scratch) {
	n.cfg.Scratch = s
	n.states.SetScratch(s)
}

// SetSeeds replaces the seed list (addresses), dropping the node's own
// address and duplicates.
func (n *Node) SetSeeds(addrs []string) {
	var out []string
	for _, a := range addrs {
		if a != "" && a != n.addr && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	n.seeds = out
}

// Seeds returns the current seed addresses.
func (n *Node) Seeds() []string { return slices.Clone(n.seeds) }

// Members returns a snapshot of every known endpoint, the local node
// included, sorted by ID; phi is evaluated at now. Each member's States
// shares the node's immutable copy of the endpoint's states: building the
// snapshot copies none.
func (n *Node) Members(now time.Time) []Member {
	out := make([]Member, 0, n.states.Len())
	for ep := range n.states.All() {
		out = append(out, n.member(ep, now))
	}
	return out
}

func (n *Node) member(ep string, now time.Time) Member {
	s := n.states.Get(ep)
	m := Member{
		ID: ep, Address: s.Address(), Generation: s.HeartBeat.Generation,
		HeartBeat: s.HeartBeat.Version, States: States{all: s.States}, Self: ep == n.id,
	}
	switch {
	case m.Self:
		m.Status = StatusUp
	case s.Status() == endpointstate.StatusLeft:
		m.Status = StatusLeft
	case n.peers.get(ep) != nil && n.peers.get(ep).alive():
		m.Status = StatusUp
	default:
		m.Status = StatusDown
	}
	if !m.Self {
		if p := n.peers.get(ep); p != nil {
			m.Phi = failuredetector.ClampPhi(n.detector.PhiTracker(&p.fd, now))
		}
	}
	return m
}

// FailureDetector returns per-endpoint detector statistics at now.
func (n *Node) FailureDetector(now time.Time) []failuredetector.EndpointStats {
	return n.detector.Snapshot(now)
}

// State returns a copy of the state of endpoint ep, or nil.
func (n *Node) State(ep string) *endpointstate.EndpointState {
	if s := n.states.Get(ep); s != nil {
		return s.Clone()
	}
	return nil
}

// Digests returns the digests of everything known, sorted by endpoint.
func (n *Node) Digests() []endpointstate.Digest { return n.states.Digests() }

func (n *Node) self() *endpointstate.EndpointState { return n.states.Get(n.id) }

// event appends an event stamped with now.
func (o *Output) event(now time.Time, e Event) {
	e.Time = now
	o.Events = append(o.Events, e)
}

func (o *Output) send(to string, m messaging.Message) {
	if to != "" {
		o.Messages = append(o.Messages, Outgoing{To: to, Message: m})
	}
}

// reply appends an answer to the message being stepped, which came from
// env; the caller sends it back on the channel that message came in on.
func (o *Output) reply(env *messaging.Envelope, m messaging.Message) {
	o.Messages = append(o.Messages, Outgoing{To: env.Addr, Message: m, Reply: true})
}

// Release hands the digest and delta lists of m, a message a core built
// with s as its NodeConfig.Scratch, back to s, to be reused by the next
// messages of the cores sharing it. Call it once no one reads m any more:
// every receiver has handled it (or it was lost) and it is encoded. Only
// a Syn, an Ack and an Ack2 have lists to give back; other messages and a
// nil s are left alone.
func Release(s *endpointstate.Scratch, m messaging.Message) {
	if s == nil {
		return
	}
	switch m := m.(type) {
	case *messaging.Syn:
		s.PutDigests(m.Digests)
		m.Digests = nil
	case *messaging.NumberedSyn:
		s.PutDigests(m.Digests)
		s.PutNumbers(m.Numbers)
		m.Digests, m.Numbers = nil, nil
	case *messaging.Ack:
		s.PutDigests(m.Requests)
		s.PutDeltas(m.Deltas)
		m.Requests, m.Deltas = nil, nil
	case *messaging.NumberedAck:
		s.PutDigests(m.Requests)
		s.PutNumbers(m.RequestNumbers)
		s.PutDeltas(m.Deltas)
		m.Requests, m.RequestNumbers, m.Deltas = nil, nil, nil
	case *messaging.Ack2:
		s.PutDeltas(m.Deltas)
		m.Deltas = nil
	}
}
