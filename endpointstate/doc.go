// Package endpointstate holds the data every hearsay node gossips and the
// pure rules that reconcile two copies of it.
//
// # Data model
//
// Every node (an endpoint, named by a stable node ID, never by its IP
// address) owns one [EndpointState]: a [HeartBeatState] and its
// application states, each a [VersionedValue], held in an immutable,
// compact [States] value shared by every reader. The heartbeat's Generation is
// chosen when the node starts (wall-clock seconds, strictly increasing across
// restarts); its Version is bumped every gossip round. Application states
// are the node's key/value pairs: its address, its status, and whatever the
// embedding application publishes (load, role, schema version...).
//
// One [VersionCounter] per node hands out every version: heartbeat bumps,
// application-state updates and deletes alike. Within one generation the
// versions of a node's state are therefore totally ordered, and the single
// number [EndpointState.MaxVersion] summarises everything the node has said
// so far. That is what a [Digest] carries: (endpoint, generation, max
// version).
//
// A [Map] holds every endpoint a node knows about, its own included.
//
// # Reconciliation (Cassandra's digest comparison)
//
// A gossip exchange is SYN (digests) → ACK (requests + deltas) → ACK2
// (deltas). The decisions are pure functions of a [Map]:
//
//   - [Map.Digests] lists the digests of everything known.
//   - [Map.Examine] compares incoming digests with the local map and
//     returns what to request (a [Digest] whose MaxVersion is "send me
//     everything newer than this") and what to send (a [Want]).
//   - [Map.WantsFor] turns a peer's requests into wants.
//   - [Map.BuildDeltas] turns wants into [Delta] values that fit a byte
//     budget, most out-of-date endpoints first.
//   - [Map.Apply] applies incoming deltas and reports each [Change].
//
// The comparison rules, per endpoint, exactly as Cassandra's examineGossiper
// decides them:
//
//	local unknown                      → request everything (from version 0)
//	remote generation > local          → request everything (from version 0)
//	remote generation < local          → send the whole local state
//	same generation, remote newer      → request versions above the local max
//	same generation, local newer       → send versions above the remote max
//	same generation and max version    → nothing
//
// One deliberate difference: [Map.Examine] also sends the states of
// endpoints the SYN did not mention, so a new node learns the whole cluster
// from its first exchange instead of waiting to be picked by each peer.
//
// Applying a delta: a higher generation replaces the endpoint's whole state
// (a restart); a lower one is ignored; within a generation, a key is taken
// only when its version is strictly higher than the local one, so an older
// version never overwrites a newer one and re-applying a delta is a no-op. A
// generation more than [MaxGenerationDrift] ahead of the receiver's clock is
// rejected, as Cassandra and ScyllaDB do.
//
// # Deletes and tombstone garbage collection
//
// Deleting a key writes a tombstone: a [VersionedValue] with Deleted set and
// a fresh version, so the delete beats every older value everywhere.
// Tombstones are kept for a grace period and then dropped by
// [Map.CollectGarbage]; dropping one raises the endpoint state's GCVersion to
// the tombstone's version. A peer whose digest shows a max version below
// the sender's GCVersion may have missed a delete whose tombstone is gone, so
// it is sent a reset: the endpoint's full state, which replaces its copy
// (the approach of quickwit's chitchat). GCVersion counts in MaxVersion, so
// collecting garbage never makes a state look older.
//
// # Limits
//
// [Limits] bounds key length, value size, keys per endpoint and bytes per
// endpoint; violations are typed errors ([ErrKeyTooLong], [ErrValueTooLarge],
// [ErrTooManyKeys], [ErrStateTooLarge], [ErrInvalidKey]). [Map.Apply] judges
// each delta alone and checks the limits on the state it would leave
// ([Limits.CheckState]), so no run of deltas grows an endpoint past them,
// and an over-limit delta is refused for its endpoint alone;
// ApplyOptions.MaxEndpoints caps the endpoints known ([ErrTooManyEndpoints]).
// [Map.SetLimits] keeps [Map.BuildDeltas] from sending a state peers would
// refuse. Nothing here panics on input from the network.
//
// The package is pure: no clock (time is an argument), no I/O, no logging,
// no goroutines. A [Map] is not safe for concurrent use.
package endpointstate
