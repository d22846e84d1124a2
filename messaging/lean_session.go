package messaging

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A codec session is the lean encoding's state of one connection, both
// directions, kept when the connection closes so that the next connection
// between the same two nodes can resume it instead of starting with empty
// tables (docs/protocol.md, "Codec sessions"). The tables are a
// deterministic function of the frames each direction carried, so two
// ends whose counts of frames encoded and decoded match hold the same
// tables.

// codecSession is a closed connection's codec state, packed.
type codecSession struct {
	// token names the session: chosen at random by the dialer of the
	// connection that started it, kept by every connection that resumes
	// it.
	token uint64
	// sent and received count the frames this end encoded and decoded.
	sent, received uint64
	// identity is the TLS peer's names (identityKey), "" without TLS: a
	// session resumes only with the peer that proved the same names.
	identity string
	// tables is both directions' tables, packed by packTables.
	tables []byte
}

// resumes reports whether an acceptor holding s resumes it for the offer
// o from the peer that proved identity: o names s, and the frames each
// end encoded are the frames the other decoded, so both ends' tables are
// the same function of the same frames.
func (s *codecSession) resumes(o *sessionOffer, identity string) bool {
	return o.resume != 0 && o.resume == s.token && o.sent == s.received && o.received == s.sent &&
		identity == s.identity
}

// size is what s counts against the session cache's bound: its bytes
// plus the cache's bookkeeping.
func (s *codecSession) size(peer string) int {
	return len(s.tables) + len(s.identity) + len(peer) + sessionOverhead
}

// sessionOverhead is a session's memory beyond its bytes: the struct, the
// cache's map entry and list element.
const sessionOverhead = 160

// packCodecSession packs enc and dec, which no goroutine uses any more, into a
// session named token.
func packCodecSession(token uint64, identity string, enc *Encoder, dec *Decoder) *codecSession {
	b := packTable(nil, enc.last, enc.entries)
	b = packTable(b, dec.last, dec.entries)
	return &codecSession{token: token, sent: enc.frames, received: dec.frames, identity: identity, tables: b}
}

// restore rebuilds the Encoder and Decoder that s was packed from.
func (s *codecSession) restore(c *Codec) (*Encoder, *Decoder, error) {
	enc, dec := c.NewEncoder(), c.NewDecoder()
	rest, err := unpackTable(s.tables, &enc.last, &enc.entries)
	if err == nil {
		rest, err = unpackTable(rest, &dec.last, &dec.entries)
	}
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%d trailing bytes", len(rest))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("restore codec session: %w", err)
	}
	for i, e := range enc.entries {
		enc.index[e.id] = i
		enc.bytes += len(e.id)
	}
	for _, e := range dec.entries {
		dec.bytes += len(e.id)
	}
	enc.frames, dec.frames = s.sent, s.received
	return enc, dec, nil
}

// packTable appends one direction's table: the last envelope (a flag
// byte, then cluster, from and addr), the entry count, and each entry as
// the length of the prefix its ID shares with the previous one, the rest
// of the ID, and zigzag deltas of generation, version and GC version from
// the previous entry's. Entries keep their order, which is their index.
func packTable(b []byte, last *Envelope, entries []entry) []byte {
	if last == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendStr(b, last.Cluster)
		b = appendStr(b, last.From)
		b = appendStr(b, last.Addr)
	}
	b = binary.AppendUvarint(b, uint64(len(entries)))
	var prev entry
	for _, e := range entries {
		shared := sharedPrefix(prev.id, e.id)
		b = binary.AppendUvarint(b, uint64(shared))
		b = appendStr(b, e.id[shared:])
		b = binary.AppendVarint(b, e.gen-prev.gen)
		b = binary.AppendVarint(b, e.ver-prev.ver)
		b = binary.AppendVarint(b, e.gc-prev.gc)
		prev = e
	}
	return b
}

// errPacked is wrapped by every packed table that does not unpack; only
// a bug makes one, since the transport packs them itself.
var errPacked = errors.New("bad packed table")

// unpackTable reads a table written by packTable and returns the bytes
// after it, reading with the lean decoder's bounds-checked reader.
func unpackTable(b []byte, last **Envelope, entries *[]entry) ([]byte, error) {
	r := &leanReader{b: b}
	if r.byte("flag") == 1 {
		var e Envelope
		e.Cluster = r.str("cluster", len(b))
		e.From = r.str("from", len(b))
		e.Addr = r.str("addr", len(b))
		*last = &e
	}
	n := r.count("entries", 1)
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", errPacked, r.err)
	}
	*entries = make([]entry, 0, n)
	var prev entry
	for range n {
		shared := r.uvarint("shared prefix")
		rest := r.str("id", len(b))
		if r.err == nil && shared > uint64(len(prev.id)) {
			r.fail("shared prefix %d longer than the previous ID", shared)
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: %w", errPacked, r.err)
		}
		e := entry{id: prev.id[:shared] + rest}
		e.gen = prev.gen + r.varint("generation")
		e.ver = prev.ver + r.varint("version")
		e.gc = prev.gc + r.varint("gc version")
		*entries = append(*entries, e)
		prev = e
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", errPacked, r.err)
	}
	return r.b, nil
}
