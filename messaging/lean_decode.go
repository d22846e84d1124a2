package messaging

import (
	"encoding/binary"
	"fmt"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// Decoder decodes the lean frames of one direction of one connection, in
// the order they arrive. Any error leaves it out of step with the peer's
// [Encoder]: the caller must close the connection, and a new connection
// starts with a new Decoder. A Decoder is not safe for concurrent use; the
// connection's reader owns it. Its tables hold at most 16,384 IDs of
// 512 KiB in all.
type Decoder struct {
	codec   *Codec
	entries []entry
	bytes   int
	last    *Envelope // cluster, from and addr of the last frame
	// frames counts the frames decoded; broken is set by a frame that
	// did not decode, which may have changed the tables.
	frames uint64
	broken bool
}

// NewDecoder returns a Decoder with empty tables, for a new connection.
func (c *Codec) NewDecoder() *Decoder { return &Decoder{codec: c} }

// Smallest lean encodings of repeated elements, in bytes: a count larger
// than the bytes left divided by these is rejected before allocating.
const (
	minLeanDigest = 2 // reference, version
	minLeanDelta  = 4 // reference, flags, heartbeat, from
	minLeanState  = 4 // key and value lengths, version, deleted
)

// Decode decodes one lean frame. It checks the size first, every count
// against the bytes left before allocating, the sender and every digest
// against the codec's limits; deltas are checked for their shape only, as
// [Codec.Decode] does. Any problem is an error wrapping
// [ErrFrameTooLarge], [ErrUnknownType] or [ErrMalformed]; Decode never
// panics on any input. The tables are updated as the frame is read, so
// after an error the Decoder must not be used again.
func (dec *Decoder) Decode(payload []byte) (*Envelope, error) {
	if len(payload) > dec.codec.maxFrame {
		dec.broken = true
		return nil, fmt.Errorf("decode: %w: %d bytes, limit %d", ErrFrameTooLarge, len(payload), dec.codec.maxFrame)
	}
	r := &leanReader{b: payload, dec: dec, limits: dec.codec.limits, sp: spelled{idx: -1}}
	t := Type(r.byte("type"))
	hdr := r.byte("header")
	e := &Envelope{Version: ProtocolVersion}
	switch {
	case r.err != nil:
	case hdr&^hdrKnown != 0:
		r.fail("header bits %#x", hdr)
	case hdr&hdrEnvelope != 0:
		e.Cluster = r.str("cluster", r.limits.MaxKeyLength)
		e.From = r.str("sender id", r.limits.MaxKeyLength)
		e.Addr = r.str("sender address", MaxAddrLength)
		if r.err == nil {
			if err := r.limits.CheckEndpoint(e.From); err != nil {
				dec.broken = true
				return nil, fmt.Errorf("decode: %w: sender: %w", ErrMalformed, err)
			}
		}
	case dec.last == nil:
		r.fail("first frame without its envelope")
	default:
		e.Cluster, e.From, e.Addr = dec.last.Cluster, dec.last.From, dec.last.Addr
	}
	if r.err == nil {
		e.Message = r.body(t)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		dec.broken = true
		return nil, fmt.Errorf("decode %s: %w", t, r.err)
	}
	if hdr&hdrEnvelope != 0 {
		dec.last = &Envelope{Cluster: e.Cluster, From: e.From, Addr: e.Addr}
	}
	dec.frames++
	return e, nil
}

// leanReader reads a lean frame with bounds checks; the first error
// sticks.
type leanReader struct {
	b      []byte
	dec    *Decoder
	limits endpointstate.Limits
	sp     spelled // the endpoint the frame last spelled out
	err    error
}

func (r *leanReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *leanReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("%s: end of frame", what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *leanReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *leanReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of elements of at least elemSize bytes each that
// fit in the bytes left.
func (r *leanReader) count(what string, elemSize int) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(len(r.b)/elemSize) {
		r.fail("%s: count %d does not fit the %d bytes left", what, n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *leanReader) str(what string, max int) string {
	n := r.uvarint(what)
	switch {
	case r.err != nil:
		return ""
	case n > uint64(len(r.b)):
		r.fail("%s: length %d exceeds the %d bytes left", what, n, len(r.b))
	case n > uint64(max):
		r.fail("%s: %d bytes, limit %d", what, n, max)
	default:
		s := string(r.b[:n])
		r.b = r.b[n:]
		return s
	}
	return ""
}

func (r *leanReader) body(t Type) Message {
	switch t {
	case TypeSyn:
		return &Syn{Digests: r.digests()}
	case TypeAck:
		m := &Ack{Requests: r.digests()}
		m.Deltas = r.deltas()
		return m
	case TypeAck2:
		return &Ack2{Deltas: r.deltas()}
	case TypeShutdown:
		return &Shutdown{State: r.delta()}
	case TypeEcho:
		return &Echo{Nonce: r.uvarint("nonce")}
	case TypeEchoReply:
		m := &EchoReply{Nonce: r.uvarint("nonce")}
		m.Generation = r.varint("generation")
		return m
	case TypeShadowSyn:
		return &ShadowSyn{}
	case TypeShadowAck:
		return &ShadowAck{Deltas: r.deltas()}
	case TypePush:
		return &Push{Deltas: r.deltas()}
	}
	r.err = fmt.Errorf("%w: %d", ErrUnknownType, uint8(t))
	return nil
}

// ref reads an endpoint reference and returns its entry: an interned
// one, a new one it interns, or a scratch entry for an inline ID.
func (r *leanReader) ref(what string, max int) *entry {
	code := r.uvarint(what)
	dec := r.dec
	switch {
	case r.err != nil:
		return &entry{}
	case code == refInline || code == refNew:
		id := r.spelled(what, max)
		if r.err != nil {
			return &entry{}
		}
		base := r.sp.base(dec.entries)
		e := entry{id: id, gen: base.gen, ver: base.ver, gc: base.gc}
		if code == refInline {
			r.sp = spelled{id: id, idx: -1, inline: &e}
			return &e
		}
		if len(dec.entries) >= maxInterned || dec.bytes+len(id) > maxInternedBytes {
			r.fail("%s: intern table full", what)
			return &entry{}
		}
		dec.entries = append(dec.entries, e)
		dec.bytes += len(id)
		r.sp = spelled{id: id, idx: len(dec.entries) - 1}
		return &dec.entries[len(dec.entries)-1]
	case code-refBase >= uint64(len(dec.entries)):
		r.fail("%s: reference %d to an unknown entry", what, code-refBase)
		return &entry{}
	}
	return &dec.entries[code-refBase]
}

// spelled reads an ID spelled out as the length of the prefix it shares
// with the last one the frame spelled out, and the rest.
func (r *leanReader) spelled(what string, max int) string {
	shared := r.uvarint(what)
	switch {
	case r.err != nil:
	case shared > uint64(len(r.sp.id)):
		r.fail("%s: shares %d bytes with an ID of %d", what, shared, len(r.sp.id))
	case shared > uint64(max):
		r.fail("%s: %d bytes, limit %d", what, shared, max)
	}
	if r.err != nil {
		return ""
	}
	rest := r.str(what, max-int(shared))
	if r.err != nil {
		return ""
	}
	return r.sp.id[:shared] + rest
}

func (r *leanReader) digests() []endpointstate.Digest {
	n := r.count("digests", minLeanDigest)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]endpointstate.Digest, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		e := r.ref("digest endpoint", r.limits.MaxKeyLength)
		u := r.uvarint("digest version")
		gen, ver := e.gen, e.ver
		switch {
		case u&1 == 0:
			ver += int64(u >> 1)
		case u == digestFull:
			ver += r.varint("digest version")
			gen += r.varint("digest generation")
		default:
			r.fail("digest %d: version code %d", i, u)
		}
		if r.err != nil {
			break
		}
		d := endpointstate.Digest{Endpoint: e.id, Generation: gen, MaxVersion: ver}
		if err := r.limits.CheckDigest(d); err != nil {
			r.err = fmt.Errorf("%w: digest %d: %w", ErrMalformed, i, err)
			break
		}
		e.gen, e.ver = gen, ver
		out = append(out, d)
	}
	return out
}

func (r *leanReader) deltas() []endpointstate.Delta {
	n := r.count("deltas", minLeanDelta)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]endpointstate.Delta, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.delta())
	}
	return out
}

// delta reads one delta's shape. Its strings are bounded by the frame,
// not by the per-endpoint limits, which Apply enforces per endpoint.
func (r *leanReader) delta() endpointstate.Delta {
	// A spelled-out ID is at most the previous one (its shared prefix) and
	// the bytes left.
	e := r.ref("delta endpoint", len(r.b)+len(r.sp.id))
	flags := r.byte("delta flags")
	if r.err == nil && flags&^deltaFlags != 0 {
		r.fail("delta flags %#x", flags)
	}
	if r.err != nil {
		return endpointstate.Delta{}
	}
	d := endpointstate.Delta{Endpoint: e.id, Generation: e.gen, GCVersion: e.gc, Reset: flags&dfReset != 0}
	if flags&dfGen != 0 {
		d.Generation += r.varint("delta generation")
	}
	hb := int64(r.uvarint("delta heartbeat"))
	if flags&dfHBDown != 0 {
		hb = -hb
	}
	d.HeartBeat = e.ver + hb
	from := int64(r.uvarint("delta from version"))
	if flags&dfFromUp != 0 {
		from = -from
	}
	d.FromVersion = d.HeartBeat - from
	if flags&dfGC != 0 {
		d.GCVersion += r.varint("delta gc version")
	}
	if flags&dfStates != 0 {
		n := r.count("delta states", minLeanState)
		if n > 0 && r.err == nil {
			d.States = make([]endpointstate.KeyValue, 0, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			kv := endpointstate.KeyValue{Key: r.str("key", len(r.b))}
			kv.Value = r.str("value", len(r.b))
			kv.Version = d.FromVersion + r.varint("version")
			switch r.byte("deleted") {
			case 0:
			case 1:
				kv.Deleted = true
			default:
				r.fail("state %d: deleted flag", i)
			}
			d.States = append(d.States, kv)
		}
		if n == 0 {
			r.fail("delta states: empty list flagged")
		}
	}
	if r.err == nil {
		e.gen, e.ver, e.gc = d.Generation, d.MaxVersion(), d.GCVersion
	}
	return d
}
