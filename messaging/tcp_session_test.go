package messaging_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

// frameSizes records the size of every envelope a transport encodes, in
// order.
type frameSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (f *frameSizes) hook(c *messaging.TCPConfig) {
	c.Encoded = func(_ messaging.Type, size int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sizes = append(f.sizes, size)
	}
}

func (f *frameSizes) last() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sizes[len(f.sizes)-1]
}

// wideSyn is a Syn of n digests, the kind a steady round sends: on a
// connection whose tables are warm each digest costs a byte or two, on a
// fresh one several.
func wideSyn(from string, n int) *messaging.Envelope {
	ds := make([]endpointstate.Digest, n)
	for i := range ds {
		ds[i] = endpointstate.Digest{Endpoint: fmt.Sprintf("node-%03d", i), Generation: 1764244800 + int64(i), MaxVersion: 1000 + int64(i)}
	}
	return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "prod", From: from, Addr: "x:1",
		Message: &messaging.Syn{Digests: ds}}
}

// sendSyn sends wideSyn from a to b, checks that b decodes it, and returns
// the frame's size.
func sendSyn(t *testing.T, a, b *messaging.TCP, sizes *frameSizes) int {
	t.Helper()
	require.NoError(t, a.SendEnvelope(b.LocalAddr(), wideSyn("a", 40)))
	p := receiveEnvelope(t, b)
	assert.Equal(t, wideSyn("a", 40).Message, p.Envelope.Message)
	return sizes.last()
}

// closeForRoom makes a, whose MaxConns is 1, close its connection to b
// for room by sending to c, and waits until both ends of that connection
// have filed its codec session.
func closeForRoom(t *testing.T, a, b, c *messaging.TCP) {
	t.Helper()
	require.NoError(t, a.SendEnvelope(c.LocalAddr(), synEnvelope("a", 1)))
	receiveEnvelope(t, c)
	require.Eventually(t, func() bool {
		return a.Stats().CodecSessions >= 1 && b.Stats().CodecSessions == 1
	}, waitTimeout, time.Millisecond, "both ends keep the closed connection's codec session")
}

// TestTCPSessionResumedAfterClosedForRoom: a connection closed for room
// under MaxConns and opened again resumes its codec session at both ends,
// and the first Syn on the new connection is exactly as small as it was
// on the old, warm one (not the fresh size).
func TestTCPSessionResumedAfterClosedForRoom(t *testing.T) {
	codec := leanCodec(t)
	var sizes frameSizes
	a := newTCP(t, "127.0.0.1:0", withCodec(codec), sizes.hook, patientDialQueue, func(c *messaging.TCPConfig) { c.MaxConns = 1 })
	b := newTCP(t, "127.0.0.1:0", withCodec(codec))
	c := newTCP(t, "127.0.0.1:0", withCodec(codec))

	cold := sendSyn(t, a, b, &sizes)
	warm := sendSyn(t, a, b, &sizes)
	require.Less(t, warm, cold/3, "the second Syn rides the interned tables")

	closeForRoom(t, a, b, c)
	resumed := sendSyn(t, a, b, &sizes)
	assert.Equal(t, warm, resumed, "the first Syn on the new connection is as small as on the warm one")
	assert.Equal(t, uint64(1), a.Stats().ResumedConns, "the dialer resumed")
	assert.Equal(t, uint64(1), b.Stats().ResumedConns, "the acceptor resumed")
	assert.GreaterOrEqual(t, a.Stats().EvictedConns, uint64(1), "closed for room")

	// And the other direction, on the resumed connection: b answers a.
	require.NoError(t, b.SendEnvelope(a.LocalAddr(), synEnvelope("b", 3)))
	assert.Equal(t, synEnvelope("b", 3).Message, receiveEnvelope(t, a).Envelope.Message)
	for _, tr := range []*messaging.TCP{a, b, c} {
		assert.Zero(t, tr.Stats().DroppedMalformed, "nothing misread")
	}
}

// TestTCPSessionRestartedPeerStartsFresh: a peer restarted on the same
// address holds no session: the dialer's offer is answered "fresh", the
// first Syn is the fresh size, and it decodes.
func TestTCPSessionRestartedPeerStartsFresh(t *testing.T) {
	codec := leanCodec(t)
	var sizes frameSizes
	a := newTCP(t, "127.0.0.1:0", withCodec(codec), sizes.hook, fastBackoff, patientDialQueue, func(c *messaging.TCPConfig) { c.MaxConns = 1 })
	b, err := messaging.NewTCP(messaging.TCPConfig{BindAddr: "127.0.0.1:0", Codec: codec})
	require.NoError(t, err)
	c := newTCP(t, "127.0.0.1:0", withCodec(codec))
	addr := b.LocalAddr()
	cold := sendSyn(t, a, b, &sizes)
	sendSyn(t, a, b, &sizes)
	closeForRoom(t, a, b, c)
	require.NoError(t, b.Close())

	b2 := relisten(t, addr, codec)
	assert.Equal(t, cold, sendSyn(t, a, b2, &sizes), "fresh tables: the fresh size")
	assert.Zero(t, a.Stats().ResumedConns)
	assert.Zero(t, b2.Stats().ResumedConns)
	assert.Zero(t, b2.Stats().DroppedMalformed)
}

// TestTCPSessionCacheBound: however many peers a transport closes
// connections to, the sessions it keeps stay within CodecSessionBytes,
// and -1 keeps none.
func TestTCPSessionCacheBound(t *testing.T) {
	codec := leanCodec(t)
	for _, bound := range []int{-1, 1500} {
		t.Run(fmt.Sprint(bound), func(t *testing.T) {
			a := newTCP(t, "127.0.0.1:0", withCodec(codec), patientDialQueue, func(c *messaging.TCPConfig) {
				c.MaxConns = 1
				c.CodecSessionBytes = bound
			})
			var peers []*messaging.TCP
			for i := range 6 {
				p := newTCP(t, "127.0.0.1:0", withCodec(codec))
				require.NoError(t, a.SendEnvelope(p.LocalAddr(), wideSyn(fmt.Sprint("a", i), 40)))
				receiveEnvelope(t, p)
				peers = append(peers, p)
			}
			// The last connection is open; the five before it closed for room.
			require.Eventually(t, func() bool {
				var n uint64
				for _, p := range peers[:5] {
					n += p.Stats().CodecSessions
				}
				return n == 5 || bound < 0
			}, waitTimeout, time.Millisecond, "the peers filed theirs")
			s := a.Stats()
			if bound < 0 {
				assert.Zero(t, s.CodecSessions)
				assert.Zero(t, s.CodecSessionBytes)
				return
			}
			assert.LessOrEqual(t, s.CodecSessionBytes, uint64(bound))
			assert.Positive(t, s.CodecSessions)
			assert.Less(t, s.CodecSessions, uint64(5), "the oldest went to stay within the bound (%d bytes)", s.CodecSessionBytes)
		})
	}
}

// TestTCPSessionResumedUnderSecurity: with a keyring and with mutual TLS,
// a connection closed for room resumes its codec session (the sealing or
// TLS session is new) and carries frames both ways.
func TestTCPSessionResumedUnderSecurity(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(t, ring, securitytest.NewKey(t))
	ca := securitytest.NewCA(t, dir, "ca")
	modes := map[string][3]messaging.Security{
		"keyring": {{KeyringFile: ring, Cluster: "c1"}, {KeyringFile: ring, Cluster: "c1"}, {KeyringFile: ring, Cluster: "c1"}},
		"tls":     {ca.Issue(t, dir, "a", "node-a").Security(), ca.Issue(t, dir, "b", "node-b").Security(), ca.Issue(t, dir, "c", "node-c").Security()},
	}
	for name, sec := range modes {
		t.Run(name, func(t *testing.T) {
			codec := leanCodec(t)
			var sizes frameSizes
			a := newTCP(t, "127.0.0.1:0", withCodec(codec), secured(sec[0], nil), sizes.hook, patientDialQueue, func(c *messaging.TCPConfig) { c.MaxConns = 1 })
			b := newTCP(t, "127.0.0.1:0", withCodec(codec), secured(sec[1], nil))
			c := newTCP(t, "127.0.0.1:0", withCodec(codec), secured(sec[2], nil))
			sendSyn(t, a, b, &sizes)
			warm := sendSyn(t, a, b, &sizes)
			closeForRoom(t, a, b, c)
			assert.Equal(t, warm, sendSyn(t, a, b, &sizes))
			assert.Equal(t, uint64(1), a.Stats().ResumedConns)
			assert.Equal(t, uint64(1), b.Stats().ResumedConns)
			require.NoError(t, b.SendEnvelope(a.LocalAddr(), synEnvelope("b", 3)))
			assert.Equal(t, synEnvelope("b", 3).Message, receiveEnvelope(t, a).Envelope.Message)
			for _, tr := range []*messaging.TCP{a, b} {
				s := tr.Stats()
				assert.Zero(t, s.DroppedDecrypt+s.DroppedMalformed+s.RefusedConns, "%v %v", s.Drops(), s.Refusals())
			}
		})
	}
}
