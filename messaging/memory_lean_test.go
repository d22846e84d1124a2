package messaging_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// TestMemLeanPairs: on a network with a codec, envelopes travel in the
// lean encoding with tables per (sender, receiver) pair; frames lost to
// a fault are dropped before they are encoded, so every frame that
// arrives decodes to what was sent, and a transport that re-listens at an
// address starts with fresh tables.
func TestMemLeanPairs(t *testing.T) {
	net := messaging.NewMemNetwork()
	net.SetCodec(leanCodec(t))
	a, err := net.Listen("a:1", 256)
	require.NoError(t, err)
	b, err := net.Listen("b:1", 256)
	require.NoError(t, err)
	net.SetLossRate(0.5, 7)
	var sent []int64
	for v := range int64(100) {
		require.NoError(t, a.SendEnvelope("b:1", synEnvelope("a", v*v))) // uneven steps: a lost delta shows
		sent = append(sent, v*v)
	}
	net.SetLossRate(0, 0)
	var got []int64
	var last messaging.Packet
	for len(b.Packets()) > 0 {
		last = <-b.Packets()
		require.NotNil(t, last.Envelope)
		got = append(got, last.Envelope.Message.(*messaging.Syn).Digests[0].MaxVersion)
		assert.Equal(t, synEnvelope("a", got[len(got)-1]).Message, last.Envelope.Message)
	}
	assert.Greater(t, len(got), 20, "about half arrive")
	assert.Less(t, len(got), 80, "about half are lost")
	assert.Subset(t, sent, got)
	assert.Zero(t, b.Stats().DroppedMalformed, "every frame that arrived decoded")
	assert.Less(t, b.Stats().ReceivedBytes, uint64(len(got)*60), "frames after the first ride on the pair's tables")

	require.NoError(t, last.ReplyEnvelope(synEnvelope("b", 5)))
	assert.Equal(t, "b", (<-a.Packets()).Envelope.From)

	require.NoError(t, b.Close())
	b2, err := net.Listen("b:1", 16)
	require.NoError(t, err)
	require.NoError(t, a.SendEnvelope("b:1", synEnvelope("a", 1000)))
	p := <-b2.Packets()
	require.NotNil(t, p.Envelope, "the new transport decodes: the pair started fresh")
	assert.Equal(t, synEnvelope("a", 1000).Message, p.Envelope.Message)
	assert.Zero(t, b2.Stats().DroppedMalformed)

	raw := messaging.NewMemNetwork()
	c, err := raw.Listen("c:1", 1)
	require.NoError(t, err)
	assert.Nil(t, c.Codec())
	assert.ErrorIs(t, c.SendEnvelope("c:1", synEnvelope("c", 1)), messaging.ErrNoCodec)
}
