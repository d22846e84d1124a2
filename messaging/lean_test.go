package messaging

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// normalize makes a decoded and an encoded envelope comparable: the lean
// encoding does not tell a nil list from an empty one, and carries the
// version in the handshake, not in each frame.
func normalize(e *Envelope) *Envelope {
	c := *e
	c.Version = ProtocolVersion
	nd := func(ds []endpointstate.Digest) []endpointstate.Digest {
		if len(ds) == 0 {
			return nil
		}
		return ds
	}
	nl := func(ds []endpointstate.Delta) []endpointstate.Delta {
		if len(ds) == 0 {
			return nil
		}
		out := append([]endpointstate.Delta(nil), ds...)
		for i := range out {
			if len(out[i].States) == 0 {
				out[i].States = nil
			}
		}
		return out
	}
	switch m := e.Message.(type) {
	case *Syn:
		c.Message = &Syn{Digests: nd(m.Digests)}
	case *Ack:
		c.Message = &Ack{Requests: nd(m.Requests), Deltas: nl(m.Deltas)}
	case *Ack2:
		c.Message = &Ack2{Deltas: nl(m.Deltas)}
	case *Shutdown:
		c.Message = &Shutdown{State: nl([]endpointstate.Delta{m.State})[0]}
	case *ShadowAck:
		c.Message = &ShadowAck{Deltas: nl(m.Deltas)}
	case *Push:
		c.Message = &Push{Deltas: nl(m.Deltas)}
	}
	return &c
}

// genInt draws a number that is usually close to a small set of values,
// sometimes anywhere in int64: the deltas from the tables' last values
// then cover small, negative, huge and wrapping differences.
func genInt(t *rapid.T, label string) int64 {
	return rapid.OneOf(
		rapid.Int64Range(0, 3),
		rapid.Int64Range(1764244800, 1764244803),
		rapid.Int64Range(math.MaxInt64-2, math.MaxInt64),
		rapid.Int64(),
	).Draw(t, label)
}

func genDigests(t *rapid.T, ids []string, nonNegative bool) []endpointstate.Digest {
	n := rapid.IntRange(0, 6).Draw(t, "digests")
	out := make([]endpointstate.Digest, n)
	for i := range out {
		out[i] = endpointstate.Digest{Endpoint: rapid.SampledFrom(ids).Draw(t, "id"),
			Generation: genInt(t, "gen"), MaxVersion: genInt(t, "ver")}
		if nonNegative { // the decoder refuses negative digests
			out[i].Generation &= math.MaxInt64
			out[i].MaxVersion &= math.MaxInt64
		}
	}
	return out
}

func genDelta(t *rapid.T, ids []string) endpointstate.Delta {
	d := endpointstate.Delta{Endpoint: rapid.SampledFrom(ids).Draw(t, "id"), Generation: genInt(t, "gen"),
		HeartBeat: genInt(t, "hb"), GCVersion: genInt(t, "gc"), FromVersion: genInt(t, "from"),
		Reset: rapid.Bool().Draw(t, "reset")}
	for range rapid.IntRange(0, 3).Draw(t, "states") {
		d.States = append(d.States, endpointstate.KeyValue{Key: rapid.String().Draw(t, "key"),
			VersionedValue: endpointstate.VersionedValue{Value: rapid.String().Draw(t, "value"),
				Version: genInt(t, "version"), Deleted: rapid.Bool().Draw(t, "deleted")}})
	}
	return d
}

func genDeltas(t *rapid.T, ids []string) []endpointstate.Delta {
	out := make([]endpointstate.Delta, rapid.IntRange(0, 4).Draw(t, "deltas"))
	for i := range out {
		out[i] = genDelta(t, ids)
	}
	return out
}

func genEnvelope(t *rapid.T, ids []string) *Envelope {
	e := &Envelope{Version: ProtocolVersion,
		Cluster: rapid.SampledFrom([]string{"prod", "test"}).Draw(t, "cluster"),
		From:    rapid.SampledFrom(ids[:2]).Draw(t, "from"),
		Addr:    rapid.SampledFrom([]string{"10.0.0.1:7000", "[::1]:7001"}).Draw(t, "addr")}
	switch Type(rapid.IntRange(1, 9).Draw(t, "type")) {
	case TypeSyn:
		e.Message = &Syn{Digests: genDigests(t, ids, true)}
	case TypeAck:
		e.Message = &Ack{Requests: genDigests(t, ids, true), Deltas: genDeltas(t, ids)}
	case TypeAck2:
		e.Message = &Ack2{Deltas: genDeltas(t, ids)}
	case TypeShutdown:
		e.Message = &Shutdown{State: genDelta(t, ids)}
	case TypeEcho:
		e.Message = &Echo{Nonce: rapid.Uint64().Draw(t, "nonce")}
	case TypeEchoReply:
		e.Message = &EchoReply{Nonce: rapid.Uint64().Draw(t, "nonce"), Generation: genInt(t, "gen")}
	case TypeShadowSyn:
		e.Message = &ShadowSyn{}
	case TypeShadowAck:
		e.Message = &ShadowAck{Deltas: genDeltas(t, ids)}
	case TypePush:
		e.Message = &Push{Deltas: genDeltas(t, ids)}
	}
	return e
}

// TestLeanRoundTripProperty: any sequence of envelopes, encoded in order
// by one Encoder and decoded in order by one Decoder (one direction of
// one connection), comes out as it went in, whatever the tables held.
func TestLeanRoundTripProperty(t *testing.T) {
	c := testCodec(t)
	rapid.Check(t, func(t *rapid.T) {
		ids := []string{"node-1", "node-2", "node-3", "a-much-longer-node-id.example.com", "é"}
		enc, dec := c.NewEncoder(), c.NewDecoder()
		for i := range rapid.IntRange(1, 20).Draw(t, "frames") {
			e := genEnvelope(t, ids)
			b, err := enc.Encode(e)
			require.NoError(t, err, "frame %d", i)
			got, err := dec.Decode(b)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, normalize(e), normalize(got), "frame %d", i)
		}
	})
}

// TestLeanSizeAndReset: Size returns len(Encode) for the same tables and
// records what it carried as Encode does, and Reset brings an Encoder back
// to a new connection's tables: over any sequence of envelopes, one
// Encoder that Sizes, one that Encodes and one reset before every frame
// against a new Encoder per frame agree on every frame's length, and the
// reset one's frames are the new one's, byte for byte.
func TestLeanSizeAndReset(t *testing.T) {
	c := testCodec(t)
	rapid.Check(t, func(t *rapid.T) {
		ids := []string{"node-1", "node-2", "node-3", "a-much-longer-node-id.example.com", "é"}
		sizer, enc, reused := c.NewEncoder(), c.NewEncoder(), c.NewEncoder()
		for i := range rapid.IntRange(1, 20).Draw(t, "frames") {
			e := genEnvelope(t, ids)
			b, err := enc.Encode(e)
			require.NoError(t, err, "frame %d", i)
			n, err := sizer.Size(e)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, len(b), n, "frame %d: Size against Encode on warm tables", i)

			fresh, err := c.NewEncoder().Encode(e)
			require.NoError(t, err, "frame %d", i)
			reused.Reset()
			again, err := reused.Encode(e)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, fresh, again, "frame %d: a reset Encoder against a new one", i)
		}
	})
}

// TestLeanSizeByNumber: a Syn or an Ack that carries its endpoints'
// numbers (NumberedSyn, NumberedAck, Delta.Number: those of one table,
// some missing, renumbered now and then between frames) is sized as
// len(Encode) of the same frame without numbers, on warm tables as after
// a Reset: the numbers never reach the wire; Encode of the NumberedSyn is
// the Syn's, byte for byte.
func TestLeanSizeByNumber(t *testing.T) {
	c := testCodec(t)
	rapid.Check(t, func(t *rapid.T) {
		ids := []string{"node-1", "node-2", "node-3", "a-much-longer-node-id.example.com", "é"}
		// A table's number, plus 1; between frames the endpoints may be
		// renumbered (removed and added again).
		offset := uint32(7)
		number := func(id string) uint32 { return uint32(slices.Index(ids, id)) + offset }
		sizer, enc := c.NewEncoder(), c.NewEncoder()
		for i := range rapid.IntRange(1, 30).Draw(t, "frames") {
			if rapid.IntRange(0, 1).Draw(t, "reset") == 0 {
				sizer.Reset()
				enc.Reset()
			}
			if rapid.IntRange(0, 3).Draw(t, "renumber") == 0 {
				offset = uint32(rapid.IntRange(1, 20).Draw(t, "offset"))
			}
			e := genEnvelope(t, ids)
			b, err := enc.Encode(e)
			require.NoError(t, err, "frame %d", i)
			if syn, ok := e.Message.(*Syn); ok {
				numbered := &NumberedSyn{Syn: *syn, Numbers: make([]uint32, len(syn.Digests))}
				for k, d := range syn.Digests {
					if rapid.IntRange(0, 3).Draw(t, "numbered") > 0 {
						numbered.Numbers[k] = number(d.Endpoint)
					}
				}
				with := *e
				with.Message = numbered
				e = &with
			}
			if ack, ok := e.Message.(*Ack); ok {
				numbered := &NumberedAck{Ack: *ack, RequestNumbers: make([]uint32, len(ack.Requests))}
				for k, d := range ack.Requests {
					if rapid.IntRange(0, 3).Draw(t, "request numbered") > 0 {
						numbered.RequestNumbers[k] = number(d.Endpoint)
					}
				}
				for k := range numbered.Deltas {
					if rapid.IntRange(0, 3).Draw(t, "delta numbered") > 0 {
						numbered.Deltas[k].Number = number(numbered.Deltas[k].Endpoint)
					}
				}
				with := *e
				with.Message = numbered
				e = &with
			}
			n, err := sizer.Size(e)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, len(b), n, "frame %d: Size by number against Encode", i)
			if _, ok := e.Message.(*NumberedSyn); ok {
				plain, err := c.NewEncoder().Encode(e)
				require.NoError(t, err, "frame %d", i)
				fresh := c.NewEncoder()
				e.Message = &e.Message.(*NumberedSyn).Syn
				want, err := fresh.Encode(e)
				require.NoError(t, err, "frame %d", i)
				assert.Equal(t, want, plain, "frame %d: a NumberedSyn encodes as its Syn", i)
			}
		}
	})
}

// TestLeanStateIsPerDirection: an Encoder's frames mean nothing to a
// fresh Decoder once they refer to interned IDs: a new connection must
// start both ends fresh, which the transports do (TestTCPLeanFreshState).
func TestLeanStateIsPerDirection(t *testing.T) {
	c := testCodec(t)
	enc := c.NewEncoder()
	syn := envelope(&Syn{Digests: []endpointstate.Digest{{Endpoint: "node-2", Generation: 5, MaxVersion: 9}}})
	_, err := enc.Encode(syn)
	require.NoError(t, err)
	second, err := enc.Encode(syn)
	require.NoError(t, err)
	_, err = c.NewDecoder().Decode(second)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "first frame without its envelope")
}

// TestLeanTableBounds: past 16,384 IDs, or 512 KiB of ID bytes, endpoints
// travel inline on both ends, and the frames still round-trip; a frame
// that interns beyond the bound is malformed.
func TestLeanTableBounds(t *testing.T) {
	c := testCodec(t)
	for _, tc := range []struct {
		name string
		n    int
		id   func(i int) string
	}{
		{"count", maxInterned + 10, func(i int) string { return fmt.Sprintf("n%d", i) }},
		{"bytes", maxInternedBytes/200 + 10, func(i int) string { return fmt.Sprintf("%0200d", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, dec := c.NewEncoder(), c.NewDecoder()
			ds := make([]endpointstate.Digest, tc.n)
			for i := range ds {
				ds[i] = endpointstate.Digest{Endpoint: tc.id(i), Generation: 1, MaxVersion: int64(i)}
			}
			for round := range 2 {
				for i := range ds {
					ds[i].MaxVersion++
				}
				e := envelope(&Syn{Digests: ds})
				b, err := enc.Encode(e)
				require.NoError(t, err)
				got, err := dec.Decode(b)
				require.NoError(t, err, "round %d", round)
				assert.Equal(t, e.Message, got.Message, "round %d", round)
			}
			assert.LessOrEqual(t, len(dec.entries), maxInterned)
			assert.LessOrEqual(t, dec.bytes, maxInternedBytes)
			assert.Equal(t, len(enc.entries), len(dec.entries), "both ends bounded alike")
		})
	}
	// A peer interning past the bound is refused.
	dec := c.NewDecoder()
	dec.entries = make([]entry, maxInterned)
	b := append([]byte{byte(TypeSyn), hdrEnvelope}, appendStr(appendStr(appendStr(nil, "c"), "f"), "a:1")...)
	b = append(b, 1, refNew, 0)
	b = appendStr(b, "x")
	b = append(b, 0)
	_, err := dec.Decode(b)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "intern table full")
}

// TestLeanBadInput: every malformed lean frame is refused with an error
// naming what is wrong.
func TestLeanBadInput(t *testing.T) {
	c := testCodec(t)
	env := appendStr(appendStr(appendStr(nil, "prod"), "node-1"), "10.0.0.1:7000")
	frame := func(typ Type, body ...byte) []byte {
		return append(append([]byte{byte(typ), hdrEnvelope}, env...), body...)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		err     error
		msg     string
	}{
		{"empty", nil, ErrMalformed, "type"},
		{"no header", []byte{byte(TypeSyn)}, ErrMalformed, "header"},
		{"unknown header bit", []byte{byte(TypeSyn), 0x80}, ErrMalformed, "header bits"},
		{"unknown type", frame(99), ErrUnknownType, "99"},
		{"digest count beyond the frame", frame(TypeSyn, 0xff, 0xff, 0x03), ErrMalformed, "does not fit"},
		{"reference to an unknown entry", frame(TypeSyn, 1, 7, 0), ErrMalformed, "unknown entry"},
		{"prefix longer than the last ID", frame(TypeSyn, 1, refNew, 3, 1, 'e', 0), ErrMalformed, "shares 3 bytes"},
		{"digest id over the limit with its shared prefix", append(frame(TypeSyn, 2, refNew, 0, 1, 'e', 0, refNew, 1, 0x80, 0x02),
			bytes.Repeat([]byte{'x'}, 256)...), ErrMalformed, "digest endpoint: 256 bytes, limit 255"},
		{"bad version code", frame(TypeSyn, 1, refNew, 0, 1, 'e', 3), ErrMalformed, "version code"},
		{"negative digest", frame(TypeSyn, 1, refNew, 0, 1, 'e', digestFull, 1, 1), endpointstate.ErrInvalidVersion, "digest 0"},
		{"invalid utf8 digest id", frame(TypeSyn, 1, refNew, 0, 2, 0xc3, 0x28, 2), endpointstate.ErrInvalidEndpoint, "digest 0"},
		{"unknown delta flag", frame(TypeAck2, 1, refNew, 0, 1, 'e', 0x40, 0, 0), ErrMalformed, "delta flags"},
		{"states flagged, none sent", frame(TypeAck2, 1, refNew, 0, 1, 'e', dfStates, 0, 0, 0), ErrMalformed, "empty list"},
		{"deleted flag not 0 or 1", frame(TypeAck2, 1, refNew, 0, 1, 'e', dfStates, 0, 0, 1, 1, 'k', 0, 0, 2), ErrMalformed, "deleted"},
		{"truncated varint", frame(TypeEcho, 0x80), ErrMalformed, "varint"},
		{"trailing bytes", frame(TypeShadowSyn, 0), ErrMalformed, "trailing"},
		{"sender too long", append([]byte{byte(TypeShadowSyn), hdrEnvelope, 1, 'c', 0xff, 0x03}, make([]byte, 600)...), ErrMalformed, "sender id"},
		{"empty sender", []byte{byte(TypeShadowSyn), hdrEnvelope, 1, 'c', 0, 0}, endpointstate.ErrInvalidEndpoint, "sender"},
		{"too large", make([]byte, DefaultMaxFrameSize+1), ErrFrameTooLarge, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.NewDecoder().Decode(tc.payload)
			require.ErrorIs(t, err, tc.err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// steadyExchange returns the frames of n nodes' steady state as one
// connection carries them: a Syn of n digests, an Ack answering half of
// them with heartbeat deltas and requesting the other half, and the Ack2
// carrying those; every version moved by step since the last round on
// this connection.
func steadyExchange(n int, round, step int64) (syn *Syn, ack *Ack, ack2 *Ack2) {
	syn, ack, ack2 = &Syn{}, &Ack{}, &Ack2{}
	for i := range n {
		id := fmt.Sprintf("node-%d", i)
		gen := int64(1764244800 + i%7)
		ver := 1000 + round*step + int64(i%3)
		syn.Digests = append(syn.Digests, endpointstate.Digest{Endpoint: id, Generation: gen, MaxVersion: ver})
		d := endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: ver + 2, FromVersion: ver}
		if i%2 == 0 {
			ack.Deltas = append(ack.Deltas, d)
		} else {
			ack.Requests = append(ack.Requests, endpointstate.Digest{Endpoint: id, Generation: gen, MaxVersion: ver - 2})
			ack2.Deltas = append(ack2.Deltas, endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: ver, FromVersion: ver - 2})
		}
	}
	return syn, ack, ack2
}

// leanExchangeSizes encodes rounds of steady exchanges on one connection
// (the Syn and Ack2 one way, the Ack the other) and returns the bytes of
// the last round's Syn, Ack and Ack2.
func leanExchangeSizes(t testing.TB, n, rounds int, step int64) (syn, ack, ack2 int) {
	c := testCodec(t)
	out, back := c.NewEncoder(), c.NewEncoder()
	for r := range rounds {
		s, a, a2 := steadyExchange(n, int64(r), step)
		bs, err := out.Encode(envelope(s))
		require.NoError(t, err)
		ba, err := back.Encode(&Envelope{Cluster: "prod", From: "node-2", Addr: "10.0.0.2:7000", Message: a})
		require.NoError(t, err)
		b2, err := out.Encode(envelope(a2))
		require.NoError(t, err)
		syn, ack, ack2 = len(bs), len(ba), len(b2)
	}
	return syn, ack, ack2
}

// TestLeanSteadySize: in steady state a digest costs at most 3 bytes and
// a heartbeat delta at most 5 (node IDs of 6-8 bytes, versions moved by
// 40 since the connection last carried them), against about 17 and 13.5
// bytes in the plain encoding.
func TestLeanSteadySize(t *testing.T) {
	for _, n := range []int{64, 256} {
		fsyn, fack, fack2 := leanExchangeSizes(t, n, 1, 40)
		t.Logf("n=%d, fresh connection: syn %d B (%.2f B/digest), ack %d B, ack2 %d B", n, fsyn, float64(fsyn)/float64(n), fack, fack2)
		syn, ack, ack2 := leanExchangeSizes(t, n, 3, 40)
		perDigest := float64(syn-8) / float64(n)
		perDelta := float64(ack2-8) / float64(n/2)
		t.Logf("n=%d: syn %d B (%.2f B/digest), ack %d B, ack2 %d B (%.2f B/heartbeat delta)", n, syn, perDigest, ack, ack2, perDelta)
		assert.LessOrEqual(t, perDigest, 3.0, "n=%d", n)
		assert.LessOrEqual(t, perDelta, 5.0, "n=%d", n)
		assert.LessOrEqual(t, ack, n/2*3+n/2*5+8, "n=%d", n)
	}
}

// BenchmarkLeanSteady reports the steady-state bytes per digest (Syn)
// and per heartbeat delta (Ack2) of the lean encoding, for a connection
// that last carried the endpoints 32 versions ago (N = 64: each pair
// meets about every 32 s) or 128 ago (N = 256).
func BenchmarkLeanSteady(b *testing.B) {
	for _, tc := range []struct {
		n    int
		step int64
	}{{64, 32}, {256, 128}} {
		b.Run(fmt.Sprintf("nodes=%d", tc.n), func(b *testing.B) {
			c := testCodec(b)
			out, back := c.NewEncoder(), c.NewEncoder()
			var syn, ack, ack2 int
			round := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				s, a, a2 := steadyExchange(tc.n, round, tc.step)
				round++
				bs, _ := out.Encode(envelope(s))
				ba, _ := back.Encode(envelope(a))
				b2, _ := out.Encode(envelope(a2))
				syn, ack, ack2 = len(bs), len(ba), len(b2)
			}
			b.ReportMetric(float64(syn)/float64(tc.n), "B/digest")
			b.ReportMetric(float64(ack2)/float64(tc.n/2), "B/heartbeat")
			b.ReportMetric(float64(syn+ack+ack2), "B/exchange")
		})
	}
}

// leanGoldenFrames are the frames of TestGoldenLean: a Syn on a fresh
// connection, then the next Syn on it.
func leanGoldenFrames(t testing.TB) [][]byte {
	c := testCodec(t)
	enc := c.NewEncoder()
	var frames [][]byte
	for _, syn := range []*Syn{
		{Digests: []endpointstate.Digest{{Endpoint: "node-1", Generation: 1764244800, MaxVersion: 17}, {Endpoint: "node-2", Generation: 1764244801, MaxVersion: 3}}},
		{Digests: []endpointstate.Digest{{Endpoint: "node-1", Generation: 1764244800, MaxVersion: 40}, {Endpoint: "node-2", Generation: 1764244801, MaxVersion: 30}}},
	} {
		b, err := enc.Encode(envelope(syn))
		require.NoError(t, err)
		frames = append(frames, b)
	}
	ack2, err := enc.Encode(envelope(&Ack2{Deltas: []endpointstate.Delta{{Endpoint: "node-2", Generation: 1764244801, HeartBeat: 33, FromVersion: 30}}}))
	require.NoError(t, err)
	return append(frames, ack2)
}

// TestGoldenLean pins the bytes of two Syns and an Ack2 following each
// other on one connection; docs/protocol.md shows these dumps.
// Regenerate with HEARSAY_WRITE_GOLDEN=1.
func TestGoldenLean(t *testing.T) {
	var dump strings.Builder
	frames := leanGoldenFrames(t)
	for _, f := range frames {
		dump.WriteString(hex.Dump(f))
		dump.WriteString("\n")
	}
	path := filepath.Join("testdata", "lean.golden")
	if os.Getenv("HEARSAY_WRITE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(path, []byte(dump.String()), 0o644))
		writeLeanCorpus(t)
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), dump.String())
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	require.NoError(t, err)
	for i, f := range frames {
		assert.True(t, strings.Contains(string(doc), hex.Dump(f)), "docs/protocol.md must show lean frame %d:\n%s", i, hex.Dump(f))
	}
}

// leanStream frames a sequence of lean payloads as one byte stream, the
// input of FuzzLeanDecode.
func leanStream(frames [][]byte) []byte {
	var b bytes.Buffer
	for _, f := range frames {
		_ = WriteFrame(&b, f, DefaultMaxFrameSize)
	}
	return b.Bytes()
}

// leanSeeds are FuzzLeanDecode's seeds: the golden frames, a stream of
// one of every message type, and truncations.
func leanSeeds(t testing.TB) [][]byte {
	c := testCodec(t)
	enc := c.NewEncoder()
	var all [][]byte
	for _, m := range goldenMessages() {
		b, err := enc.Encode(envelope(m))
		require.NoError(t, err)
		all = append(all, b)
	}
	golden := leanStream(leanGoldenFrames(t))
	every := leanStream(all)
	return [][]byte{golden, every, golden[:len(golden)/2], every[:len(every)-3]}
}

// writeLeanCorpus writes FuzzLeanDecode's committed seed corpus.
func writeLeanCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzLeanDecode")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, s := range leanSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("stream-%d", i)), []byte(body), 0o644))
	}
}

// FuzzLeanDecode feeds a byte stream of frames to one Decoder, as a
// connection's reader does: no input panics, and the frames decoded
// before the first error re-encode, on a fresh connection, to frames that
// decode to the same envelopes.
func FuzzLeanDecode(f *testing.F) {
	c := testCodec(f)
	for _, s := range leanSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		dec := c.NewDecoder()
		r := bytes.NewReader(stream)
		var got []*Envelope
		for range 64 {
			p, err := ReadFrame(r, DefaultMaxFrameSize, nil)
			if err != nil {
				break
			}
			e, err := dec.Decode(p)
			if err != nil {
				break
			}
			got = append(got, e)
		}
		enc, again := c.NewEncoder(), c.NewDecoder()
		for i, e := range got {
			b, err := enc.Encode(e)
			require.NoError(t, err, "frame %d", i)
			e2, err := again.Decode(b)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, normalize(e), normalize(e2), "frame %d", i)
		}
	})
}

// BenchmarkLeanSyn encodes and decodes a steady-state Syn of 1,000
// digests on a warm connection (every ID interned, versions moved by 40):
// the work a connection's writer and reader do per round.
func BenchmarkLeanSyn(b *testing.B) {
	c := testCodec(b)
	syn, _, _ := steadyExchange(1000, 0, 40)
	enc, dec := c.NewEncoder(), c.NewDecoder()
	first, err := enc.Encode(envelope(syn))
	require.NoError(b, err)
	_, err = dec.Decode(first)
	require.NoError(b, err)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range syn.Digests {
				syn.Digests[i].MaxVersion += 40
			}
			if _, err := enc.Encode(envelope(syn)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for i := range syn.Digests {
		syn.Digests[i].MaxVersion += 40
	}
	warm, err := c.NewEncoder().Encode(envelope(syn))
	require.NoError(b, err)
	warmDec := c.NewDecoder()
	_, err = warmDec.Decode(warm)
	require.NoError(b, err)
	steady, err := func() ([]byte, error) {
		e := c.NewEncoder()
		if _, err := e.Encode(envelope(syn)); err != nil {
			return nil, err
		}
		return e.Encode(envelope(syn)) // every digest: same version, 2 bytes
	}()
	require.NoError(b, err)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(steady)))
		for b.Loop() {
			if _, err := warmDec.Decode(steady); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLeanDeltaIDSharingPrefixAtFrameEnd: the last delta of a frame may
// spell out an ID sharing more bytes with the previous one than the frame
// has left (the shared prefix is not in the frame): it decodes. Found by
// BenchmarkSecureExchange, whose Acks of "node-00000".."node-00099" closed
// every connection as malformed.
func TestLeanDeltaIDSharingPrefixAtFrameEnd(t *testing.T) {
	c := testCodec(t)
	var deltas []endpointstate.Delta
	for i := range 100 {
		deltas = append(deltas, endpointstate.Delta{Endpoint: fmt.Sprintf("node-%05d", i), Generation: 1764244800, FromVersion: 100, HeartBeat: 101})
	}
	e := envelope(&Ack{Deltas: deltas})
	b, err := c.NewEncoder().Encode(e)
	require.NoError(t, err)
	got, err := c.NewDecoder().Decode(b)
	require.NoError(t, err)
	assert.Equal(t, normalize(e), normalize(got))
}
