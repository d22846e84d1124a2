// Package gossiper is hearsay's protocol engine: Cassandra-style gossip of
// versioned per-node state, with phi-accrual failure detection.
//
// # Two layers
//
// [Node] is the protocol core, a deterministic state machine defined in
// package [github.com/hearsay-io/hearsay/gossiper/core] (its names are
// re-exported here: gossiper.Node is core.Node): the caller steps it with
// [Node.Tick] (a round is due) and [Node.Step] (a message arrived), and it
// returns an [Output] with the messages to send and the events that
// happened. It never reads the clock, sleeps, logs, starts goroutines or
// touches the network. Package core's documentation describes the
// protocol: rounds, push, the lifecycle of a node.
//
// [Gossiper] is the thin runtime around it, and this package's own part:
// one goroutine owns the Node and feeds it a real clock (a ticker every
// Config.Interval), the frames the
// [github.com/hearsay-io/hearsay/messaging.Transport] receives, and the
// commands of the public API (SetState, DeleteState, Remove, Assassinate,
// seed updates), and calls [Node.Flush] once its queues are drained.
// Readers ([Gossiper.Members], [Gossiper.Member]) get an immutable
// snapshot published by the loop; subscribers get events on buffered
// channels and never stall the loop. It reaches the core through core's
// exported API only. A graceful [Gossiper.Stop] sends [messaging.Shutdown]
// to every live peer ([Node.Shutdown]), which marks the node down at once;
// [NextGeneration] persists the generation across restarts.
//
// # Simulation
//
// Package [github.com/hearsay-io/hearsay/gossiper/sim] runs thousands of
// Nodes in virtual time, in one event order (different nodes' steps in
// parallel where no message can pass between them; the same run for any
// number of workers), over a simulated network with
// loss, partitions, crashes, restarts, pauses and clock jumps, replayable
// from a seed, and checks the protocol's invariants as it goes. It drives
// the core through the exported API alone, as the Gossiper does.
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
