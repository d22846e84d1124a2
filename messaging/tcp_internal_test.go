package messaging

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffDelay(t *testing.T) {
	const lo, hi = 50 * time.Millisecond, 5 * time.Second
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		failures int
		min, max time.Duration
	}{
		{1, 25 * time.Millisecond, 50 * time.Millisecond},
		{2, 50 * time.Millisecond, 100 * time.Millisecond},
		{3, 100 * time.Millisecond, 200 * time.Millisecond},
		{7, 1600 * time.Millisecond, 3200 * time.Millisecond},
		{8, 2500 * time.Millisecond, 5 * time.Second}, // capped
		{1000, 2500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.min, backoffDelay(tt.failures, lo, hi, lowest), "lowest wait after %d failures", tt.failures)
		assert.Equal(t, tt.max, backoffDelay(tt.failures, lo, hi, highest), "highest wait after %d failures", tt.failures)
	}
	huge := time.Duration(1<<62 + 1<<61)
	assert.Equal(t, huge, backoffDelay(100, time.Second, huge, highest), "no overflow near the largest duration")
}

// openPeers returns how many dialled and accepted connections tr has open.
func openPeers(tr *TCP) (outbound, inbound int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for c := range tr.conns {
		if c.outbound {
			outbound++
		} else {
			inbound++
		}
	}
	return outbound, inbound
}

func TestTCPIdleCleanup(t *testing.T) {
	newIdle := func() *TCP {
		tr, err := NewTCP(TCPConfig{BindAddr: "127.0.0.1:0", IdleTimeout: 50 * time.Millisecond})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, tr.Close()) })
		return tr
	}
	a, b := newIdle(), newIdle()
	for round := range 2 { // the second round checks that a retired peer comes back
		require.NoError(t, a.Send(b.LocalAddr(), []byte("hello")), "round %d", round)
		select {
		case p := <-b.Packets():
			assert.Equal(t, "hello", string(p.Payload))
		case <-time.After(10 * time.Second):
			require.FailNow(t, "frame not delivered", "round %d", round)
		}
		require.Eventually(t, func() bool {
			aOut, aIn := openPeers(a)
			bOut, bIn := openPeers(b)
			return aOut+aIn+bOut+bIn == 0
		}, 10*time.Second, 5*time.Millisecond, "idle connections are closed on both sides")
	}
	assert.Zero(t, a.Stats().Dropped(), "retiring idle peers drops nothing: %v", a.Stats().Drops())
}

// TestHeaderOnlyConnectionsPinLittleMemory: a peer announcing large frames
// and sending nothing costs one read chunk per connection, not the
// announced size.
func TestHeaderOnlyConnectionsPinLittleMemory(t *testing.T) {
	cfg := DefaultTCPConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.MaxConns, cfg.MaxConnsPerSource = 400, 400
	tr, err := NewTCP(cfg)
	require.NoError(t, err)
	defer tr.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 200
	for i := range conns {
		c, err := net.Dial("tcp", tr.LocalAddr())
		require.NoError(t, err)
		defer c.Close()
		var hs bytes.Buffer // each claims its own address
		require.NoError(t, WriteFrame(&hs, appendHandshake(nil, fmt.Sprintf("127.0.0.1:%d", 1+i)), maxHandshakeSize))
		_, err = c.Write(append(hs.Bytes(), 0x00, 0x10, 0x00, 0x00)) // 1 MiB announced, nothing sent
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { _, in := openPeers(tr); return in == conns }, 10*time.Second, 5*time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	assert.Less(t, grew, int64(64<<20), "heap grew by %d MiB for %d header-only connections", grew>>20, conns)
}

func TestMaxConnsClosesPendingFirst(t *testing.T) {
	cfg := DefaultTCPConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.MaxConns = 5
	cfg.MaxConnsPerSource = 100
	tr, err := NewTCP(cfg)
	require.NoError(t, err)
	defer tr.Close()
	for range 10 {
		c, err := net.Dial("tcp", tr.LocalAddr())
		require.NoError(t, err)
		defer c.Close()
	}
	require.Eventually(t, func() bool { return tr.Stats().RefusedConnLimit == 5 }, 10*time.Second, 5*time.Millisecond)
	_, in := openPeers(tr)
	assert.Equal(t, 5, in, "the newest five stay, waiting for their handshake")
}

// TestHandshakeWireFormat pins the handshake bytes shown in
// docs/protocol.md.
func TestHandshakeWireFormat(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteFrame(&b, appendHandshake(nil, "127.0.0.1:7001"), maxHandshakeSize))
	assert.Equal(t, "000000134853415902313237"+"2e302e302e313a37303031", fmt.Sprintf("%x", b.Bytes()))
	addr, _, err := parseHandshakeOffer(b.Bytes()[FrameHeaderSize:])
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7001", addr)
	for _, bad := range []string{"", "HSAY", "HSAY\x01127.0.0.1:1", "HSAY\x03127.0.0.1:1", "HSAY\x02", "HSAY\x02no-port", "XSAY\x02127.0.0.1:1"} {
		_, _, err := parseHandshakeOffer([]byte(bad))
		assert.ErrorIs(t, err, errHandshake, "%q", bad)
	}
}
