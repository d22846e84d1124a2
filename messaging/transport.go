package messaging

import (
	"context"
	"errors"
)

// Packet is one frame's payload received by a [Transport], handed to the
// gossip loop. The payload is the encoded envelope without the length
// prefix; it is never larger than the transport's maximum frame size.
type Packet struct {
	// Payload is the frame body. The receiver owns it.
	Payload []byte
	// Remote is the network address the frame came from (a TCP peer's
	// IP and ephemeral port, for example). It is not the sender's identity,
	// which is the one in the decoded envelope, but it names the channel,
	// which the sender cannot change per frame: the gossiper budgets its
	// answers per Remote.
	Remote string
	// Reply, when not nil, queues a payload back to whoever sent this
	// frame, on the channel it came in on (its TCP connection; in memory,
	// the sending transport), never to an address the frame claims. It
	// takes the payload like [Transport.Send], returns the same errors
	// (ErrUnreachable once that channel is gone) and never blocks.
	Reply func(payload []byte) error
	// Envelope is the decoded frame when the transport decodes frames
	// itself ([EnvelopeTransport] with a codec): the gossip loop uses it
	// instead of decoding Payload, which it must not do (the lean
	// encoding depends on the frames before). Nil otherwise.
	Envelope *Envelope
	// Identity, on a mutual-TLS connection, is who the peer proved to be
	// (its certificate's names): the gossiper accepts the envelope only
	// if Identity.Covers(From). Nil on other transports and modes.
	Identity *Identity
	// ReplyEnvelope, when not nil, is Reply for an envelope the
	// connection encodes itself (set alongside Envelope).
	ReplyEnvelope func(e *Envelope) error
}

// EnvelopeTransport is a [Transport] that can encode and decode envelopes
// itself, per connection, in the lean encoding (docs/protocol.md): a
// stateful encoding that needs every frame written in the order it was
// encoded, which only the connection knows. [TCP] and [MemTransport] are
// EnvelopeTransports.
type EnvelopeTransport interface {
	Transport
	// Codec returns the codec the transport encodes envelopes with, or
	// nil if it carries raw payloads only (then SendEnvelope fails and
	// packets carry no Envelope).
	Codec() *Codec
	// SendEnvelope queues e for addr like Send, with Send's errors, and
	// [ErrNoCodec] without a codec. The transport owns e after the call.
	SendEnvelope(addr string, e *Envelope) error
}

// Transport moves frames between gossip nodes. Implementations are safe for
// concurrent use. Send never blocks the caller: a frame that cannot be queued
// is dropped and counted.
type Transport interface {
	// Send queues payload for delivery to addr ("host:port"). It returns
	// ErrQueueFull when the peer's queue is full, ErrFrameTooLarge when the
	// payload exceeds the maximum frame size and ErrClosed after Close. The
	// transport owns payload after the call.
	//
	// It returns ErrEmptyFrame for an empty payload, and may return
	// ErrUnreachable when the transport already knows that the peer cannot
	// be reached.
	// A nil error means the frame was accepted, not delivered: delivery is
	// best effort, and a frame lost later is counted, not reported.
	Send(addr string, payload []byte) error
	// Packets returns the channel on which received frames arrive. It is
	// closed by Close.
	Packets() <-chan Packet
	// LocalAddr returns the address the transport listens on, with the
	// port actually bound.
	LocalAddr() string
	// Close stops listening, drops queued frames, closes every connection
	// and waits for the transport's goroutines. It is idempotent.
	Close() error
}

// Errors returned by transports and the codec. Callers branch on them with
// errors.Is.
var (
	// ErrFrameTooLarge is returned when a frame is larger than the
	// configured maximum frame size, on send or on receive.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrQueueFull is returned by Send when the destination's bounded
	// queue is full; the frame is dropped.
	ErrQueueFull = errors.New("send queue full")
	// ErrClosed is returned by Send after the transport is closed.
	ErrClosed = errors.New("transport closed")
	// ErrUnreachable is returned by Send when the transport already knows
	// that the destination cannot be reached: a TCP peer whose last dial or
	// write failed and that is waiting out its reconnect backoff, or an
	// in-memory address nobody listens on. The frame is dropped.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrNoCodec is returned by SendEnvelope on a transport created
	// without a codec.
	ErrNoCodec = errors.New("transport has no codec")
)

// Flusher is a [Transport] that can wait for the frames it has queued to
// leave. [TCP] and [MemTransport] are Flushers; the gossiper's Stop uses
// it to wait for its shutdown announcement instead of sleeping.
type Flusher interface {
	// Flush returns once every frame queued before the call has been
	// written to its connection or dropped (its connection failed or
	// closed), or with ctx's error when ctx ends first. Frames queued
	// during the call may be waited for too. It returns nil at once after
	// Close, whose frames are dropped.
	Flush(ctx context.Context) error
}

// DatagramEchoer is implemented by transports that may send echoes as
// datagrams: EchoesByDatagram reports whether they do (the [TCP]
// transport: with Datagrams on or default, not under mutual TLS). An echo
// by datagram opens no connection, so the runtime paces echoes faster
// (core.DatagramEchoRate).
type DatagramEchoer interface {
	EchoesByDatagram() bool
}
