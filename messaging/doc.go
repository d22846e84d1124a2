// Package messaging is hearsay's wire: the protocol messages, their
// msgpack codec, length-prefixed framing, and the transports that move
// frames between nodes.
//
// # Messages
//
// A gossip exchange is three messages (Cassandra's handshake):
//
//	A ── Syn(digests of everything A knows) ──────────────▶ B
//	A ◀── Ack(digests B wants, deltas A lacks) ──────────── B
//	A ── Ack2(deltas B asked for) ────────────────────────▶ B
//
// plus [Shutdown] (a node announcing it is going down), [Echo] and
// [EchoReply] (a peer proves it is alive before it is marked up), and
// [ShadowSyn]/[ShadowAck] (a starting node reads the cluster's state before
// announcing itself). Every message travels in an [Envelope] carrying the
// protocol version, the cluster name and the sender's node ID and address.
//
// # Encoding
//
// The [Codec] encodes an envelope as msgpack with structs as arrays:
//
//	frame    = length:uint32be payload
//	payload  = [version, cluster, from, addr, type, body]
//	digest   = [endpoint, generation, max_version]
//	delta    = [endpoint, generation, heartbeat, gc_version, reset, [state...], from_version]
//	state    = [key, value, version, deleted]
//
// docs/protocol.md documents every field and shows a real Syn byte by byte.
// Newer versions may append fields to any array; decoders skip fields they
// do not know. Decoding checks the frame size, every count against the bytes
// left before allocating, and every value against
// [github.com/hearsay-io/hearsay/endpointstate.Limits]; a bad payload is an
// error wrapping [ErrMalformed], [ErrVersion], [ErrUnknownType] or
// [ErrFrameTooLarge], never a panic, and nothing of it is returned.
//
// # Transports
//
// A [Transport] sends and receives frames without knowing what they hold.
// Each received [Packet] can be answered with its Reply function, on the
// channel it came in on: the gossip core answers requests that way, never
// at the address an envelope claims. [TCP] keeps one connection per peer
// pair, used both ways (the dialer's first frame is a handshake naming its
// listening address), each behind a bounded queue, with a cap on open
// connections, on dials in progress and on connections per source waiting
// for their handshake; [MemNetwork] connects in-memory transports for
// tests, with partitions and loss. Sends never block: frames that cannot be
// queued are dropped and counted in [Stats]. The package transporttest
// holds a conformance suite every transport passes.
package messaging
