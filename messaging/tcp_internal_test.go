package messaging

import (
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

// openPeers returns how many outbound peers and inbound connections tr has.
func openPeers(tr *TCP) (outbound, inbound int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.peers), len(tr.inbound)
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
