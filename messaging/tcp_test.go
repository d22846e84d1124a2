package messaging_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/transporttest"
)

// TestMain checks that no test in the package leaks a goroutine: every
// transport must stop everything it started when it is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for the network in these tests. It is a
// deadline for a test that went wrong, not an expectation of speed.
const waitTimeout = 10 * time.Second

// fastBackoff makes reconnection tests quick.
func fastBackoff(c *messaging.TCPConfig) {
	c.BackoffMin = 5 * time.Millisecond
	c.BackoffMax = 50 * time.Millisecond
}

// patientDialQueue lets a Send that waits for room under MaxConns (a
// connection must first be idle for a quarter of a second before it may
// be closed for room) or for a dial slot wait as long as the test does,
// instead of the default second: on a loaded machine the dial queue's
// pump can run late, and the frame must not expire meanwhile.
func patientDialQueue(c *messaging.TCPConfig) { c.DialQueueTimeout = waitTimeout }

// relisten starts a TCP transport on addr, which another transport of the
// test has just released (binding may fail for a moment), with codec (nil:
// the default), and closes it at the end of the test.
func relisten(t testing.TB, addr string, codec *messaging.Codec) *messaging.TCP {
	t.Helper()
	var tr *messaging.TCP
	require.Eventually(t, func() bool {
		var err error
		tr, err = messaging.NewTCP(messaging.TCPConfig{BindAddr: addr, Codec: codec})
		return err == nil
	}, waitTimeout, 10*time.Millisecond, "re-listening on %s", addr)
	t.Cleanup(func() { assert.NoError(t, tr.Close()) })
	return tr
}

// newTCP starts a TCP transport bound to bind and closes it at the end of
// the test.
func newTCP(t testing.TB, bind string, opts ...func(*messaging.TCPConfig)) *messaging.TCP {
	t.Helper()
	cfg := messaging.DefaultTCPConfig()
	cfg.BindAddr = bind
	for _, o := range opts {
		o(&cfg)
	}
	tr, err := messaging.NewTCP(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, tr.Close()) })
	return tr
}

func TestTCPConformanceIPv4(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) messaging.Transport {
		return newTCP(t, "127.0.0.1:0")
	})
}

func TestTCPConformanceIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("IPv6 loopback unavailable: %v", err)
	}
	require.NoError(t, ln.Close())
	transporttest.Run(t, func(t *testing.T) messaging.Transport {
		tr := newTCP(t, "[::1]:0")
		require.True(t, strings.HasPrefix(tr.LocalAddr(), "[::1]:"), tr.LocalAddr())
		return tr
	})
}

func TestNewTCPErrors(t *testing.T) {
	_, err := messaging.NewTCP(messaging.TCPConfig{})
	assert.ErrorContains(t, err, "BindAddr")

	taken := newTCP(t, "127.0.0.1:0")
	cfg := messaging.DefaultTCPConfig()
	cfg.BindAddr = taken.LocalAddr()
	_, err = messaging.NewTCP(cfg)
	assert.ErrorContains(t, err, taken.LocalAddr(), "binding a port in use")
}

func TestTCPConfigValidate(t *testing.T) {
	valid := messaging.DefaultTCPConfig()
	valid.BindAddr = "127.0.0.1:0"
	require.NoError(t, valid.Validate())
	require.NoError(t, messaging.TCPConfig{BindAddr: "[::1]:7000"}.Validate(), "zero fields take defaults")

	tests := []struct {
		name   string
		modify func(*messaging.TCPConfig)
		want   []string
	}{
		{"no bind address", func(c *messaging.TCPConfig) { c.BindAddr = "" }, []string{"BindAddr", "required"}},
		{"bind address without port", func(c *messaging.TCPConfig) { c.BindAddr = "localhost" }, []string{"BindAddr", `"localhost"`}},
		{"negative frame size", func(c *messaging.TCPConfig) { c.MaxFrameSize = -1 }, []string{"MaxFrameSize = -1"}},
		{"negative queue", func(c *messaging.TCPConfig) { c.QueueSize = -5 }, []string{"QueueSize = -5", "positive"}},
		{"negative inbox", func(c *messaging.TCPConfig) { c.InboxSize = -1 }, []string{"InboxSize = -1"}},
		{"negative timeout", func(c *messaging.TCPConfig) { c.WriteTimeout = -time.Second }, []string{"WriteTimeout = -1s"}},
		{"backoff max below min", func(c *messaging.TCPConfig) {
			c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond
		}, []string{"BackoffMax = 1ms", "BackoffMin (1s)"}},
		{"every problem at once", func(c *messaging.TCPConfig) {
			c.BindAddr, c.QueueSize, c.DialTimeout = "", -1, -1
		}, []string{"BindAddr", "QueueSize", "DialTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			before := cfg
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
			assert.Equal(t, before, cfg, "Validate must not modify the config")
		})
	}
}

// rawConn dials addr with a plain TCP connection and sends a valid
// handshake, for feeding the transport bytes that a well-behaved peer would
// never send.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn := bareConn(t, addr)
	_, err := conn.Write(handshake(conn.LocalAddr().String()))
	require.NoError(t, err)
	return conn
}

// bareConn dials addr with a plain TCP connection that sends nothing.
func bareConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// handshake returns the handshake frame of a dialer listening at addr, as
// docs/protocol.md draws it.
func handshake(addr string) []byte {
	payload := append([]byte("HSAY\x02"), addr...)
	return append(header(uint32(len(payload))), payload...)
}

// header returns a frame header claiming n bytes of payload.
func header(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

// requireClosedByPeer waits until the transport closes conn.
func requireClosedByPeer(t *testing.T, conn net.Conn) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTimeout)))
	_, err := io.Copy(io.Discard, conn) // returns at EOF or on reset
	if err != nil {
		require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "the transport did not close the connection")
	}
}

// requireWorks checks that tr still receives frames, skipping any other
// frames already waiting.
func requireWorks(t *testing.T, tr *messaging.TCP) {
	t.Helper()
	sender := newTCP(t, "127.0.0.1:0")
	require.NoError(t, sender.Send(tr.LocalAddr(), []byte("still works")))
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case p := <-tr.Packets():
			if string(p.Payload) == "still works" {
				return
			}
		case <-timer.C:
			require.FailNow(t, "the transport stopped receiving")
		}
	}
}

func TestTCPOversizedIncomingFrame(t *testing.T) {
	tr := newTCP(t, "127.0.0.1:0")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	conn := rawConn(t, tr.LocalAddr())
	_, err := conn.Write(header(1 << 30)) // 1 GiB, over the 1 MiB limit
	require.NoError(t, err)
	requireClosedByPeer(t, conn)

	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20),
		"the transport must not allocate what the header claims")
	require.Eventually(t, func() bool { return tr.Stats().DroppedTooLarge == 1 }, waitTimeout, time.Millisecond)
	requireWorks(t, tr)
}

func TestTCPTruncatedFrame(t *testing.T) {
	tr := newTCP(t, "127.0.0.1:0")
	conn := rawConn(t, tr.LocalAddr())
	_, err := conn.Write(append(header(100), "only ten b"...))
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	require.Eventually(t, func() bool { return tr.Stats().DroppedMalformed == 1 }, waitTimeout, time.Millisecond)
	requireWorks(t, tr)
	// The counter moves just after the frame is handed over.
	require.Eventually(t, func() bool { return tr.Stats().ReceivedFrames > 0 }, waitTimeout, time.Millisecond)
	assert.Equal(t, uint64(1), tr.Stats().ReceivedFrames, "only the good frame is delivered")
}

func TestTCPGarbage(t *testing.T) {
	tests := []struct {
		name      string
		bytes     []byte
		closed    bool     // the transport closes the connection
		delivered []string // frames that come out of the transport
		counted   func(messaging.Stats) uint64
	}{
		{
			name:    "zero length",
			bytes:   header(0),
			closed:  true,
			counted: func(s messaging.Stats) uint64 { return s.DroppedMalformed },
		},
		{
			name:      "valid frame with a garbage payload then an absurd header",
			bytes:     append(append(header(3), 0xc1, 0xff, 0x00), 0xff, 0xff, 0xff, 0xff),
			closed:    true,
			delivered: []string{"\xc1\xff\x00"}, // the codec, not the transport, rejects it
			counted:   func(s messaging.Stats) uint64 { return s.DroppedTooLarge },
		},
		{
			name:    "HTTP request",
			bytes:   []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
			closed:  true,
			counted: func(s messaging.Stats) uint64 { return s.DroppedTooLarge },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTCP(t, "127.0.0.1:0")
			conn := rawConn(t, tr.LocalAddr())
			_, err := conn.Write(tt.bytes)
			require.NoError(t, err)
			for _, want := range tt.delivered {
				select {
				case p := <-tr.Packets():
					assert.Equal(t, want, string(p.Payload))
				case <-time.After(waitTimeout):
					require.FailNow(t, "frame not delivered")
				}
			}
			if tt.closed {
				requireClosedByPeer(t, conn)
			}
			require.Eventually(t, func() bool { return tt.counted(tr.Stats()) == 1 }, waitTimeout, time.Millisecond)
			requireWorks(t, tr)
		})
	}

	t.Run("random bytes", func(t *testing.T) {
		tr := newTCP(t, "127.0.0.1:0", func(c *messaging.TCPConfig) { c.MaxFrameSize = 512 })
		rng := rand.New(rand.NewPCG(1, 2))
		for range 50 {
			junk := make([]byte, 1+rng.IntN(4096))
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			conn := rawConn(t, tr.LocalAddr())
			_, _ = conn.Write(junk) // the transport may close the connection first
			require.NoError(t, conn.Close())
		}
		requireWorks(t, tr)
	})
}

func TestTCPPeerRestart(t *testing.T) {
	a := newTCP(t, "127.0.0.1:0", fastBackoff)
	// b is down for a while and comes back on its address: a port below
	// the ephemeral range, which no outgoing connection takes meanwhile.
	addr := transporttest.FreeAddrs(t, 1)[0]
	b, err := messaging.NewTCP(messaging.TCPConfig{BindAddr: addr})
	require.NoError(t, err)

	require.NoError(t, a.Send(addr, []byte("before restart")))
	select {
	case p := <-b.Packets():
		assert.Equal(t, "before restart", string(p.Payload))
	case <-time.After(waitTimeout):
		require.FailNow(t, "first frame not delivered")
	}
	require.NoError(t, b.Close())

	// While b is down, frames are dropped and counted; Send never blocks.
	require.Eventually(t, func() bool {
		if err := a.Send(addr, []byte("while down")); err != nil {
			assert.ErrorIs(t, err, messaging.ErrUnreachable)
		}
		return a.Stats().DroppedSendError >= 2 // the lost write, then a refused dial
	}, waitTimeout, time.Millisecond)

	// b comes back on the same port; a reconnects after its backoff.
	b2 := relisten(t, addr, nil)

	require.Eventually(t, func() bool {
		_ = a.Send(addr, []byte("after restart"))
		for {
			select {
			case p := <-b2.Packets():
				if string(p.Payload) == "after restart" {
					return true
				}
			default:
				return false
			}
		}
	}, waitTimeout, 10*time.Millisecond)
}

// stalledPeer listens on loopback and accepts connections but never reads
// from them, so that a sender's socket buffers fill and its writes block.
func stalledPeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex // guards conns
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestTCPQueueFullUnderStalledPeer(t *testing.T) {
	addr := stalledPeer(t)
	tr, err := messaging.NewTCP(messaging.TCPConfig{
		BindAddr:     "127.0.0.1:0",
		QueueSize:    4,
		WriteTimeout: time.Hour, // the writer stays blocked; only Close can free it
	})
	require.NoError(t, err)

	// The writer never modifies a payload, so the test can share one.
	payload := make([]byte, 64<<10)
	// One Send per tick: a writer that is not blocked empties the queue
	// between two ticks, so repeated ErrQueueFull means a stalled writer.
	var sends, full atomic.Uint64
	require.Eventually(t, func() bool {
		sends.Add(1)
		if err := tr.Send(addr, payload); errors.Is(err, messaging.ErrQueueFull) {
			full.Add(1)
		} else {
			assert.NoError(t, err)
		}
		return full.Load() == 50
	}, waitTimeout, time.Millisecond, "the queue never filled behind the stalled peer")
	s := tr.Stats()
	assert.Equal(t, full.Load(), s.DroppedQueueFull)
	assert.Zero(t, s.DroppedSendError)

	// Close interrupts the blocked write and drops the queue.
	closed := make(chan error)
	go func() { closed <- tr.Close() }()
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "Close blocked behind a stalled peer")
	}
	s = tr.Stats()
	assert.GreaterOrEqual(t, s.DroppedClosed, uint64(4), "the full queue")
	assert.Equal(t, sends.Load(), s.SentFrames+s.DroppedQueueFull+s.DroppedClosed, "every frame accounted for: %+v", s)
}

func TestTCPWriteTimeout(t *testing.T) {
	addr := stalledPeer(t)
	tr := newTCP(t, "127.0.0.1:0", fastBackoff, func(c *messaging.TCPConfig) {
		c.WriteTimeout = 20 * time.Millisecond
		c.QueueSize = 4
	})
	payload := make([]byte, 64<<10)
	require.Eventually(t, func() bool {
		_ = tr.Send(addr, payload)
		return tr.Stats().DroppedSendError > 0
	}, waitTimeout, time.Millisecond, "a write to a stalled peer must time out")
}

func TestStatsDrops(t *testing.T) {
	s := messaging.Stats{
		DroppedQueueFull: 1, DroppedTooLarge: 2, DroppedSendError: 3,
		DroppedInboxFull: 4, DroppedClosed: 5, DroppedMalformed: 6, DroppedConnLimit: 7,
		DroppedDecrypt: 8, DroppedDialWait: 9,
	}
	assert.Equal(t, map[string]uint64{
		"queue_full": 1, "too_large": 2, "send_error": 3,
		"inbox_full": 4, "closed": 5, "malformed": 6, "conn_limit": 7, "decrypt": 8, "dial_wait": 9,
	}, s.Drops())
	assert.Equal(t, uint64(45), s.Dropped())
	assert.Len(t, messaging.Stats{}.Drops(), 9, "every reason is present when zero")
	assert.Len(t, messaging.Stats{}.Refusals(), 10, "every reason is present when zero")
}
