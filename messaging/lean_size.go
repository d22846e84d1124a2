package messaging

import (
	"fmt"
	"math/bits"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// FreshSize returns the length of e's lean frame as the first frame of a
// new connection, len(Encode(e)) on a new Encoder, without encoding it and
// without touching enc's tables: it only borrows the Encoder's scratch
// memory. For a caller that counts the bytes of fresh-connection frames
// and hands the envelopes over as they are (the simulator when it does
// not decode). It fails as Encode would: for a nil message, a message of
// an unknown type or a frame over the codec's maximum frame size.
//
// It counts the bytes rather than writing them, and tells a repeated
// endpoint by the number it comes with (NumberedSyn, NumberedAck,
// endpointstate.Delta.Number; numbers of one table, as in a simulation)
// rather than by hashing its ID. A frame with an endpoint that comes
// without its number, or with one that comes twice, is sized by encoding
// it on a scratch Encoder (Reset, then Size), as before.
func (enc *Encoder) FreshSize(e *Envelope) (int, error) {
	if e.Message == nil {
		return 0, fmt.Errorf("encode: nil message")
	}
	s := &enc.fresh
	s.start()
	n := 2 + strLen(e.Cluster) + strLen(e.From) + strLen(e.Addr) // type, header, envelope
	switch m := e.Message.(type) {
	case *NumberedSyn:
		n += s.digests(m.Digests, m.Numbers)
	case *NumberedAck:
		n += s.digests(m.Requests, m.RequestNumbers)
		n += s.deltas(m.Deltas)
	case *Ack2:
		n += s.deltas(m.Deltas)
	case *Push:
		n += s.deltas(m.Deltas)
	default:
		// The rarer messages, and Syns and Acks without numbers.
		s.mustEncode = true
	}
	s.clear()
	if s.mustEncode {
		return enc.slowSize(e)
	}
	if n > enc.codec.maxFrame {
		return 0, fmt.Errorf("encode %s: %w: %d bytes, limit %d", e.Message.Type(), ErrFrameTooLarge, n, enc.codec.maxFrame)
	}
	return n, nil
}

// slowSize sizes e by encoding it on a scratch Encoder with fresh tables.
func (enc *Encoder) slowSize(e *Envelope) (int, error) {
	if enc.slow == nil {
		enc.slow = enc.codec.NewEncoder()
	}
	enc.slow.Reset()
	return enc.slow.Size(e)
}

// maxSizedNumber bounds the endpoint numbers FreshSize tracks (its bit
// set grows to the largest): a larger one sends the frame to the scratch
// Encoder.
const maxSizedNumber = 1 << 24

// freshSizer is FreshSize's scratch state: what a new connection's
// Encoder would hold while it encodes the frame, reduced to what decides
// the frame's length.
type freshSizer struct {
	// seen has bit num set for every endpoint number (plus 1) the frame
	// met; words is how many of its words may have bits set.
	seen  []uint64
	words int
	// mustEncode is set when an endpoint came twice or without its
	// number, or the message is not one sized here: the frame must be
	// encoded to be sized.
	mustEncode bool
	// last is the endpoint the frame last spelled out (every endpoint,
	// in a frame without repeats) and what the tables then hold for it:
	// the next one starts from there. Whether an endpoint is interned or
	// travels inline changes neither its reference's length nor its
	// values, and a frame without repeats never refers back to one.
	last    string
	lastEnt entry
}

// start readies s for a frame.
func (s *freshSizer) start() {
	s.mustEncode = false
	s.last, s.lastEnt = "", entry{}
}

// clear forgets the numbers the frame met.
func (s *freshSizer) clear() {
	clear(s.seen[:s.words])
	s.words = 0
}

// ref returns the length of the reference to a new endpoint id whose
// number plus 1 is num, as the frame's first mention of it, and records
// that the frame met it; a repeat (or num 0) sets s.mustEncode instead.
func (s *freshSizer) ref(id string, num uint32) int {
	w, bit := int(num/64), uint64(1)<<(num%64)
	if num == 0 || num > maxSizedNumber || w < len(s.seen) && s.seen[w]&bit != 0 {
		s.mustEncode = true
		return 0
	}
	if w >= len(s.seen) {
		s.seen = append(s.seen, make([]uint64, w+1-len(s.seen))...)
	}
	s.seen[w] |= bit
	s.words = max(s.words, w+1)
	// Encoder.ref: code (new or inline, one byte), shared prefix, rest.
	shared := sharedPrefix(s.last, id)
	s.last = id
	return 1 + uvarintLen(uint64(shared)) + strLen(id[shared:])
}

// digests returns the length of ds as Encoder.digests appends them.
func (s *freshSizer) digests(ds []endpointstate.Digest, numbers []uint32) int {
	n := uvarintLen(uint64(len(ds)))
	if len(numbers) != len(ds) {
		s.mustEncode = s.mustEncode || len(ds) > 0
		return n
	}
	for k := range ds {
		d := &ds[k]
		n += s.ref(d.Endpoint, numbers[k])
		// appendDigest, against the last spelled-out endpoint's values.
		e := &s.lastEnt
		if dv := d.MaxVersion - e.ver; d.Generation == e.gen && dv >= 0 && dv < 1<<62 {
			n += uvarintLen(uint64(dv) << 1)
		} else {
			n += 1 + varintLen(dv) + varintLen(d.Generation-e.gen)
		}
		e.gen, e.ver = d.Generation, d.MaxVersion
	}
	return n
}

// deltas returns the length of ds as Encoder.deltas appends them.
func (s *freshSizer) deltas(ds []endpointstate.Delta) int {
	n := uvarintLen(uint64(len(ds)))
	for i := range ds {
		n += s.delta(&ds[i])
	}
	return n
}

// delta returns the length of d as Encoder.delta appends it.
func (s *freshSizer) delta(d *endpointstate.Delta) int {
	n := s.ref(d.Endpoint, d.Number) + 1 // and the flags
	e := &s.lastEnt
	if d.Generation != e.gen {
		n += varintLen(d.Generation - e.gen)
	}
	hb := d.HeartBeat - e.ver
	if hb < 0 {
		hb = -hb
	}
	from := d.HeartBeat - d.FromVersion
	if from < 0 {
		from = -from
	}
	n += uvarintLen(uint64(hb)) + uvarintLen(uint64(from))
	if d.GCVersion != e.gc {
		n += varintLen(d.GCVersion - e.gc)
	}
	maxVer := max(d.HeartBeat, d.GCVersion) // d.MaxVersion(), in the same pass
	if len(d.States) > 0 {
		n += uvarintLen(uint64(len(d.States)))
		for j := range d.States {
			kv := &d.States[j]
			n += strLen(kv.Key) + strLen(kv.Value) + varintLen(kv.Version-d.FromVersion) + 1
			maxVer = max(maxVer, kv.Version)
		}
	}
	e.gen, e.ver, e.gc = d.Generation, maxVer, d.GCVersion
	return n
}

// uvarintLen is the length of binary.AppendUvarint(nil, x).
func uvarintLen(x uint64) int {
	if x < 0x80 { // most lengths and distances
		return 1
	}
	return (bits.Len64(x) + 6) / 7
}

// varintLen is the length of binary.AppendVarint(nil, x).
func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

// strLen is the length of appendStr(nil, s).
func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }
