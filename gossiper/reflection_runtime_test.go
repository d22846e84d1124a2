package gossiper

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// tcpGossiper starts a real Gossiper on a loopback TCP port.
func tcpGossiper(t *testing.T, id string, logger zerolog.Logger) *Gossiper {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ID, cfg.BindAddr, cfg.Logger = id, "127.0.0.1:0", logger
	cfg.Interval = 50 * time.Millisecond
	g, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	t.Cleanup(func() { _ = g.Stop(context.Background()) })
	return g
}

// frame returns payload with its length prefix.
func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// TestForgedSynIsNotReflected (issue 11, item 6): a SYN whose envelope
// claims a third party's address is answered on the connection it came
// in on; the third party, a real listener, hears nothing.
func TestForgedSynIsNotReflected(t *testing.T) {
	g := tcpGossiper(t, "target", zerolog.Nop())

	victim, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var reached atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := victim.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			_ = c.Close()
		}
	})
	t.Cleanup(func() { _ = victim.Close(); wg.Wait() })

	codec, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	// Three SYNs in the lean encoding of one connection.
	enc := codec.NewEncoder()
	var syns []byte
	for range 3 {
		syn, err := enc.Encode(&messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay",
			From: "attacker", Addr: victim.Addr().String(),
			Message: &messaging.Syn{Digests: []endpointstate.Digest{{Endpoint: "nobody", Generation: 1, MaxVersion: 1}}}})
		require.NoError(t, err)
		syns = append(syns, frame(syn)...)
	}

	attacker, err := net.Dial("tcp", g.Addr())
	require.NoError(t, err)
	defer attacker.Close()
	// An honest handshake naming the attacker's own address, then SYNs
	// naming the victim's.
	hs := append([]byte{'H', 'S', 'A', 'Y', messaging.ProtocolVersion}, attacker.LocalAddr().String()...)
	_, err = attacker.Write(append(frame(hs), syns...))
	require.NoError(t, err)

	// Wait for the answer on the attacker's connection, or for the victim
	// to be reached.
	require.NoError(t, attacker.SetReadDeadline(time.Now().Add(10*time.Second)))
	answer, err := messaging.ReadFrame(attacker, messaging.DefaultMaxFrameSize, nil)
	assert.Zero(t, reached.Load(), "the forged SYN was answered at the address it claimed")
	require.NoError(t, err, "no answer on the connection the SYN came in on")
	env, err := codec.NewDecoder().Decode(answer)
	require.NoError(t, err)
	assert.Equal(t, messaging.TypeAck, env.Message.Type())

	// Let any stray send to the victim happen, then look again.
	require.Eventually(t, func() bool { return g.Stats().Messages["ack"].Sent == 3 }, 10*time.Second, time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, reached.Load(), "the forged SYN was answered at the address it claimed")
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for capturing
// logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLogged starts node-0 at mem-0:7000 on net, with an inbox of the
// given size, logging to logs.
func startLogged(t *testing.T, net *messaging.MemNetwork, inbox int, logs *syncBuffer) (*Gossiper, Config) {
	t.Helper()
	tr, err := net.Listen("mem-0:7000", inbox)
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.ID, cfg.Transport, cfg.Logger = "node-0", tr, zerolog.New(logs)
	g, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	return g, cfg
}

// TestGarbageFloodLogsBounded (issue 11, item 8): a flood of undecodable
// frames is counted frame by frame but logged a few times per second.
func TestGarbageFloodLogsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		net := messaging.NewMemNetwork()
		g, _ := startLogged(t, net, 4096, &logs)
		attacker, err := net.Listen("mem-9:7000", 16)
		require.NoError(t, err)

		const frames = 2000
		for i := range frames {
			require.NoError(t, attacker.Send("mem-0:7000", []byte{0x96, 0x01, byte(i)}))
			if i%500 == 499 {
				time.Sleep(time.Millisecond) // let the loop drain its inbox
			}
		}
		synctest.Wait()
		assert.EqualValues(t, frames, g.Stats().DecodeErrors, "every frame counted")
		lines := strings.Count(logs.String(), "dropped undecodable frame")
		assert.LessOrEqual(t, lines, 10, "log lines for %d garbage frames", frames)
		assert.Positive(t, lines)
		require.NoError(t, attacker.Close())
		require.NoError(t, g.Stop(context.Background()))
	})
}

// TestLocalPauseLoggedAsStall: a stall of the gossip loop is logged as the
// node's own stall (under its own rate limit), not as rejected input.
func TestLocalPauseLoggedAsStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		net := messaging.NewMemNetwork()
		g, cfg := startLogged(t, net, 16, &logs)
		time.Sleep(2*cfg.Interval + time.Millisecond) // a few rounds first

		// Stall the loop for 10 s, twice MaxLocalPause.
		require.NoError(t, g.do(func(time.Time) (Output, error) { time.Sleep(10 * time.Second); return Output{}, nil }))
		time.Sleep(2 * cfg.Interval)
		assert.EqualValues(t, 1, g.Stats().Core.LocalPauses)
		out := logs.String()
		assert.Contains(t, out, "this node stalled")
		assert.Contains(t, out, "local pause: ")
		assert.NotContains(t, out, "gossip input rejected", "a stall is not bad input")
		require.NoError(t, g.Stop(context.Background()))
	})
}
