package messaging

import (
	"context"
	"time"
)

// flushPoll is how often Flush looks at the queues while frames remain.
const flushPoll = time.Millisecond

// Flush implements [Flusher]: it returns nil once no frame is left in
// the dial queue, in a connection's queue or in a writer's hands (each
// written and flushed to its socket, or dropped with its connection), or
// ctx's error when ctx ends first. Frames queued after the call began
// keep it waiting only while they are still queued; a connection that
// keeps being fed may keep Flush waiting until ctx ends, so callers pass
// a bounded ctx. It returns nil at once after Close.
func (t *TCP) Flush(ctx context.Context) error {
	var tick *time.Timer
	// The writer takes a frame off the queue an instant before it marks
	// itself writing: idle must hold on two looks in a row.
	quiet := 0
	for {
		if t.idle() {
			if quiet++; quiet == 2 {
				return nil
			}
		} else {
			quiet = 0
		}
		if tick == nil {
			tick = time.NewTimer(flushPoll)
			defer tick.Stop()
		} else {
			tick.Reset(flushPoll)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// idle reports whether no frame waits to be written: none in the dial
// queue, none queued on an open connection and no writer mid-batch.
func (t *TCP) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return true
	}
	if t.waits.frames > 0 {
		return false
	}
	for c := range t.conns {
		if c.closed {
			continue
		}
		if len(c.queue) > 0 || c.writing || c.queued.Load() > 0 {
			return false
		}
	}
	return true
}
