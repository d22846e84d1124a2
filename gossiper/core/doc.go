// Package core is hearsay's protocol core: Cassandra-style gossip of
// versioned per-node state, with phi-accrual failure detection, as a
// deterministic state machine.
//
// [Node] is in the style of go.etcd.io/raft's raft.go: the caller steps it
// with [Node.Tick] (a round is due) and [Node.Step] (a message arrived),
// and it returns an [Output] with the messages to send and the events that
// happened. It never reads the clock, sleeps, logs, starts goroutines or
// touches the network; time is an argument and randomness comes from an
// injected *rand.Rand. docs/lint_test.go checks every non-test file of this
// package for that, and that it imports no package of this module but
// endpointstate, failuredetector and messaging.
//
// Two shells drive it, through its exported API only: the runtime
// ([github.com/hearsay-io/hearsay/gossiper.Gossiper]: goroutines, TCP, the
// wall clock), and the simulator
// ([github.com/hearsay-io/hearsay/gossiper/sim]: one goroutine, virtual
// time, a simulated network). Tests drive it directly, thousands of rounds
// in milliseconds. Package gossiper re-exports this package's names
// (gossiper.Node is core.Node), so embedders need only that one.
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
// live peers (NodeConfig.PushFanout), which apply it like an Ack2, never
// answer it, and forward once what was new to them; the news of a new
// endpoint only when it came from that endpoint itself, so that a join
// announcement travels two hops by push and the rounds carry it on (at a
// cluster-wide start every member is news to every node). A token bucket
// (NodeConfig.PushRate, PushBurst) bounds the pushes; [Node.PushPending]
// says when held-back changes may go. A caller driving the core calls
// Flush after each batch of Tick, Step and API calls, as the Gossiper does
// once its queues are drained; a caller that never does gets the rounds
// alone.
//
// # Lifecycle
//
// A starting node first runs a shadow round: it asks its seeds for their
// full view without announcing itself, starts with that view, and refuses
// to start ([ErrIDInUse]) if another live node answers under its ID. Its
// first Flush then runs a round at once, and further catch-up rounds follow
// every Interval/4 while they teach it new endpoints, for its first two
// intervals (Counters.CatchUpRounds). A peer
// learned through gossip is marked up only after it answers an echo
// directly. A restart (higher generation) replaces the peer's state and
// fires [EventRestart]. A graceful stop ([Node.Shutdown]) sends
// [messaging.Shutdown] to every live peer, which marks the node down at
// once; its "shutdown" status keeps stale gossip of that generation from
// bringing it back. Peers down longer than NodeConfig.RemoveDownAfter, or
// left longer than NodeConfig.LeftExpiry, are removed and quarantined for
// NodeConfig.QuarantineDuration so stale gossip cannot resurrect them.
// docs/design.md draws the whole lifecycle.
//
// # Starting from a known view
//
// [Node.StartFromView] starts a node from a known cluster view (states,
// liveness, heartbeat history), so a simulation begins converged without
// replaying the joins, and [Node.EndpointVersion], [Node.EndpointVersions]
// and [Node.Phi] read a node's view without copying its states.
//
// # Tests
//
// The transcripts in testdata/transcripts, replayed by TestTranscripts,
// write down the core's behaviour on each protocol path (docs/design.md,
// "Transcripts"):
//
//	go test -run TestTranscripts -v ./gossiper/core/
package core
