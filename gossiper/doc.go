// Package gossiper is hearsay's protocol engine: Cassandra-style gossip of
// versioned per-node state, with phi-accrual failure detection.
//
// # Two layers
//
// [Node] is the protocol core, a deterministic state machine in the style of
// go.etcd.io/raft's raft.go: the caller steps it with [Node.Tick] (a round
// is due) and [Node.Step] (a message arrived), and it returns an [Output]
// with the messages to send and the events that happened. It never reads
// the clock, sleeps, logs, starts goroutines or touches the network; time
// is an argument and randomness comes from an injected *rand.Rand. Tests and
// the simulator drive it directly, thousands of rounds in milliseconds.
//
// [Gossiper] is the thin runtime around it: one goroutine owns the Node and
// feeds it a real clock (a ticker every Config.Interval), the frames the
// [github.com/hearsay-io/hearsay/messaging.Transport] receives, and the
// commands of the public API (SetState, DeleteState, Remove, Assassinate,
// seed updates). Readers ([Gossiper.Members], [Gossiper.Member]) get an
// immutable snapshot published by the loop; subscribers get events on
// buffered channels and never stall the loop.
//
// # A round
//
// Every interval the node bumps its heartbeat version, then sends a Syn
// (digests of everything it knows, shuffled) to one random live peer; to
// one random unreachable peer with probability unreachable/(live+1); and,
// when the live peer was not a seed or fewer peers are live than there are
// seeds, to a random seed (always when none is live, otherwise with
// probability seeds/(live+unreachable)). It then asks the failure detector
// about every live peer and marks down those whose phi crossed the
// threshold, removes peers down or left for too long, and ends expired
// quarantines.
//
// A Syn is answered with an Ack (requests and deltas, built by
// [github.com/hearsay-io/hearsay/endpointstate.Map.Examine] and bounded by one
// frame, most out-of-date endpoints first), and the Ack with an Ack2.
// Every applied heartbeat advance is an arrival for the failure detector.
//
// # Push
//
// Changes do not wait for a round: a new value, a delete, a new generation
// (a node starting, restarting or announced left) marks its endpoint dirty,
// and [Node.Flush] sends the new versions, as one Push, to a few random
// live peers (Config.PushFanout), which apply it like an Ack2, never answer
// it, and forward once what was new to them. A token bucket
// (Config.PushRate, PushBurst) bounds the pushes; [Node.PushPending] says
// when held-back changes may go. A caller driving the core calls Flush
// after each batch of Tick, Step and API calls, as the Gossiper does once
// its queues are drained; a caller that never does gets the rounds alone.
//
// # Lifecycle
//
// A starting node first runs a shadow round: it asks its seeds for their
// full view without announcing itself, starts with that view, and refuses
// to start ([ErrIDInUse]) if another live node answers under its ID. A peer
// learned through gossip is marked up only after it answers an echo
// directly. A restart (higher generation) replaces the peer's state and
// fires [EventRestart]. A graceful [Gossiper.Stop] sends [messaging.Shutdown]
// to every live peer, which marks the node down at once; its "shutdown"
// status keeps stale gossip of that generation from bringing it back. Peers
// down longer than Config.RemoveDownAfter, or left longer than
// Config.LeftExpiry, are removed and quarantined for
// Config.QuarantineDuration so stale gossip cannot resurrect them.
// docs/design.md draws the whole lifecycle.
//
// # Simulation
//
// Package [github.com/hearsay-io/hearsay/gossiper/sim] runs thousands of
// Nodes on one goroutine in virtual time, over a simulated network with
// loss, partitions, crashes, restarts, pauses and clock jumps, replayable
// from a seed, and checks the protocol's invariants as it goes. It drives
// the core through the exported API alone: [Node.StartFromView] starts a
// node from a known cluster view (states, liveness, heartbeat history), so
// a run begins converged without replaying the joins, and
// [Node.EndpointVersion], [Node.EndpointVersions] and [Node.Phi] read a
// node's view without copying its states.
//
// # Embedding
//
// A running node joins more addresses with [Gossiper.Join]; [Gossiper.Halt]
// stops it as a crash would (for tests and drills). Callbacks registered
// with [Gossiper.On] run one at a time, in event order across kinds, off the
// loop; a subscription that falls behind gets an [EventOverflow] event in
// its stream. Package gossipertest runs whole clusters on an in-memory
// network, inside testing/synctest bubbles, for tests of code that embeds
// hearsay. docs/embedding.md compares the API with hashicorp/memberlist's.
package gossiper
