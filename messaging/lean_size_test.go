package messaging

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// freshIDs are IDs that share prefixes of every length with each other
// (and one that is a prefix of all the "node-1…" ones), so that the
// shared-prefix and suffix lengths of a spelled-out ID take every path.
var freshIDs = []string{"node-1", "node-10", "node-100", "node-2", "node-1é", "n", "x",
	"a-much-longer-node-id.example.com", "a-much-longer-node-id.example.org", "é", "node-0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001"}

// genFreshIDs draws the endpoints of one list: distinct (the common case,
// which FreshSize sizes by number) unless repeats says otherwise.
func genFreshIDs(t *rapid.T, label string, repeats bool) []string {
	n := rapid.IntRange(0, len(freshIDs)).Draw(t, label+" count")
	if repeats {
		return rapid.SliceOfN(rapid.SampledFrom(freshIDs), n, n).Draw(t, label)
	}
	return rapid.Permutation(freshIDs).Draw(t, label)[:n]
}

// genFreshEnvelope draws a Syn, Ack, Ack2 or Push whose endpoints carry
// their numbers (number(id), or 0 now and then when missing is set), or
// any other message.
func genFreshEnvelope(t *rapid.T, number func(string) uint32, missing, repeats bool) *Envelope {
	num := func(id string) uint32 {
		if missing && rapid.IntRange(0, 9).Draw(t, "unnumbered") == 0 {
			return 0
		}
		return number(id)
	}
	digests := func(label string) ([]endpointstate.Digest, []uint32) {
		ids := genFreshIDs(t, label, repeats)
		ds, nums := make([]endpointstate.Digest, len(ids)), make([]uint32, len(ids))
		for k, id := range ids {
			ds[k] = endpointstate.Digest{Endpoint: id, Generation: genFreshGen(t), MaxVersion: genFreshInt(t, "ver")}
			nums[k] = num(id)
		}
		return ds, nums
	}
	deltas := func() []endpointstate.Delta {
		ids := genFreshIDs(t, "deltas", repeats)
		ds := make([]endpointstate.Delta, len(ids))
		for k, id := range ids {
			ds[k] = genDelta(t, []string{id})
			ds[k].Number = num(id)
		}
		return ds
	}
	e := &Envelope{Version: ProtocolVersion,
		Cluster: rapid.SampledFrom([]string{"prod", "", "a-cluster-name-of-more-than-127-bytes-" + string(make([]byte, 100))}).Draw(t, "cluster"),
		From:    rapid.SampledFrom(freshIDs).Draw(t, "from"),
		Addr:    rapid.SampledFrom([]string{"10.0.0.1:7000", "[::1]:7001"}).Draw(t, "addr")}
	switch rapid.IntRange(0, 5).Draw(t, "kind") {
	case 0:
		ds, nums := digests("digests")
		if rapid.IntRange(0, 9).Draw(t, "numbers dropped") == 0 {
			nums = nums[:len(nums)/2]
		}
		e.Message = &NumberedSyn{Syn: Syn{Digests: ds}, Numbers: nums}
	case 1:
		ds, nums := digests("requests")
		e.Message = &NumberedAck{Ack: Ack{Requests: ds, Deltas: deltas()}, RequestNumbers: nums}
	case 2:
		e.Message = &Ack2{Deltas: deltas()}
	case 3:
		e.Message = &Push{Deltas: deltas()}
	default:
		e = genEnvelope(t, freshIDs)
	}
	return e
}

// genFreshInt draws a non-negative generation or version: as genInt
// does, or one whose distance from a small one is close to 2⁶², where a
// digest stops being a single uvarint.
func genFreshInt(t *rapid.T, label string) int64 {
	if rapid.IntRange(0, 3).Draw(t, label+" near 2⁶²") == 0 {
		return rapid.Int64Range(1<<62-1, 1<<62+3).Draw(t, label)
	}
	return genInt(t, label) & math.MaxInt64
}

// genFreshGen draws a generation, often the one the last digest had.
func genFreshGen(t *rapid.T) int64 {
	if rapid.Bool().Draw(t, "same gen") {
		return 0
	}
	return genFreshInt(t, "gen")
}

// TestLeanFreshSize: FreshSize returns len(Encode) of a new Encoder for
// any message: numbered Syns, Acks (digests and wants, then deltas with
// states), Ack2s and pushes whose endpoints are distinct and share
// prefixes, with the generations and versions anywhere in int64, the
// endpoints renumbered between frames, some numbers missing or repeated
// endpoints now and then (sized on the scratch Encoder), and every other
// message. It leaves the Encoder's tables as they were: an Encoder that
// sizes between its frames encodes them as one that does not, byte for
// byte.
func TestLeanFreshSize(t *testing.T) {
	c := testCodec(t)
	rapid.Check(t, func(t *rapid.T) {
		offset := uint32(1)
		number := func(id string) uint32 { return uint32(slices.Index(freshIDs, id)) + offset }
		sizer, twin := c.NewEncoder(), c.NewEncoder()
		for i := range rapid.IntRange(1, 20).Draw(t, "frames") {
			if rapid.IntRange(0, 3).Draw(t, "renumber") == 0 {
				offset = uint32(rapid.IntRange(1, 200).Draw(t, "offset"))
			}
			e := genFreshEnvelope(t, number, rapid.Bool().Draw(t, "missing"), rapid.IntRange(0, 4).Draw(t, "repeats") == 0)
			want, err := c.NewEncoder().Encode(e)
			require.NoError(t, err, "frame %d", i)
			n, err := sizer.FreshSize(e)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, len(want), n, "frame %d: FreshSize against a new Encoder's Encode", i)

			// The tables: the sizer encodes as its twin.
			w := genEnvelope(t, freshIDs)
			b, err := sizer.Encode(w)
			require.NoError(t, err, "frame %d", i)
			b2, err := twin.Encode(w)
			require.NoError(t, err, "frame %d", i)
			assert.Equal(t, b2, b, "frame %d: an Encoder that sized a frame encodes as one that did not", i)
		}
	})
}

// TestLeanFreshSizeByNumber: a simulator-sized Syn of 3,000 numbered
// digests and an Ack of 1,500 requests and 1,500 deltas are sized by
// number, without the scratch Encoder, to their encoded length; and a
// frame over the codec's limit fails as Encode does.
func TestLeanFreshSizeByNumber(t *testing.T) {
	c := testCodec(t)
	syn, ack := freshSizeMessages(3000, 1500)
	enc := c.NewEncoder()
	for _, m := range []Message{syn, ack} {
		e := envelope(m)
		want, err := c.NewEncoder().Encode(e)
		require.NoError(t, err)
		n, err := enc.FreshSize(e)
		require.NoError(t, err)
		assert.Equal(t, len(want), n, "%T", m)
	}
	assert.True(t, enc.slow == nil, "sized by number, not encoded")

	small, err := NewCodec(1024, endpointstate.DefaultLimits())
	require.NoError(t, err)
	_, wantErr := small.NewEncoder().Encode(envelope(syn))
	require.Error(t, wantErr)
	_, err = small.NewEncoder().FreshSize(envelope(syn))
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.EqualError(t, err, wantErr.Error())
	_, err = c.NewEncoder().FreshSize(&Envelope{})
	assert.EqualError(t, err, "encode: nil message")
}

// freshSizeMessages returns what a simulated node of a converged cluster
// of n nodes sends on a fresh connection: its Syn, n digests numbered in
// table order, and an Ack of acks requests and acks deltas (heartbeats,
// one in ten with a state) of distinct endpoints, in no order, on the
// simulator's IDs ("n00000").
func freshSizeMessages(n, acks int) (*NumberedSyn, *NumberedAck) {
	rng := rand.New(rand.NewPCG(1, 2))
	id := func(i int) string { return fmt.Sprintf("n%05d", i) }
	syn := &NumberedSyn{}
	for i := range n {
		syn.Digests = append(syn.Digests, endpointstate.Digest{Endpoint: id(i), Generation: 1764244800 + rng.Int64N(3), MaxVersion: 100 + rng.Int64N(40)})
		syn.Numbers = append(syn.Numbers, uint32(i+1))
	}
	ack := &NumberedAck{}
	perm := rng.Perm(n)
	for i := range acks {
		k := perm[i]
		ack.Requests = append(ack.Requests, endpointstate.Digest{Endpoint: id(k), Generation: 1764244800, MaxVersion: 100 + rng.Int64N(40)})
		ack.RequestNumbers = append(ack.RequestNumbers, uint32(k+1))
		j := perm[n-1-i]
		d := endpointstate.Delta{Endpoint: id(j), Number: uint32(j + 1), Generation: 1764244800, HeartBeat: 140 + rng.Int64N(40), FromVersion: 100 + rng.Int64N(40)}
		if i%10 == 0 {
			d.States = []endpointstate.KeyValue{{Key: "load", VersionedValue: endpointstate.VersionedValue{Value: "0.42", Version: d.HeartBeat - 1}}}
		}
		ack.Deltas = append(ack.Deltas, d)
	}
	return syn, ack
}

// BenchmarkLeanFreshSize sizes, as the first frame of a fresh connection
// (what the simulator counts when it does not decode), a Syn of 3,000
// numbered digests and an Ack of 1,500 requests and 1,500 deltas.
func BenchmarkLeanFreshSize(b *testing.B) {
	c := testCodec(b)
	syn, ack := freshSizeMessages(3000, 1500)
	for _, tc := range []struct {
		name string
		m    Message
	}{{"syn=3000", syn}, {"ack=1500", ack}} {
		b.Run(tc.name, func(b *testing.B) {
			enc := c.NewEncoder()
			e := envelope(tc.m)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.FreshSize(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
