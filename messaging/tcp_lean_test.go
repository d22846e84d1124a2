package messaging_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

func leanCodec(t testing.TB) *messaging.Codec {
	c, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	return c
}

// withCodec gives a transport the lean encoding.
func withCodec(c *messaging.Codec) func(*messaging.TCPConfig) {
	return func(cfg *messaging.TCPConfig) { cfg.Codec = c }
}

func synEnvelope(from string, version int64) *messaging.Envelope {
	return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "prod", From: from, Addr: "x:1",
		Message: &messaging.Syn{Digests: []endpointstate.Digest{
			{Endpoint: "node-1", Generation: 1764244800, MaxVersion: version},
			{Endpoint: "node-2", Generation: 1764244801, MaxVersion: version + 1}}}}
}

// receiveEnvelope waits for the next packet on tr and returns its decoded
// envelope.
func receiveEnvelope(t *testing.T, tr messaging.Transport) messaging.Packet {
	t.Helper()
	select {
	case p := <-tr.Packets():
		require.NotNil(t, p.Envelope, "a transport with a codec delivers envelopes")
		return p
	case <-time.After(waitTimeout):
		require.FailNow(t, "no envelope delivered", "at %s", tr.LocalAddr())
	}
	return messaging.Packet{}
}

// TestTCPLeanBothWays: envelopes sent with SendEnvelope arrive decoded,
// in order, and replies on the same connection decode on the other side
// with that direction's own tables.
func TestTCPLeanBothWays(t *testing.T) {
	codec := leanCodec(t)
	a := newTCP(t, "127.0.0.1:0", withCodec(codec))
	b := newTCP(t, "127.0.0.1:0", withCodec(codec))
	for v := range int64(5) {
		require.NoError(t, a.SendEnvelope(b.LocalAddr(), synEnvelope("a", 10*v)))
	}
	var last messaging.Packet
	for v := range int64(5) {
		last = receiveEnvelope(t, b)
		assert.Equal(t, synEnvelope("a", 10*v).Message, last.Envelope.Message, "frame %d", v)
		assert.Equal(t, "a", last.Envelope.From)
	}
	for v := range int64(3) {
		require.NoError(t, last.ReplyEnvelope(synEnvelope("b", 7*v)))
	}
	for v := range int64(3) {
		p := receiveEnvelope(t, a)
		assert.Equal(t, synEnvelope("b", 7*v).Message, p.Envelope.Message, "reply %d", v)
	}
	assert.Equal(t, uint64(1), a.Stats().DialedConns+b.Stats().DialedConns, "one connection carried both ways")
	assert.ErrorIs(t, newTCP(t, "127.0.0.1:0").SendEnvelope(b.LocalAddr(), synEnvelope("c", 1)), messaging.ErrNoCodec)
}

// TestTCPLeanFreshState: when a peer restarts, the new connection starts
// with empty tables on both sides: the restarted peer decodes the first
// frames it gets, which it could not if the sender kept the old
// connection's tables.
func TestTCPLeanFreshState(t *testing.T) {
	codec := leanCodec(t)
	a := newTCP(t, "127.0.0.1:0", withCodec(codec), fastBackoff)
	b, err := messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0", Codec: codec})
	require.NoError(t, err)
	addr := b.LocalAddr()
	require.NoError(t, a.SendEnvelope(addr, synEnvelope("a", 1)))
	receiveEnvelope(t, b)
	require.NoError(t, b.Close())

	b2 := relisten(t, addr, codec)
	var got *messaging.Envelope
	require.Eventually(t, func() bool {
		_ = a.SendEnvelope(addr, synEnvelope("a", 2))
		select {
		case p := <-b2.Packets():
			got = p.Envelope
			return true
		default:
			return false
		}
	}, waitTimeout, 10*time.Millisecond)
	require.NotNil(t, got)
	assert.Equal(t, synEnvelope("a", 2).Message, got.Message)
	assert.Zero(t, b2.Stats().DroppedMalformed, "nothing undecodable")
}

// TestTCPOldVersionRefused: a dialer whose handshake names protocol
// version 1 is refused before any of its frames is read, counted as
// "version", and logged with both versions; its frames never reach the
// Packets channel.
func TestTCPOldVersionRefused(t *testing.T) {
	var logs syncBuffer
	tr := newTCP(t, "127.0.0.1:0", withCodec(leanCodec(t)), func(c *messaging.TCPConfig) {
		c.Logger = zerolog.New(&logs)
	})
	conn := bareConn(t, tr.LocalAddr())
	old := append([]byte("HSAY\x01"), conn.LocalAddr().String()...)
	frame := append(header(uint32(len(old))), old...)
	v1Syn := []byte{0x96, 0x01, 0xa1, 'c', 0xa1, 'n', 0xa3, 'a', ':', '1', 0x01, 0x91, 0x90}
	frame = append(frame, header(uint32(len(v1Syn)))...)
	_, err := conn.Write(append(frame, v1Syn...))
	require.NoError(t, err)
	requireClosedByPeer(t, conn)
	require.Eventually(t, func() bool { return tr.Stats().RefusedVersion == 1 }, waitTimeout, time.Millisecond)
	s := tr.Stats()
	assert.Equal(t, uint64(1), s.Refusals()["version"])
	assert.Zero(t, s.ReceivedFrames, "no frame of the old peer was read")
	assert.Contains(t, logs.String(), "another protocol version")
	assert.Contains(t, logs.String(), "the peer speaks protocol version 1, this node speaks 2")
	select {
	case p := <-tr.Packets():
		assert.Failf(t, "a frame of the old peer was delivered", "%x", p.Payload)
	default:
	}
}

// TestTCPLeanUndecodableCloses: a frame that does not decode closes its
// connection (the peer's tables can no longer be trusted) and is counted
// as malformed; the transport keeps working.
func TestTCPLeanUndecodableCloses(t *testing.T) {
	codec := leanCodec(t)
	tr := newTCP(t, "127.0.0.1:0", withCodec(codec))
	conn := rawConn(t, tr.LocalAddr())
	// A Syn referring to interned entry 5 of an empty table.
	bad := []byte{byte(messaging.TypeSyn), 1, 1, 'c', 1, 'n', 3, 'a', ':', '1', 1, 7, 0}
	_, err := conn.Write(append(header(uint32(len(bad))), bad...))
	require.NoError(t, err)
	requireClosedByPeer(t, conn)
	require.Eventually(t, func() bool { return tr.Stats().DroppedMalformed == 1 }, waitTimeout, time.Millisecond)

	sender := newTCP(t, "127.0.0.1:0", withCodec(codec))
	require.NoError(t, sender.SendEnvelope(tr.LocalAddr(), synEnvelope("s", 3)))
	assert.Equal(t, "s", receiveEnvelope(t, tr).Envelope.From)
}

// TestTCPLeanEncodedSizes: the Encoded hook sees every envelope the
// writer encodes, with its real size, and the sizes add up to the bytes
// sent.
func TestTCPLeanEncodedSizes(t *testing.T) {
	codec := leanCodec(t)
	sizes := make(chan int, 16)
	a := newTCP(t, "127.0.0.1:0", withCodec(codec), func(c *messaging.TCPConfig) {
		c.Encoded = func(typ messaging.Type, n int) {
			if typ == messaging.TypeSyn {
				sizes <- n
			}
		}
	})
	b := newTCP(t, "127.0.0.1:0", withCodec(codec))
	for v := range int64(2) {
		require.NoError(t, a.SendEnvelope(b.LocalAddr(), synEnvelope("a", 40*v)))
		p := receiveEnvelope(t, b)
		assert.Equal(t, len(p.Payload), <-sizes, "frame %d", v)
	}
	require.Eventually(t, func() bool { return a.Stats().SentFrames == 2 }, waitTimeout, time.Millisecond)
	assert.Less(t, a.Stats().SentBytes, uint64(2*60), "the second Syn rides on the first one's tables")
}

// TestTCPLeanManyPeersInOrder: frames from several peers interleave at
// the receiver, each connection decoded with its own tables.
func TestTCPLeanManyPeersInOrder(t *testing.T) {
	codec := leanCodec(t)
	dst := newTCP(t, "127.0.0.1:0", withCodec(codec))
	const peers, frames = 4, 20
	var senders []*messaging.TCP
	for range peers {
		senders = append(senders, newTCP(t, "127.0.0.1:0", withCodec(codec)))
	}
	for v := range int64(frames) {
		for i, s := range senders {
			require.NoError(t, s.SendEnvelope(dst.LocalAddr(), synEnvelope(fmt.Sprintf("p%d", i), v)))
		}
	}
	next := map[string]int64{}
	for range peers * frames {
		p := receiveEnvelope(t, dst)
		from := p.Envelope.From
		assert.Equal(t, synEnvelope(from, next[from]).Message, p.Envelope.Message, "from %s", from)
		next[from]++
	}
	assert.Zero(t, dst.Stats().DroppedMalformed)
}
