package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

var (
	_ messaging.Flusher = (*messaging.TCP)(nil)
	_ messaging.Flusher = (*messaging.MemTransport)(nil)
)

// TestTCPFlushWaitsForQueuedFrames: Flush returns once every frame queued
// before it (the dial included) is written: the sender's SentFrames
// counts them all when it returns, with nothing dropped.
func TestTCPFlushWaitsForQueuedFrames(t *testing.T) {
	a := newTCP(t, "127.0.0.1:0")
	b := newTCP(t, "127.0.0.1:0")
	payload := make([]byte, 64<<10)
	const n = 32
	for range n {
		require.NoError(t, a.Send(b.LocalAddr(), payload))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, a.Flush(ctx))
	s := a.Stats()
	assert.EqualValues(t, n, s.SentFrames, "every queued frame written when Flush returns: %+v", s)
	assert.Zero(t, s.DroppedSendError+s.DroppedQueueFull+s.DroppedClosed)

	require.NoError(t, a.Close())
	assert.NoError(t, a.Flush(ctx), "nothing left to flush after Close")
}

// TestTCPFlushBoundedByContext: behind a peer that never reads, the
// frames cannot leave; Flush gives up with ctx's error instead of
// blocking.
func TestTCPFlushBoundedByContext(t *testing.T) {
	addr := stalledPeer(t)
	tr, err := messaging.NewTCP(messaging.TCPConfig{
		BindAddr:     "127.0.0.1:0",
		QueueSize:    4,
		WriteTimeout: time.Hour,
	})
	require.NoError(t, err)
	defer func() { assert.NoError(t, tr.Close()) }()
	payload := make([]byte, 1<<20)
	for range 64 {
		if err := tr.Send(addr, payload); errors.Is(err, messaging.ErrQueueFull) {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, tr.Flush(ctx), context.DeadlineExceeded)
}
