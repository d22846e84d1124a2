package messaging

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// ProtocolVersion is the wire protocol version this package speaks: 2
// since the lean encoding (docs/protocol.md). A TCP handshake or a plain
// envelope of any other version is refused with an error wrapping
// [ErrVersion]. Within a version, the plain encoding's arrays may grow
// fields at their end, which decoders skip; the lean encoding has no such
// room, so any change to it takes a new version.
const ProtocolVersion uint8 = 2

// MaxAddrLength is the longest sender address accepted, in bytes.
const MaxAddrLength = 512

// Codec errors. Every decoding error wraps ErrMalformed or one of the more
// specific sentinels; callers branch on them with errors.Is.
var (
	// ErrMalformed is returned for a payload that is not a valid message.
	ErrMalformed = errors.New("malformed message")
	// ErrVersion is returned for an unsupported protocol version.
	ErrVersion = errors.New("unsupported protocol version")
	// ErrUnknownType is returned for an unknown message type.
	ErrUnknownType = errors.New("unknown message type")
)

// Codec encodes and decodes envelopes with msgpack, structs as arrays,
// within a maximum frame size, checking every decoded value against
// [endpointstate.Limits]. A Codec is immutable and safe for concurrent use.
type Codec struct {
	maxFrame int
	limits   endpointstate.Limits
}

// NewCodec returns a codec for frames of at most maxFrameSize bytes.
func NewCodec(maxFrameSize int, limits endpointstate.Limits) (*Codec, error) {
	if maxFrameSize < 64 {
		return nil, fmt.Errorf("codec: max frame size %d, want at least 64", maxFrameSize)
	}
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	return &Codec{maxFrame: maxFrameSize, limits: limits}, nil
}

// MaxFrameSize returns the largest payload the codec produces or accepts.
func (c *Codec) MaxFrameSize() int { return c.maxFrame }

// Limits returns the limits decoded states are checked against.
func (c *Codec) Limits() endpointstate.Limits { return c.limits }

// EnvelopeOverhead returns an upper bound on the bytes an envelope adds
// around its message's body, and on the body's fixed part: a message's
// size is at most this plus the SizeBound of its digests and deltas.
func EnvelopeOverhead(cluster, from, addr string) int {
	return 5 + 2 + 3*5 + len(cluster) + len(from) + len(addr) + 2 + 3*5 + 9
}

// Encode encodes e. It fails with an error wrapping [ErrFrameTooLarge] when
// the result would exceed the maximum frame size.
func (c *Codec) Encode(e *Envelope) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	w := writer{enc: enc}
	w.arrayLen(6)
	w.uint(uint64(e.Version))
	w.str(e.Cluster)
	w.str(e.From)
	w.str(e.Addr)
	if e.Message == nil {
		return nil, fmt.Errorf("encode: nil message")
	}
	w.uint(uint64(e.Message.Type()))
	if err := encodeBody(&w, e.Message); err != nil {
		return nil, err
	}
	if w.err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.Message.Type(), w.err)
	}
	if buf.Len() > c.maxFrame {
		return nil, fmt.Errorf("encode %s: %w: %d bytes, limit %d", e.Message.Type(), ErrFrameTooLarge, buf.Len(), c.maxFrame)
	}
	return buf.Bytes(), nil
}

// plain returns m as the wire carries it: a NumberedSyn or NumberedAck is
// its Syn or Ack (the numbers are never encoded).
func plain(m Message) Message {
	switch n := m.(type) {
	case *NumberedSyn:
		return &n.Syn
	case *NumberedAck:
		return &n.Ack
	}
	return m
}

func encodeBody(w *writer, m Message) error {
	switch m := plain(m).(type) {
	case *Syn:
		w.arrayLen(1)
		w.digests(m.Digests)
	case *Ack:
		w.arrayLen(2)
		w.digests(m.Requests)
		w.deltas(m.Deltas)
	case *Ack2:
		w.arrayLen(1)
		w.deltas(m.Deltas)
	case *Shutdown:
		w.arrayLen(1)
		w.delta(&m.State)
	case *Echo:
		w.arrayLen(1)
		w.uint(m.Nonce)
	case *EchoReply:
		w.arrayLen(2)
		w.uint(m.Nonce)
		w.int(m.Generation)
	case *ShadowSyn:
		w.arrayLen(0)
	case *ShadowAck:
		w.arrayLen(1)
		w.deltas(m.Deltas)
	case *Push:
		w.arrayLen(1)
		w.deltas(m.Deltas)
	default:
		return fmt.Errorf("encode: %w: %T", ErrUnknownType, m)
	}
	return nil
}

// writer keeps the first encoding error so the encoding code reads
// straight.
type writer struct {
	enc *msgpack.Encoder
	err error
}

func (w *writer) arrayLen(n int) {
	if w.err == nil {
		w.err = w.enc.EncodeArrayLen(n)
	}
}

func (w *writer) uint(v uint64) {
	if w.err == nil {
		w.err = w.enc.EncodeUint(v)
	}
}

func (w *writer) int(v int64) {
	if w.err == nil {
		w.err = w.enc.EncodeInt(v)
	}
}

func (w *writer) str(s string) {
	if w.err == nil {
		w.err = w.enc.EncodeString(s)
	}
}

func (w *writer) bool(b bool) {
	if w.err == nil {
		w.err = w.enc.EncodeBool(b)
	}
}

func (w *writer) digests(ds []endpointstate.Digest) {
	w.arrayLen(len(ds))
	for _, d := range ds {
		w.arrayLen(3)
		w.str(d.Endpoint)
		w.int(d.Generation)
		w.int(d.MaxVersion)
	}
}

func (w *writer) deltas(ds []endpointstate.Delta) {
	w.arrayLen(len(ds))
	for i := range ds {
		w.delta(&ds[i])
	}
}

func (w *writer) delta(d *endpointstate.Delta) {
	w.arrayLen(7)
	w.str(d.Endpoint)
	w.int(d.Generation)
	w.int(d.HeartBeat)
	w.int(d.GCVersion)
	w.bool(d.Reset)
	w.arrayLen(len(d.States))
	for _, kv := range d.States {
		w.arrayLen(4)
		w.str(kv.Key)
		w.str(kv.Value)
		w.int(kv.Version)
		w.bool(kv.Deleted)
	}
	w.int(d.FromVersion)
}
