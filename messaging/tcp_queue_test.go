package messaging_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// TestTCPQueueBytesBoundsAnswersToANonReader: a peer that draws answers
// and never reads them pins at most QueueBytes of them (plus what the
// writer holds and the kernel buffers), not QueueSize frames of the
// largest size. Before the cap, 128 answers of 1 MiB were queued on one
// connection: with forged sender IDs (the answer budget is per ID), a few
// such connections grew a node's heap by hundreds of MiB.
func TestTCPQueueBytesBoundsAnswersToANonReader(t *testing.T) {
	tr := newTCP(t, "127.0.0.1:0")
	conn := rawConn(t, tr.LocalAddr())
	_, err := conn.Write(append(header(1), 'x'))
	require.NoError(t, err)
	var p messaging.Packet
	select {
	case p = <-tr.Packets():
	case <-time.After(waitTimeout):
		require.FailNow(t, "no frame received")
	}
	require.NotNil(t, p.Reply)

	answer := make([]byte, messaging.DefaultMaxFrameSize)
	cfg := messaging.DefaultTCPConfig()
	queueBytes := 4 * messaging.DefaultMaxFrameSize // QueueBytes' default
	queued, full := 0, 0
	for range cfg.QueueSize {
		switch err := p.Reply(answer); {
		case err == nil:
			queued++
		case errors.Is(err, messaging.ErrQueueFull):
			full++
		default:
			require.NoError(t, err)
		}
	}
	// QueueBytes holds 4 frames; one more is in the writer's hands, and
	// the loopback socket buffers take a few more before the writer
	// blocks.
	t.Logf("%d answers of 1 MiB queued or written, %d refused", queued, full)
	assert.LessOrEqual(t, queued, queueBytes/messaging.DefaultMaxFrameSize+1+16, "answers pinned for a peer that never reads")
	assert.NotZero(t, full)
	assert.EqualValues(t, full, tr.Stats().DroppedQueueFull)
}

func TestTCPConfigQueueBytes(t *testing.T) {
	cfg := messaging.TCPConfig{BindAddr: "127.0.0.1:0", QueueBytes: 1000}
	assert.ErrorContains(t, cfg.Validate(), "QueueBytes = 1000: must hold one frame of MaxFrameSize (1048576 bytes)")
	cfg.MaxFrameSize = 1000
	assert.NoError(t, cfg.Validate())
	cfg.QueueBytes, cfg.MaxFrameSize = 0, 64<<20
	assert.NoError(t, cfg.Validate(), "the default follows MaxFrameSize")
	cfg.QueueBytes = -1
	assert.ErrorContains(t, cfg.Validate(), "QueueBytes = -1")
}
