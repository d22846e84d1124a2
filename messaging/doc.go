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
// Protocol version 2 ([ProtocolVersion]) has two encodings of a payload.
// On a TCP connection, every frame is in the lean encoding: an [Encoder]
// in the connection's writer and a [Decoder] in its reader keep, per
// direction, a table of what the connection carried, so that an endpoint
// ID travels once (then as a small index), a generation only when it
// changes and a version as a varint delta: a steady-state digest costs
// about 2 bytes and a heartbeat delta about 4, against 17 and 13.5 in the
// plain encoding. A connection's tables start empty and die with it; any
// frame that cannot be written or decoded closes the connection.
//
//	frame    = length:uint32be payload
//	lean     = type:byte header:byte [cluster from addr] body
//
// Transports that carry raw payloads (a [MemNetwork] without a codec, a
// custom [Transport]) use the plain encoding of [Codec.Encode], msgpack
// with structs as arrays:
//
//	payload  = [version, cluster, from, addr, type, body]
//	digest   = [endpoint, generation, max_version]
//	delta    = [endpoint, generation, heartbeat, gc_version, reset, [state...], from_version]
//	state    = [key, value, version, deleted]
//
// docs/protocol.md documents both byte by byte, with golden frames. The
// plain encoding may grow fields at the end of any array, which decoders
// skip; the lean one changes only with the version. A TCP dialer whose
// handshake names another version is refused before any of its frames is
// read, and counted ([Stats.RefusedVersion]). Decoding checks the frame size, every count against the bytes
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
// tests, with partitions and loss (and the lean encoding per pair of
// transports after [MemNetwork.SetCodec]). [EnvelopeTransport]s take
// envelopes ([TCP.SendEnvelope], [Packet.ReplyEnvelope]) and deliver them
// decoded ([Packet.Envelope]). Sends never block: frames that cannot be
// queued are dropped and counted in [Stats]. The package transporttest
// holds a conformance suite every transport passes.
//
// # Security
//
// [TCPConfig.Security] protects the TCP transport with a keyring (every
// frame sealed with AES-256-GCM under keys derived per connection, see
// [ParseKeyring]) or with mutual TLS 1.3, whose verified peer names ride on
// every [Packet] as its [Identity]; a peer in another mode is refused
// before anything it sends is decoded. The package securitytest makes
// certificates and keyrings for tests. docs/security.md has the threat
// model, docs/protocol.md the wire format.
package messaging
