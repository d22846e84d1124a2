package messaging

import (
	"encoding/binary"
	"fmt"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// The lean encoding is the wire format of a connection (protocol version
// 2): a stateful, per-connection, per-direction encoding in which endpoint
// IDs are interned, generations travel only when they change and versions
// travel as varint deltas from the last value this direction of this
// connection carried for the endpoint. docs/protocol.md documents it byte
// by byte. Frames on one connection arrive in order and a new connection
// starts fresh on both sides, so the two ends' tables never disagree: an
// [Encoder] runs in a connection's writer, right before the write, and a
// [Decoder] in its reader; any error closes the connection.

// Bounds of one direction's intern table, protocol constants that both
// ends apply identically: an endpoint met when the table holds
// maxInterned IDs, or whose ID would take the table's strings over
// maxInternedBytes, travels inline, uninterned.
const (
	maxInterned      = 16384
	maxInternedBytes = 512 << 10
)

// Frame header bits (the byte after the type).
const (
	hdrEnvelope = 1 << 0 // cluster, from and addr follow
	hdrKnown    = hdrEnvelope
)

// Endpoint reference codes: 0 interns a new ID, 1 carries one inline
// (both spelled out as the length of the prefix shared with the last ID
// the frame spelled out, and the rest), k >= 2 names interned entry k-2.
const (
	refNew    = 0
	refInline = 1
	refBase   = 2
)

// Delta flag bits.
const (
	dfGen      = 1 << 0 // a zigzag generation delta follows
	dfReset    = 1 << 1
	dfGC       = 1 << 2 // a zigzag GC-version delta follows
	dfStates   = 1 << 3 // a state count and states follow
	dfHBDown   = 1 << 4 // the heartbeat is below the last version
	dfFromUp   = 1 << 5 // FromVersion is above the heartbeat
	deltaFlags = dfGen | dfReset | dfGC | dfStates | dfHBDown | dfFromUp
)

// entry is what one direction of a connection last carried for an
// endpoint.
type entry struct {
	id           string
	gen, ver, gc int64
}

// Encoder encodes envelopes for one direction of one connection in the
// lean encoding. Frames must be written in the order they are encoded,
// every one of them: an encoded frame that is not written leaves the
// peer's [Decoder] behind, so the connection must then close. An Encoder
// is not safe for concurrent use; the connection's writer owns it.
type Encoder struct {
	codec   *Codec
	index   map[string]int // interned ID → entry index
	entries []entry
	bytes   int // interned ID bytes
	last    *Envelope
	sp      spelled // within the frame being encoded
	buf     []byte
	// frames counts the frames encoded; broken is set by a failed
	// encoding, which may have changed the tables: such an Encoder is
	// never resumed on another connection (see [codecSession]).
	frames uint64
	broken bool
	// fresh and slow are FreshSize's scratch: what it keeps while it
	// sizes a frame, and the Encoder it encodes the frames it cannot size
	// on.
	fresh freshSizer
	slow  *Encoder
}

// spelled is the endpoint a frame last spelled out in full (a new or an
// inline reference): the next one spelled out shares a prefix with its ID
// and starts from its generation and versions, which are close to its own
// in a cluster of similar names started together.
type spelled struct {
	id     string
	idx    int    // its interned entry, or -1
	inline *entry // its scratch entry when inline
}

// base returns the values a newly spelled-out endpoint starts from.
func (s *spelled) base(entries []entry) entry {
	switch {
	case s.idx >= 0:
		return entries[s.idx]
	case s.inline != nil:
		return *s.inline
	}
	return entry{}
}

// sharedPrefix returns the length of the longest common prefix of a and b.
func sharedPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// NewEncoder returns an Encoder with empty tables, for a new connection.
func (c *Codec) NewEncoder() *Encoder {
	return &Encoder{codec: c, index: make(map[string]int)}
}

// Reset empties the Encoder's tables, as for a new connection, keeping
// their memory: a caller that measures fresh-connection frames (the
// simulator) resets one Encoder rather than making one per frame.
func (enc *Encoder) Reset() {
	clear(enc.index)
	enc.entries = enc.entries[:0]
	enc.bytes, enc.last = 0, nil
	enc.frames, enc.broken = 0, false
}

// Encode appends e's lean encoding to a fresh slice and records what it
// carried. It fails, leaving the Encoder unusable for this connection
// (the caller closes it), for a message of an unknown type or a frame over
// the codec's maximum frame size.
func (enc *Encoder) Encode(e *Envelope) ([]byte, error) {
	b, err := enc.encode(e)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// Size is Encode without the copy: it encodes e into the Encoder's own
// buffer, records what it carried exactly as Encode does, and returns the
// frame's length, len(Encode(e)) for the same tables. For a caller that
// counts bytes and hands the envelope over as is; [Encoder.FreshSize]
// sizes a fresh connection's first frame faster, without encoding it.
func (enc *Encoder) Size(e *Envelope) (int, error) {
	b, err := enc.encode(e)
	return len(b), err
}

// encode encodes e into enc.buf and returns it.
//
// The lengths this file writes (the header, an ID's reference or
// spelling, a digest, a delta and its states) are counted again, without
// writing, by freshSizer (lean_size.go): a change to the encoding here
// changes it there too (TestLeanFreshSize compares the two).
func (enc *Encoder) encode(e *Envelope) ([]byte, error) {
	if e.Message == nil {
		return nil, fmt.Errorf("encode: nil message")
	}
	b := enc.buf[:0]
	enc.sp = spelled{idx: -1}
	b = append(b, byte(e.Message.Type()))
	if enc.last != nil && enc.last.Cluster == e.Cluster && enc.last.From == e.From && enc.last.Addr == e.Addr {
		b = append(b, 0)
	} else {
		b = append(b, hdrEnvelope)
		b = appendStr(b, e.Cluster)
		b = appendStr(b, e.From)
		b = appendStr(b, e.Addr)
		enc.last = &Envelope{Cluster: e.Cluster, From: e.From, Addr: e.Addr}
	}
	var err error
	if b, err = enc.body(b, e.Message); err != nil {
		enc.broken = true
		return nil, err
	}
	enc.buf = b
	if len(b) > enc.codec.maxFrame {
		enc.broken = true
		return nil, fmt.Errorf("encode %s: %w: %d bytes, limit %d", e.Message.Type(), ErrFrameTooLarge, len(b), enc.codec.maxFrame)
	}
	enc.frames++
	return b, nil
}

func (enc *Encoder) body(b []byte, m Message) ([]byte, error) {
	switch m := m.(type) {
	case *Syn:
		b = enc.digests(b, m.Digests)
	case *NumberedSyn:
		b = enc.digests(b, m.Digests)
	case *Ack:
		b = enc.digests(b, m.Requests)
		b = enc.deltas(b, m.Deltas)
	case *NumberedAck:
		b = enc.digests(b, m.Requests)
		b = enc.deltas(b, m.Deltas)
	case *Ack2:
		b = enc.deltas(b, m.Deltas)
	case *Shutdown:
		b = enc.delta(b, &m.State)
	case *Echo:
		b = binary.AppendUvarint(b, m.Nonce)
	case *EchoReply:
		b = binary.AppendUvarint(b, m.Nonce)
		b = binary.AppendVarint(b, m.Generation)
	case *ShadowSyn:
	case *ShadowAck:
		b = enc.deltas(b, m.Deltas)
	case *Push:
		b = enc.deltas(b, m.Deltas)
	default:
		return nil, fmt.Errorf("encode: %w: %T", ErrUnknownType, m)
	}
	return b, nil
}

// ref appends the reference to endpoint id and returns the entry it
// refers to (a scratch entry for an inline ID).
func (enc *Encoder) ref(b []byte, id string) ([]byte, *entry) {
	if i, ok := enc.index[id]; ok {
		return binary.AppendUvarint(b, uint64(i+refBase)), &enc.entries[i]
	}
	base := enc.sp.base(enc.entries)
	code := uint64(refNew)
	inline := len(enc.entries) >= maxInterned || enc.bytes+len(id) > maxInternedBytes
	if inline {
		code = refInline
	}
	shared := sharedPrefix(enc.sp.id, id)
	b = binary.AppendUvarint(b, code)
	b = binary.AppendUvarint(b, uint64(shared))
	b = appendStr(b, id[shared:])
	if inline {
		// Only an inline ID needs an entry of its own on the heap: an
		// interned one goes into entries (a local the scratch entry's
		// address escapes from would be allocated for every ID).
		e := &entry{id: id, gen: base.gen, ver: base.ver, gc: base.gc}
		enc.sp = spelled{id: id, idx: -1, inline: e}
		return b, e
	}
	enc.index[id] = len(enc.entries)
	enc.entries = append(enc.entries, entry{id: id, gen: base.gen, ver: base.ver, gc: base.gc})
	enc.bytes += len(id)
	enc.sp = spelled{id: id, idx: len(enc.entries) - 1}
	return b, &enc.entries[len(enc.entries)-1]
}

func (enc *Encoder) digests(b []byte, ds []endpointstate.Digest) []byte {
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for _, d := range ds {
		var e *entry
		b, e = enc.ref(b, d.Endpoint)
		b = appendDigest(b, e, d.Generation, d.MaxVersion)
	}
	return b
}

// appendDigest appends a digest's generation and version relative to e,
// and records them in e. The common case, same generation and a version
// at or above the last one (below 2⁶²), is one uvarint: (version − last)
// << 1. Otherwise it is the uvarint 1 followed by the zigzag varints
// version − last and generation − last generation (wrapping arithmetic,
// on both ends).
func appendDigest(b []byte, e *entry, gen, ver int64) []byte {
	dv := ver - e.ver
	if gen == e.gen && dv >= 0 && dv < 1<<62 {
		b = binary.AppendUvarint(b, uint64(dv)<<1)
	} else {
		b = append(b, digestFull)
		b = binary.AppendVarint(b, dv)
		b = binary.AppendVarint(b, gen-e.gen)
	}
	e.gen, e.ver = gen, ver
	return b
}

func (enc *Encoder) deltas(b []byte, ds []endpointstate.Delta) []byte {
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for i := range ds {
		b = enc.delta(b, &ds[i])
	}
	return b
}

// delta appends d: the reference, a flags byte, then the optional
// generation delta, the heartbeat's distance from the last version, the
// FromVersion's distance from the heartbeat, the optional GC-version
// delta and the optional states.
func (enc *Encoder) delta(b []byte, d *endpointstate.Delta) []byte {
	b, e := enc.ref(b, d.Endpoint)
	var flags byte
	if d.Generation != e.gen {
		flags |= dfGen
	}
	if d.Reset {
		flags |= dfReset
	}
	if d.GCVersion != e.gc {
		flags |= dfGC
	}
	if len(d.States) > 0 {
		flags |= dfStates
	}
	hb := d.HeartBeat - e.ver
	if hb < 0 {
		flags |= dfHBDown
		hb = -hb
	}
	from := d.HeartBeat - d.FromVersion
	if from < 0 {
		flags |= dfFromUp
		from = -from
	}
	b = append(b, flags)
	if flags&dfGen != 0 {
		b = binary.AppendVarint(b, d.Generation-e.gen)
	}
	b = binary.AppendUvarint(b, uint64(hb))
	b = binary.AppendUvarint(b, uint64(from))
	if flags&dfGC != 0 {
		b = binary.AppendVarint(b, d.GCVersion-e.gc)
	}
	if flags&dfStates != 0 {
		b = binary.AppendUvarint(b, uint64(len(d.States)))
		for i := range d.States {
			kv := &d.States[i]
			b = appendStr(b, kv.Key)
			b = appendStr(b, kv.Value)
			b = binary.AppendVarint(b, kv.Version-d.FromVersion)
			if kv.Deleted {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	}
	e.gen, e.ver, e.gc = d.Generation, d.MaxVersion(), d.GCVersion
	return b
}

// digestFull marks a digest whose generation changed or whose version
// went down or jumped by 2⁶² or more.
const digestFull = 1

// appendStr appends s as a uvarint length and its bytes.
func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Upper bounds of the lean encoding's parts, in bytes: a uvarint or
// varint takes at most binary.MaxVarintLen64.
const (
	vb             = binary.MaxVarintLen64
	leanRefBound   = 1 + 2*vb        // reference code, shared prefix and suffix length; plus the ID
	leanDigestRest = 1 + 2*vb        // version code, version and generation
	leanDeltaRest  = 1 + 4*vb + vb   // flags, four numbers, state count
	leanStateRest  = 2*vb + vb + 1   // key and value lengths, version, deleted
	leanHeader     = 2 + 3*vb + 2*vb // type, header, three lengths, counts
)

// SizeBound returns an upper bound on the size of e's lean encoding,
// whatever the tables hold, without encoding it: transports count a queued
// envelope at this size.
func SizeBound(e *Envelope) int {
	n := leanHeader + len(e.Cluster) + len(e.From) + len(e.Addr) + 2*vb
	digests := func(ds []endpointstate.Digest) {
		for i := range ds {
			n += leanRefBound + len(ds[i].Endpoint) + leanDigestRest
		}
	}
	deltas := func(ds []endpointstate.Delta) {
		for i := range ds {
			n += leanRefBound + len(ds[i].Endpoint) + leanDeltaRest
			for j := range ds[i].States {
				n += leanStateRest + len(ds[i].States[j].Key) + len(ds[i].States[j].Value)
			}
		}
	}
	switch m := plain(e.Message).(type) {
	case *Syn:
		digests(m.Digests)
	case *Ack:
		digests(m.Requests)
		deltas(m.Deltas)
	case *Ack2:
		deltas(m.Deltas)
	case *Shutdown:
		deltas([]endpointstate.Delta{m.State})
	case *ShadowAck:
		deltas(m.Deltas)
	case *Push:
		deltas(m.Deltas)
	}
	return n
}
