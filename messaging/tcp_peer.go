package messaging

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writeBufferSize is the size of the buffered writer on each outbound
// connection. Frames queued together are flushed in one system call.
const writeBufferSize = 16 << 10

// peer is the outbound side of one destination address: a bounded queue fed
// by Send and drained by one writer goroutine ([TCP.writeLoop]), which owns
// the connection.
type peer struct {
	addr  string      // destination, exactly as given to Send
	queue chan []byte // frames waiting for the writer; capacity QueueSize

	// backingOff is true while the writer waits before redialling after a
	// failure; Send then drops frames instead of queueing them. Guarded by
	// TCP.mu.
	backingOff bool

	// mu guards conn against the race between the writer, which sets and
	// clears it, and Close, which closes it to interrupt a blocked write.
	// The writer may read conn without mu, since it is its only writer.
	mu   sync.Mutex
	conn net.Conn

	// Owned by the writer goroutine.
	out      *bufio.Writer // buffers frames to conn; nil while disconnected
	failures int           // consecutive failed dials or writes, for the backoff
}

// interrupt closes the connection, if any, so that a write blocked on it
// returns. The writer clears the field itself when it notices.
func (p *peer) interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// disconnect closes and forgets the connection. Only the writer calls it.
func (p *peer) disconnect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
	p.out = nil
}

// nextQueued returns the next queued frame without waiting, or nil if the
// queue is empty.
func (p *peer) nextQueued() []byte {
	select {
	case b := <-p.queue:
		return b
	default:
		return nil
	}
}

// writeLoop is the writer goroutine of one peer. It writes queued frames,
// handles failures with a backoff, and retires the peer after IdleTimeout
// without frames, or at Close.
func (t *TCP) writeLoop(p *peer) {
	defer p.disconnect()
	idle := time.NewTimer(t.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-t.ctx.Done():
			t.dropQueued(p, &t.stats.droppedClosed)
			return
		case <-idle.C:
			if t.retire(p) {
				t.log.Debug().Str("peer", p.addr).Msg("closing idle outbound connection")
				return
			}
		case payload := <-p.queue:
			if lost, err := t.writeBatch(p, payload); err != nil {
				if !t.backOff(p, lost, err) {
					return
				}
			}
		}
		idle.Reset(t.cfg.IdleTimeout)
	}
}

// writeBatch writes first and then every frame already queued, up to
// QueueSize frames, and flushes them, dialling first if needed. On failure
// it returns how many frames were lost with the error.
func (t *TCP) writeBatch(p *peer, first []byte) (lost int, err error) {
	if p.out == nil {
		if err := t.dial(p); err != nil {
			return 1, err
		}
	}
	frames, size := 0, 0
	for payload := first; payload != nil; {
		if p.out.Available() < FrameHeaderSize+len(payload) {
			// The frame will reach the socket now; bound that write.
			t.setWriteDeadline(p)
		}
		frames++
		if err := WriteFrame(p.out, payload, t.cfg.MaxFrameSize); err != nil {
			return frames, fmt.Errorf("write to %s: %w", p.addr, err)
		}
		size += len(payload)
		if frames == t.cfg.QueueSize {
			break // flush now and then; the rest waits for the next batch
		}
		payload = p.nextQueued()
	}
	t.setWriteDeadline(p)
	if err := p.out.Flush(); err != nil {
		return frames, fmt.Errorf("write to %s: %w", p.addr, err)
	}
	t.stats.sent(frames, size)
	p.failures = 0
	return 0, nil
}

// setWriteDeadline bounds the next writes to p's connection by WriteTimeout.
func (t *TCP) setWriteDeadline(p *peer) {
	// An error here means the connection is closed; the write reports it.
	_ = p.conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
}

// dial connects to p and installs the connection, unless Close has started.
func (t *TCP) dial(p *peer) error {
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	conn, err := d.DialContext(t.ctx, "tcp", p.addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", p.addr, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.ctx.Err() != nil {
		// Close ran while we dialled and did not see this connection.
		_ = conn.Close()
		return ErrClosed
	}
	p.conn = conn
	p.out = bufio.NewWriterSize(conn, writeBufferSize)
	return nil
}

// backOff handles a failed dial or write that lost frames: it closes the
// connection, counts the loss, drops the queue and waits out the backoff,
// during which Send refuses frames for p. It returns false if Close started,
// in which case the writer must exit.
func (t *TCP) backOff(p *peer, lost int, err error) bool {
	p.disconnect()
	if t.ctx.Err() != nil {
		t.stats.droppedClosed.Add(uint64(lost))
		t.dropQueued(p, &t.stats.droppedClosed)
		return false
	}
	t.stats.droppedSendError.Add(uint64(lost))
	p.failures++
	delay := backoffDelay(p.failures, t.cfg.BackoffMin, t.cfg.BackoffMax, rand.Int64N)
	t.log.Debug().Err(err).Str("peer", p.addr).Int("failures", p.failures).
		Dur("backoff", delay).Msg("send failed, backing off")

	t.setBackingOff(p, true)
	t.dropQueued(p, &t.stats.droppedSendError)
	ok := t.sleep(delay)
	t.setBackingOff(p, false)
	if !ok {
		t.dropQueued(p, &t.stats.droppedClosed)
	}
	return ok
}

// setBackingOff sets p.backingOff under the lock that Send reads it with.
func (t *TCP) setBackingOff(p *peer, v bool) {
	t.mu.Lock()
	p.backingOff = v
	t.mu.Unlock()
}

// dropQueued empties p's queue, counting each frame in counter.
func (t *TCP) dropQueued(p *peer, counter *atomic.Uint64) {
	for p.nextQueued() != nil {
		counter.Add(1)
	}
}

// retire removes an idle peer from the transport, so that its writer can
// exit. It returns false if a frame was queued in the meantime: Send queues
// under t.mu, so once retire has seen an empty queue under t.mu and removed
// the peer, no frame can reach that queue any more.
func (t *TCP) retire(p *peer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p.queue) > 0 {
		return false
	}
	if t.peers[p.addr] == p {
		delete(t.peers, p.addr)
	}
	return true
}

// backoffDelay returns how long to wait after the n-th consecutive failure
// (n >= 1): a uniform draw from [base/2, base], where base = lo·2^(n-1)
// capped at hi. The jitter keeps peers that failed together from redialling
// together. randN returns a uniform integer in [0, n), like rand.Int64N.
func backoffDelay(n int, lo, hi time.Duration, randN func(int64) int64) time.Duration {
	base := lo
	for i := 1; i < n && base < hi; i++ {
		if base > hi/2 {
			base = hi
		} else {
			base *= 2
		}
	}
	base = min(base, hi)
	half := base / 2
	return half + time.Duration(randN(int64(base-half)+1))
}
