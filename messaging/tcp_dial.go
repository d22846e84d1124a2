package messaging

import (
	"net/netip"
	"time"
)

// The dial queue holds Sends to addresses without a connection while no
// connection can be opened: MaxDials dials are under way, or MaxConns
// connections are open and none may be closed yet (each was used in the
// last evictMinIdle). Before it, such a Send was dropped, and at a join,
// when every node dials dozens of peers at once, each dropped echo or
// answer cost its sender a whole gossip interval.
//
// The queue is first in, first out by address, and bounded: DialQueueFrames
// frames and DialQueueBytes bytes in all, QueueSize frames and QueueBytes
// bytes per address. It holds frames, not connections: no goroutine, no
// socket and no connection queue exists for a waiting address. It is
// pumped when a dial ends, when a connection closes, on each Send that
// needs a new connection, and by a timer while something waits (a
// connection becomes evictable with time alone). An address whose frames
// waited longer than DialQueueTimeout when its turn comes is dropped, and
// counted in [Stats.DroppedDialWait].

// dialRetry is how often the queue is pumped while something waits and
// nothing else pumps it.
const dialRetry = 25 * time.Millisecond

// dialQueue is the state of the dial queue; guarded by TCP.mu.
type dialQueue struct {
	fifo   []*dialWait          // waiting addresses, oldest first
	byAddr map[string]*dialWait // the same, by address
	frames int                  // frames waiting, all addresses
	bytes  int                  // their size, as counted against QueueBytes
	timer  *time.Timer          // pumps the queue while it is not empty
	armed  bool                 // timer is pending
}

// dialWait is one address's frames waiting for a connection, in order.
type dialWait struct {
	addr   string
	frames []outFrame
	bytes  int
	since  time.Time // when its first frame began to wait
}

// startNowLocked opens a connection to addr if that needs no waiting:
// nobody waits ahead, a dial slot is free and there is room under
// MaxConns. It returns nil if the caller must wait.
func (t *TCP) startNowLocked(addr string, now time.Time) *conn {
	t.pumpLocked(now) // those waiting go first
	if len(t.waits.fifo) > 0 || t.dialing >= t.cfg.MaxDials || !t.makeRoomLocked(now, false) {
		return nil
	}
	return t.dialLocked(addr)
}

// dialLocked registers an outbound connection to addr and starts dialling.
func (t *TCP) dialLocked(addr string) *conn {
	c := t.newConnLocked(addr, netip.Addr{}, true)
	t.byAddr[addr] = c
	t.dialing++
	t.wg.Go(func() { t.runOutbound(c) })
	return c
}

// waitLocked queues f for addr in the dial queue.
func (t *TCP) waitLocked(addr string, f outFrame, now time.Time) error {
	q := &t.waits
	w := q.byAddr[addr]
	if w != nil && (len(w.frames) >= t.cfg.QueueSize || w.bytes+f.size > t.cfg.QueueBytes) {
		t.stats.droppedQueueFull.Add(1)
		return ErrQueueFull
	}
	if q.frames >= t.cfg.DialQueueFrames || q.bytes+f.size > t.cfg.DialQueueBytes {
		t.stats.droppedConnLimit.Add(1)
		return ErrConnLimit
	}
	if w == nil {
		w = &dialWait{addr: addr, since: now}
		q.byAddr[addr] = w
		q.fifo = append(q.fifo, w)
	}
	w.frames = append(w.frames, f)
	w.bytes += f.size
	q.frames++
	q.bytes += f.size
	t.stats.dialQueued.Add(1)
	t.armPumpLocked()
	return nil
}

// takeWaitLocked removes addr's frames from the dial queue and returns
// them, nil if none wait.
func (t *TCP) takeWaitLocked(addr string) *dialWait {
	q := &t.waits
	w := q.byAddr[addr]
	if w == nil {
		return nil
	}
	delete(q.byAddr, addr)
	for i, x := range q.fifo {
		if x == w {
			q.fifo = append(q.fifo[:i], q.fifo[i+1:]...)
			break
		}
	}
	q.frames -= len(w.frames)
	q.bytes -= w.bytes
	return w
}

// pumpLocked starts dials for waiting addresses, oldest first, while
// dial slots and room allow, dropping those that waited too long.
func (t *TCP) pumpLocked(now time.Time) {
	q := &t.waits
	for len(q.fifo) > 0 && !t.closed {
		w := q.fifo[0]
		if now.Sub(w.since) > t.cfg.DialQueueTimeout {
			t.takeWaitLocked(w.addr)
			t.stats.droppedDialWait.Add(uint64(len(w.frames)))
			continue
		}
		if t.dialing >= t.cfg.MaxDials || !t.makeRoomLocked(now, false) {
			break
		}
		t.takeWaitLocked(w.addr)
		c := t.dialLocked(w.addr)
		for _, f := range w.frames {
			_ = t.enqueueLocked(c, f) // fits: bounded by QueueSize and QueueBytes
		}
	}
	if len(q.fifo) > 0 {
		t.armPumpLocked()
	}
}

// pump is pumpLocked for callers that do not hold the lock.
func (t *TCP) pump() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.waits.armed = false
	t.pumpLocked(time.Now())
}

// armPumpLocked makes sure the queue is pumped within dialRetry.
func (t *TCP) armPumpLocked() {
	q := &t.waits
	if q.armed || t.closed {
		return
	}
	q.armed = true
	if q.timer == nil {
		q.timer = time.AfterFunc(dialRetry, t.pump)
		return
	}
	q.timer.Reset(dialRetry)
}

// moveWaitingLocked puts the frames waiting for addr, if any, on c, in
// order: a connection from addr arrived first.
func (t *TCP) moveWaitingLocked(addr string, c *conn) {
	if w := t.takeWaitLocked(addr); w != nil {
		for _, f := range w.frames {
			_ = t.enqueueLocked(c, f) // counted if it does not fit
		}
	}
}

// dropWaitingLocked drops everything in the dial queue, for Close.
func (t *TCP) dropWaitingLocked() {
	q := &t.waits
	if q.timer != nil {
		q.timer.Stop()
	}
	t.stats.droppedClosed.Add(uint64(q.frames))
	q.fifo, q.byAddr, q.frames, q.bytes = nil, map[string]*dialWait{}, 0, 0
}
