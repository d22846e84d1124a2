package messaging

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hearsay-io/hearsay/endpointstate"
)

func testCodec(t testing.TB) *Codec {
	c, err := NewCodec(DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	return c
}

func envelope(m Message) *Envelope {
	return &Envelope{Version: ProtocolVersion, Cluster: "prod", From: "node-1", Addr: "10.0.0.1:7000", Message: m}
}

func sampleDelta() endpointstate.Delta {
	return endpointstate.Delta{
		Endpoint: "node-2", Generation: 1764244800, HeartBeat: 42, GCVersion: 3, Reset: true,
		States: []endpointstate.KeyValue{
			{Key: "hearsay.addr", VersionedValue: endpointstate.VersionedValue{Value: "10.0.0.2:7000", Version: 1}},
			{Key: "load", VersionedValue: endpointstate.VersionedValue{Value: "0.75", Version: 40}},
			{Key: "old", VersionedValue: endpointstate.VersionedValue{Version: 41, Deleted: true}},
		},
	}
}

// pushDelta is what a Push typically carries: one key's new version,
// above the version the receiver already holds.
func pushDelta() endpointstate.Delta {
	return endpointstate.Delta{
		Endpoint: "node-2", Generation: 1764244800, HeartBeat: 43, GCVersion: 3, FromVersion: 40,
		States: []endpointstate.KeyValue{{Key: "load", VersionedValue: endpointstate.VersionedValue{Value: "0.80", Version: 43}}},
	}
}

// goldenMessages is one message of each type; they seed the fuzzer and the
// round-trip tests.
func goldenMessages() []Message {
	d := sampleDelta()
	return []Message{
		&Syn{Digests: []endpointstate.Digest{{Endpoint: "node-1", Generation: 1764244800, MaxVersion: 17}, {Endpoint: "node-2", Generation: 1764244801, MaxVersion: 3}}},
		&Ack{Requests: []endpointstate.Digest{{Endpoint: "node-3", Generation: 1764244802}}, Deltas: []endpointstate.Delta{d}},
		&Ack2{Deltas: []endpointstate.Delta{d}},
		&Shutdown{State: d},
		&Echo{Nonce: 7},
		&EchoReply{Nonce: 7, Generation: 1764244800},
		&ShadowSyn{},
		&ShadowAck{Deltas: []endpointstate.Delta{d}},
		&Push{Deltas: []endpointstate.Delta{pushDelta()}},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	c := testCodec(t)
	for _, m := range goldenMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := c.Encode(envelope(m))
			require.NoError(t, err)
			got, err := c.Decode(b)
			require.NoError(t, err)
			assert.Equal(t, envelope(m), got)
		})
	}
}

// TestSizeBounds: the SizeBound helpers the gossiper uses to fill a frame
// are upper bounds of the real encoding.
func TestSizeBounds(t *testing.T) {
	c := testCodec(t)
	d := sampleDelta()
	ack := &Ack{Requests: []endpointstate.Digest{{Endpoint: "node-3", Generation: 1 << 40, MaxVersion: 1 << 50}}, Deltas: []endpointstate.Delta{d, d}}
	b, err := c.Encode(envelope(ack))
	require.NoError(t, err)
	bound := EnvelopeOverhead("prod", "node-1", "10.0.0.1:7000") + ack.Requests[0].SizeBound() + 2*d.SizeBound()
	assert.LessOrEqual(t, len(b), bound)

	limits := endpointstate.DefaultLimits()
	full := endpointstate.Delta{Endpoint: strings.Repeat("e", limits.MaxKeyLength), Generation: 1 << 62, HeartBeat: 1 << 62, GCVersion: 1 << 62, Reset: true}
	value := strings.Repeat("v", limits.MaxValueSize)
	for i := 0; len(full.States) < limits.MaxKeys && (i+1)*len(value) <= limits.MaxBytes-limits.MaxKeys*8; i++ {
		full.States = append(full.States, endpointstate.KeyValue{Key: fmt.Sprintf("k%06d", i), VersionedValue: endpointstate.VersionedValue{Value: value, Version: 1 << 62}})
	}
	b, err = c.Encode(envelope(&Ack2{Deltas: []endpointstate.Delta{full}}))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), limits.StateSizeBound()+EnvelopeOverhead("prod", "node-1", "10.0.0.1:7000"))
}

func TestEncodeRefusesOversizedFrame(t *testing.T) {
	c, err := NewCodec(256, endpointstate.DefaultLimits())
	require.NoError(t, err)
	d := sampleDelta()
	d.States[1].Value = strings.Repeat("x", 300)
	_, err = c.Encode(envelope(&Ack2{Deltas: []endpointstate.Delta{d}}))
	assert.ErrorIs(t, err, ErrFrameTooLarge)
}

// raw encodes arbitrary values with msgpack, to forge bad payloads.
func raw(t *testing.T, vs ...any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	require.NoError(t, enc.EncodeArrayLen(len(vs)))
	for _, v := range vs {
		require.NoError(t, enc.Encode(v))
	}
	return buf.Bytes()
}

func TestDecodeBadInput(t *testing.T) {
	c := testCodec(t)
	good, err := c.Encode(envelope(goldenMessages()[1]))
	require.NoError(t, err)
	digest := func(ep string, gen, ver int64) []any { return []any{ep, gen, ver} }
	hugeArray := append(raw(t, ProtocolVersion, "prod", "n", "a:1", 1), 0x91, 0xdd, 0x7f, 0xff, 0xff, 0xff)
	cases := []struct {
		name    string
		payload []byte
		err     error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"truncated by one", good[:len(good)-1], ErrMalformed},
		{"trailing bytes", append(append([]byte{}, good...), 0xc0), ErrMalformed},
		{"not an array", []byte{0xa3, 'a', 'b', 'c'}, ErrMalformed},
		{"old protocol version", raw(t, 1, "prod", "n", "a:1", 1, []any{[]any{}}), ErrVersion},
		{"version zero", raw(t, 0, "prod", "n", "a:1", 1, []any{[]any{}}), ErrVersion},
		{"unknown type", raw(t, ProtocolVersion, "prod", "n", "a:1", 99, []any{}), ErrUnknownType},
		{"too few envelope fields", raw(t, ProtocolVersion, "prod", "n"), ErrMalformed},
		{"empty sender", raw(t, ProtocolVersion, "prod", "", "a:1", 1, []any{[]any{}}), ErrMalformed},
		{"oversized count", hugeArray, ErrMalformed},
		{"invalid utf8 digest endpoint", raw(t, ProtocolVersion, "prod", "n", "a:1", 1, []any{[]any{digest("\xc3\x28", 1, 1)}}), endpointstate.ErrInvalidEndpoint},
		{"negative digest version", raw(t, ProtocolVersion, "prod", "n", "a:1", 1, []any{[]any{digest("e", 1, -1)}}), endpointstate.ErrInvalidVersion},
		{"wrong field type", raw(t, ProtocolVersion, "prod", "n", "a:1", 1, []any{[]any{[]any{"e", "one", 1}}}), ErrMalformed},
		{"frame too large", make([]byte, DefaultMaxFrameSize+1), ErrFrameTooLarge},
		{"delta without from version", raw(t, ProtocolVersion, "prod", "n", "a:1", 3, []any{[]any{[]any{"e", 1, 1, 0, true, []any{}}}}), ErrMalformed},
		{"deeply nested appended field", deepNesting(t), ErrMalformed},
		{"delta count amplification", countAmplification(t), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := c.Decode(tc.payload)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.err)
			assert.Nil(t, e)
		})
	}
}

// TestDecodeLeavesDeltaLimitsToApply: a delta that breaks the
// per-endpoint limits still decodes, next to a good one, so the receiver
// refuses it for its endpoint alone (issue 11, item 1); Apply's checks
// then catch it.
func TestDecodeLeavesDeltaLimitsToApply(t *testing.T) {
	c := testCodec(t)
	good := []any{"good", 1, 1, 0, true, []any{[]any{"k", "v", 1, false}}, 0}
	cases := []struct {
		name string
		bad  []any
		err  error
	}{
		{"invalid utf8 key", []any{"e", 1, 1, 0, true, []any{[]any{"\xff\xfe", "v", 1, false}}, 0}, endpointstate.ErrInvalidKey},
		{"negative version", []any{"e", 1, 1, 0, true, []any{[]any{"k", "v", -4, false}}, 0}, endpointstate.ErrInvalidVersion},
		{"oversized value", []any{"e", 1, 1, 0, true, []any{[]any{"k", strings.Repeat("v", 64<<10+1), 1, false}}, 0}, endpointstate.ErrValueTooLarge},
		{"reset with a from version", []any{"e", 1, 1, 0, true, []any{}, 5}, endpointstate.ErrInvalidVersion},
		{"long endpoint", []any{strings.Repeat("e", 300), 1, 1, 0, true, []any{}, 0}, endpointstate.ErrInvalidEndpoint},
		{"more entries than MaxEntries", []any{"e", 1, 1, 0, true, manyStates(600), 0}, endpointstate.ErrTooManyKeys},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := c.Decode(raw(t, ProtocolVersion, "prod", "n", "a:1", 3, []any{[]any{tc.bad, good}}))
			require.NoError(t, err)
			ack2, ok := e.Message.(*Ack2)
			require.True(t, ok)
			require.Len(t, ack2.Deltas, 2)
			assert.ErrorIs(t, c.Limits().CheckDelta(&ack2.Deltas[0]), tc.err)
			assert.NoError(t, c.Limits().CheckDelta(&ack2.Deltas[1]))
		})
	}
}

func manyStates(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = []any{fmt.Sprintf("k%d", i), "", i + 1, true}
	}
	return out
}

// deepNesting is an envelope whose appended field nests arrays a million
// deep: skipping it must not recurse that far.
func deepNesting(t *testing.T) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	require.NoError(t, enc.EncodeArrayLen(7))
	for _, v := range []any{ProtocolVersion, "c", "x", "a:1", int(TypeShadowSyn), []any{}} {
		require.NoError(t, enc.Encode(v))
	}
	for buf.Len() < DefaultMaxFrameSize-1 {
		buf.WriteByte(0x91)
	}
	buf.WriteByte(0xc0)
	return buf.Bytes()
}

// countAmplification claims as many deltas as there are bytes left: each
// delta takes at least 9 bytes, so the count is refused before allocating.
func countAmplification(t *testing.T) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	require.NoError(t, enc.EncodeArrayLen(6))
	for _, v := range []any{ProtocolVersion, "c", "x", "a:1", int(TypeAck2)} {
		require.NoError(t, enc.Encode(v))
	}
	require.NoError(t, enc.EncodeArrayLen(1))
	require.NoError(t, enc.EncodeArrayLen(DefaultMaxFrameSize-64))
	for buf.Len() < DefaultMaxFrameSize {
		buf.WriteByte(0xc0)
	}
	return buf.Bytes()[:DefaultMaxFrameSize]
}

// TestDecodeSkipsAppendedFields: a newer peer may append fields to any
// array; this version ignores them.
func TestDecodeSkipsAppendedFields(t *testing.T) {
	c := testCodec(t)
	p := raw(t, ProtocolVersion, "prod", "n", "a:1", 1, []any{[]any{[]any{"e", 5, 9, "extra"}}, "extra"}, map[string]any{"x": []any{1, []any{2}}})
	e, err := c.Decode(p)
	require.NoError(t, err)
	assert.Equal(t, &Syn{Digests: []endpointstate.Digest{{Endpoint: "e", Generation: 5, MaxVersion: 9}}}, e.Message)
}

// TestGoldenSyn pins the bytes of one Syn; docs/protocol.md shows this
// dump. Regenerate with HEARSAY_WRITE_GOLDEN=1.
func TestGoldenSyn(t *testing.T) {
	c := testCodec(t)
	syn := &Syn{Digests: []endpointstate.Digest{
		{Endpoint: "node-1", Generation: 1764244800, MaxVersion: 17},
		{Endpoint: "node-2", Generation: 1764244801, MaxVersion: 3},
	}}
	payload, err := c.Encode(envelope(syn))
	require.NoError(t, err)
	var frame bytes.Buffer
	require.NoError(t, binary.Write(&frame, binary.BigEndian, uint32(len(payload))))
	frame.Write(payload)
	dump := hex.Dump(frame.Bytes())
	path := filepath.Join("testdata", "syn.golden")
	if os.Getenv("HEARSAY_WRITE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(path, []byte(dump), 0o644))
		writeCorpus(t, c)
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), dump)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	require.NoError(t, err)
	assert.Contains(t, string(doc), dump, "docs/protocol.md must show the golden Syn dump")
}

// writeCorpus writes the golden messages, and some truncations of them, as
// FuzzDecode's committed seed corpus.
func writeCorpus(t *testing.T, c *Codec) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, m := range goldenMessages() {
		b, err := c.Encode(envelope(m))
		require.NoError(t, err)
		for _, cut := range []int{len(b), len(b) / 2} {
			name := filepath.Join(dir, fmt.Sprintf("%s-%d", m.Type(), cut))
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b[:cut])
			require.NoError(t, os.WriteFile(name, []byte(body), 0o644), i)
		}
	}
}

// FuzzDecode: no input panics; anything that decodes re-encodes and
// decodes to the same envelope.
func FuzzDecode(f *testing.F) {
	c := testCodec(f)
	for _, m := range goldenMessages() {
		b, err := c.Encode(envelope(m))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := c.Decode(payload)
		if err != nil {
			return
		}
		b, err := c.Encode(e)
		require.NoError(t, err)
		again, err := c.Decode(b)
		require.NoError(t, err)
		assert.Equal(t, e, again)
	})
}

// TestDecodePushLimits: a Push is decoded with the same bounds as an Ack2:
// a count beyond the bytes left is refused before anything is allocated,
// a Push without its deltas is malformed, and a delta over the
// per-endpoint limits decodes for Apply to refuse alone.
func TestDecodePushLimits(t *testing.T) {
	c := testCodec(t)
	huge := append(raw(t, ProtocolVersion, "prod", "n", "a:1", 9), 0x91, 0xdd, 0x7f, 0xff, 0xff, 0xff)
	huge[0] = 0x96 // the envelope's six fields: the body is the last
	_, err := c.Decode(huge)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "does not fit")
	_, err = c.Decode(raw(t, ProtocolVersion, "prod", "n", "a:1", 9, []any{}))
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "push")

	bad := []any{"e", 1, 1, 0, true, []any{[]any{"k", "v", -4, false}}, 0}
	good := []any{"good", 1, 1, 0, true, []any{[]any{"k", "v", 1, false}}, 0}
	e, err := c.Decode(raw(t, ProtocolVersion, "prod", "n", "a:1", 9, []any{[]any{bad, good}}))
	require.NoError(t, err)
	push, ok := e.Message.(*Push)
	require.True(t, ok)
	require.Len(t, push.Deltas, 2)
	assert.ErrorIs(t, c.Limits().CheckDelta(&push.Deltas[0]), endpointstate.ErrInvalidVersion)
	assert.Equal(t, "push", TypePush.String())
}

// TestPushDumpInDocs pins the Push example of docs/protocol.md to the
// codec's real output.
func TestPushDumpInDocs(t *testing.T) {
	b, err := testCodec(t).Encode(envelope(&Push{Deltas: []endpointstate.Delta{pushDelta()}}))
	require.NoError(t, err)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	require.NoError(t, err)
	assert.Contains(t, string(doc), hex.Dump(b), "docs/protocol.md must show the Push dump")
	assert.Contains(t, string(doc), fmt.Sprintf("%d bytes:", len(b)))
}
