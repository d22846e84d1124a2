package messaging

import (
	"bytes"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// Decode decodes one envelope from payload (a frame's body). It checks the
// size first, then every count against the bytes left before allocating,
// then the envelope's sender and every digest against the codec's limits.
// Deltas are only checked for their shape here: whether one endpoint's
// delta is within the per-endpoint limits is [endpointstate.Map.Apply]'s
// call, per endpoint, so one bad endpoint never makes a whole message
// undeliverable. Any problem is an error wrapping [ErrFrameTooLarge],
// [ErrVersion], [ErrUnknownType] or [ErrMalformed]; Decode never panics on
// any input.
func (c *Codec) Decode(payload []byte) (*Envelope, error) {
	if len(payload) > c.maxFrame {
		return nil, fmt.Errorf("decode: %w: %d bytes, limit %d", ErrFrameTooLarge, len(payload), c.maxFrame)
	}
	br := bytes.NewReader(payload)
	r := &reader{dec: msgpack.NewDecoder(br), br: br, limits: c.limits}
	e, err := r.envelope()
	if err != nil {
		return nil, err
	}
	if br.Len() != 0 {
		return nil, fmt.Errorf("decode %s: %w: %d trailing bytes", e.Message.Type(), ErrMalformed, br.Len())
	}
	return e, nil
}

// reader decodes with bounds checks; the first error sticks.
type reader struct {
	dec    *msgpack.Decoder
	br     *bytes.Reader
	limits endpointstate.Limits
	err    error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// failWith records err, which stays matchable with errors.Is, as
// malformed.
func (r *reader) failWith(err error, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %w", ErrMalformed, fmt.Sprintf(format, args...), err)
	}
}

// Smallest encodings, in bytes, of the repeated elements: a count larger
// than the bytes left divided by these is rejected before anything is
// allocated.
const (
	minDigestSize = 5 // fixarray, 1-byte id, two fixints
	minDeltaSize  = 9 // fixarray, 1-byte id, four fixints, bool, fixarray
	minStateSize  = 6 // fixarray, 1-byte key, empty value, fixint, bool
	// maxSkipDepth bounds the nesting of fields a newer peer may append;
	// deeper input is malformed (it would cost stack, not information).
	maxSkipDepth = 4
)

// arrayLen reads an array header with at least min elements, each at least
// elemSize bytes, that fit in the bytes left.
func (r *reader) arrayLen(what string, min, elemSize int) int {
	if r.err != nil {
		return 0
	}
	n, err := r.dec.DecodeArrayLen()
	switch {
	case err != nil:
		r.fail("%s: %v", what, err)
	case n < min:
		r.fail("%s: %d fields, want at least %d", what, n, min)
	case n > r.br.Len()/elemSize:
		r.fail("%s: count %d does not fit the %d bytes left", what, n, r.br.Len())
	default:
		return n
	}
	return 0
}

// skip skips the n extra fields a newer peer may have appended.
func (r *reader) skip(n int) {
	for range n {
		if r.err != nil {
			return
		}
		r.skipValue(0)
	}
}

// skipValue skips one value, descending at most maxSkipDepth levels into
// arrays and maps.
func (r *reader) skipValue(depth int) {
	c, err := r.dec.PeekCode()
	if err != nil {
		r.fail("skip field: %v", err)
		return
	}
	var n int
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err = r.dec.DecodeArrayLen()
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err = r.dec.DecodeMapLen()
		n *= 2
	default:
		if err := r.dec.Skip(); err != nil {
			r.fail("skip field: %v", err)
		}
		return
	}
	switch {
	case err != nil:
		r.fail("skip field: %v", err)
	case depth >= maxSkipDepth:
		r.fail("skip field: nested deeper than %d", maxSkipDepth)
	case n < 0 || n > r.br.Len():
		r.fail("skip field: count %d exceeds the %d bytes left", n, r.br.Len())
	}
	for i := 0; i < n && r.err == nil; i++ {
		r.skipValue(depth + 1)
	}
}

func (r *reader) str(what string, max int) string {
	if r.err != nil {
		return ""
	}
	s, err := r.dec.DecodeString()
	switch {
	case err != nil:
		r.fail("%s: %v", what, err)
	case len(s) > max:
		r.fail("%s: %d bytes, limit %d", what, len(s), max)
	default:
		return s
	}
	return ""
}

func (r *reader) int(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, err := r.dec.DecodeInt64()
	if err != nil {
		r.fail("%s: %v", what, err)
	}
	return v
}

func (r *reader) uint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, err := r.dec.DecodeUint64()
	if err != nil {
		r.fail("%s: %v", what, err)
	}
	return v
}

func (r *reader) bool(what string) bool {
	if r.err != nil {
		return false
	}
	v, err := r.dec.DecodeBool()
	if err != nil {
		r.fail("%s: %v", what, err)
	}
	return v
}

func (r *reader) envelope() (*Envelope, error) {
	n := r.arrayLen("envelope", 6, 1)
	version := r.uint("version")
	if r.err == nil && version != uint64(ProtocolVersion) {
		return nil, fmt.Errorf("decode: %w: %d (this node speaks %d)", ErrVersion, version, ProtocolVersion)
	}
	e := &Envelope{Version: uint8(version)}
	e.Cluster = r.str("cluster", r.limits.MaxKeyLength)
	e.From = r.str("sender id", r.limits.MaxKeyLength)
	e.Addr = r.str("sender address", MaxAddrLength)
	t := Type(r.uint("type"))
	if r.err == nil {
		if err := r.limits.CheckEndpoint(e.From); err != nil {
			return nil, fmt.Errorf("decode: %w: sender: %w", ErrMalformed, err)
		}
	}
	e.Message = r.body(t)
	r.skip(n - 6)
	if r.err != nil {
		return nil, fmt.Errorf("decode %s: %w", t, r.err)
	}
	return e, nil
}

func (r *reader) body(t Type) Message {
	if r.err != nil {
		return nil
	}
	var m Message
	var fields int
	switch t {
	case TypeSyn:
		fields = r.arrayLen("syn", 1, 1)
		m = &Syn{Digests: r.digests()}
		fields--
	case TypeAck:
		fields = r.arrayLen("ack", 2, 1)
		m = &Ack{Requests: r.digests(), Deltas: r.deltas()}
		fields -= 2
	case TypeAck2:
		fields = r.arrayLen("ack2", 1, 1)
		m = &Ack2{Deltas: r.deltas()}
		fields--
	case TypeShutdown:
		fields = r.arrayLen("shutdown", 1, 1)
		m = &Shutdown{State: r.delta()}
		fields--
	case TypeEcho:
		fields = r.arrayLen("echo", 1, 1)
		m = &Echo{Nonce: r.uint("nonce")}
		fields--
	case TypeEchoReply:
		fields = r.arrayLen("echo reply", 2, 1)
		m = &EchoReply{Nonce: r.uint("nonce"), Generation: r.int("generation")}
		fields -= 2
	case TypeShadowSyn:
		fields = r.arrayLen("shadow syn", 0, 1)
		m = &ShadowSyn{}
	case TypeShadowAck:
		fields = r.arrayLen("shadow ack", 1, 1)
		m = &ShadowAck{Deltas: r.deltas()}
		fields--
	case TypePush:
		fields = r.arrayLen("push", 1, 1)
		m = &Push{Deltas: r.deltas()}
		fields--
	default:
		r.err = fmt.Errorf("%w: %d", ErrUnknownType, uint8(t))
		return nil
	}
	r.skip(fields)
	return m
}

func (r *reader) digests() []endpointstate.Digest {
	n := r.arrayLen("digests", 0, minDigestSize)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]endpointstate.Digest, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		f := r.arrayLen("digest", 3, 1)
		d := endpointstate.Digest{
			Endpoint:   r.str("digest endpoint", r.limits.MaxKeyLength),
			Generation: r.int("digest generation"),
			MaxVersion: r.int("digest version"),
		}
		r.skip(f - 3)
		if r.err == nil {
			if err := r.limits.CheckDigest(d); err != nil {
				r.failWith(err, "digest %d", i)
			}
		}
		out = append(out, d)
	}
	return out
}

func (r *reader) deltas() []endpointstate.Delta {
	n := r.arrayLen("deltas", 0, minDeltaSize)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]endpointstate.Delta, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.delta())
	}
	return out
}

// delta decodes one delta's shape. Its strings are bounded by the frame
// (arrayLen and the reader's bytes), not by the per-endpoint limits, which
// Apply enforces per endpoint.
func (r *reader) delta() endpointstate.Delta {
	f := r.arrayLen("delta", 7, 1)
	d := endpointstate.Delta{
		Endpoint:   r.str("delta endpoint", math.MaxInt),
		Generation: r.int("delta generation"),
		HeartBeat:  r.int("delta heartbeat"),
		GCVersion:  r.int("delta gc version"),
		Reset:      r.bool("delta reset"),
	}
	n := r.arrayLen("delta states", 0, minStateSize)
	if n > 0 && r.err == nil {
		d.States = make([]endpointstate.KeyValue, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		kf := r.arrayLen("state", 4, 1)
		kv := endpointstate.KeyValue{Key: r.str("key", math.MaxInt)}
		kv.Value = r.str("value", math.MaxInt)
		kv.Version = r.int("version")
		kv.Deleted = r.bool("deleted")
		r.skip(kf - 4)
		d.States = append(d.States, kv)
	}
	d.FromVersion = r.int("delta from version")
	r.skip(f - 7)
	return d
}
