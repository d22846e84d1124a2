package messaging

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// readBufferSize is the size of the buffered reader on each inbound
// connection: large enough to read a typical gossip frame in one system call.
const readBufferSize = 16 << 10

// TCP is a [Transport] that carries length-prefixed frames (see [WriteFrame])
// over TCP, on IPv4 or IPv6.
//
// # Connections
//
// Each direction between two nodes has its own connection: a node writes to
// a peer only on the connection it dialled, and reads only on connections it
// accepted. Outbound, each destination address gets one reused connection
// with a bounded queue of QueueSize frames and one writer goroutine, created
// by the first Send to that address and retired, with its connection, after
// IdleTimeout without frames. Inbound, each accepted connection gets one
// reader goroutine that pushes every frame onto the Packets channel without
// blocking, and is closed after IdleTimeout without frames.
//
// # Failures
//
// Send never blocks and never waits for the network. It returns
// [ErrQueueFull] when the destination's queue is full. When a dial or a
// write fails, the writer drops the frame it was sending and every queued
// frame, closes the connection and waits a backoff (exponential from
// BackoffMin to BackoffMax, with jitter) before it dials again. During that
// wait Send drops frames for that destination at once and returns
// [ErrUnreachable] instead of queueing them: gossip is periodic, so a fresh
// message after the backoff is worth more than a stale queued one. The next
// frame after the backoff triggers the redial; the first frame written
// successfully resets the backoff. An incoming frame over MaxFrameSize, or
// an empty one, closes its connection, because the stream cannot be trusted
// after it. Every dropped frame is counted in [TCP.Stats].
//
// # Concurrency
//
// All methods are safe for concurrent use. Close stops the listener, closes
// every connection, drops every queued frame, waits for every goroutine the
// transport started and only then closes the Packets channel; it is
// idempotent, and every call returns after the shutdown is complete.
type TCP struct {
	cfg   TCPConfig // defaults applied; read-only after NewTCP
	log   zerolog.Logger
	ln    net.Listener
	inbox chan Packet // closed by Close, after every goroutine has stopped
	stats counters

	ctx    context.Context // cancelled by Close; every goroutine watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop, the inbound readers and the peer writers
	done   chan struct{}  // closed when Close has finished

	mu      sync.Mutex // guards closed, peers, inbound and each peer's backingOff
	closed  bool
	peers   map[string]*peer      // outbound side, by destination address
	inbound map[net.Conn]struct{} // accepted connections, so that Close can close them
}

var _ Transport = (*TCP)(nil)

// NewTCP validates cfg, listens on cfg.BindAddr and starts accepting
// connections. The listener is bound when NewTCP returns, so
// [TCP.LocalAddr] reports the real port. The caller must call [TCP.Close].
func NewTCP(cfg TCPConfig) (*TCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("messaging: listen on %s: %w", cfg.BindAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCP{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("transport", "tcp").Str("local", ln.Addr().String()).Logger(),
		ln:      ln,
		inbox:   make(chan Packet, cfg.InboxSize),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		peers:   make(map[string]*peer),
		inbound: make(map[net.Conn]struct{}),
	}
	t.wg.Go(t.acceptLoop)
	return t, nil
}

// Send queues payload for delivery to addr ("host:port") and returns
// without waiting for the network. The transport owns payload after the
// call. It returns [ErrClosed] after Close, an error wrapping
// [ErrFrameTooLarge] or [ErrEmptyFrame] for a payload of the wrong size,
// [ErrUnreachable] while addr is backing off after a failed dial or write,
// and [ErrQueueFull] when addr's queue is full. In each of these cases the
// frame is dropped and counted. A nil error means the frame was queued; it
// can still be lost later, and is then counted as DroppedSendError.
func (t *TCP) Send(addr string, payload []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.stats.droppedClosed.Add(1)
		return ErrClosed
	}
	if err := checkFrameSize(len(payload), t.cfg.MaxFrameSize); err != nil {
		t.stats.countRejected(err)
		return fmt.Errorf("messaging: send to %s: %w", addr, err)
	}
	p := t.peers[addr]
	if p == nil {
		p = &peer{addr: addr, queue: make(chan []byte, t.cfg.QueueSize)}
		t.peers[addr] = p
		t.wg.Go(func() { t.writeLoop(p) })
	}
	if p.backingOff {
		t.stats.droppedSendError.Add(1)
		return ErrUnreachable
	}
	select {
	case p.queue <- payload:
		return nil
	default:
		t.stats.droppedQueueFull.Add(1)
		return ErrQueueFull
	}
}

// Packets returns the channel of received frames. Packet.Remote is the
// address of the connection the frame came on, whose port is usually the
// sender's ephemeral port, not its listening port. The channel is closed
// by Close after the last frame.
func (t *TCP) Packets() <-chan Packet { return t.inbox }

// LocalAddr returns the address of the listener, with the port actually
// bound, for example "127.0.0.1:41234" or "[::1]:41234".
func (t *TCP) LocalAddr() string { return t.ln.Addr().String() }

// MaxFrameSize returns the largest payload, in bytes, that the transport
// sends or accepts.
func (t *TCP) MaxFrameSize() int { return t.cfg.MaxFrameSize }

// Stats returns a snapshot of the transport's counters.
func (t *TCP) Stats() Stats { return t.stats.snapshot() }

// Close stops the transport: it closes the listener and every connection,
// drops queued frames (counted as DroppedClosed), waits for every goroutine
// the transport started and then closes the Packets channel. Frames already
// on that channel can still be read. Close is idempotent; every call
// returns once the shutdown is complete.
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		<-t.done
		return nil
	}
	t.closed = true
	peers := slices.Collect(maps.Values(t.peers))
	inbound := slices.Collect(maps.Keys(t.inbound))
	t.mu.Unlock()

	t.cancel()
	err := t.ln.Close()
	for _, c := range inbound {
		_ = c.Close()
	}
	for _, p := range peers {
		p.interrupt()
	}
	t.wg.Wait()
	close(t.inbox)
	close(t.done)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("messaging: close listener %s: %w", t.LocalAddr(), err)
	}
	return nil
}

// acceptLoop accepts inbound connections and starts a reader for each, until
// Close closes the listener.
func (t *TCP) acceptLoop() {
	var delay time.Duration
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure such as running out of file
			// descriptors: wait a little, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
			if !t.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		ok, full := t.track(conn)
		if full {
			t.stats.refusedConns.Add(1)
			_ = conn.Close()
			continue
		}
		if !ok {
			_ = conn.Close()
			return
		}
		t.wg.Go(func() { t.readLoop(conn) })
	}
}

// track registers an accepted connection so that Close can close it. ok is
// false if the transport is already closed; full is true if
// MaxInboundConns connections are open.
func (t *TCP) track(conn net.Conn) (ok, full bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false, false
	}
	if len(t.inbound) >= t.cfg.MaxInboundConns {
		return true, true
	}
	t.inbound[conn] = struct{}{}
	return true, false
}

// untrack closes an accepted connection and forgets it.
func (t *TCP) untrack(conn net.Conn) {
	_ = conn.Close()
	t.mu.Lock()
	delete(t.inbound, conn)
	t.mu.Unlock()
}

// readLoop reads frames from one accepted connection and delivers them,
// until the connection fails, idles out, breaks the framing or is closed.
func (t *TCP) readLoop(conn net.Conn) {
	defer t.untrack(conn)
	remote := conn.RemoteAddr().String()
	r := bufio.NewReaderSize(conn, readBufferSize)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout)); err != nil {
			return
		}
		payload, err := ReadFrame(r, t.cfg.MaxFrameSize, nil)
		if err != nil {
			t.readFailed(remote, err)
			return
		}
		t.deliver(Packet{Payload: payload, Remote: remote})
	}
}

// deliver pushes a received frame onto the Packets channel, or drops it if
// the channel is full.
func (t *TCP) deliver(p Packet) {
	select {
	case t.inbox <- p:
		t.stats.received(len(p.Payload))
	default:
		t.stats.droppedInboxFull.Add(1)
	}
}

// readFailed counts and logs the error that ended an inbound connection.
func (t *TCP) readFailed(remote string, err error) {
	log := t.log.With().Str("remote", remote).Logger()
	switch {
	case t.ctx.Err() != nil:
		// Closed by Close.
	case errors.Is(err, ErrFrameTooLarge):
		t.stats.droppedTooLarge.Add(1)
		log.Warn().Err(err).Msg("closing connection: frame over the size limit")
	case errors.Is(err, ErrEmptyFrame):
		t.stats.droppedMalformed.Add(1)
		log.Warn().Err(err).Msg("closing connection: empty frame")
	case errors.Is(err, io.ErrUnexpectedEOF):
		t.stats.droppedMalformed.Add(1)
		log.Debug().Err(err).Msg("connection closed inside a frame")
	case errors.Is(err, io.EOF):
		log.Debug().Msg("connection closed by peer")
	case errors.Is(err, os.ErrDeadlineExceeded):
		log.Debug().Dur("idle_timeout", t.cfg.IdleTimeout).Msg("closing idle connection")
	default:
		log.Debug().Err(err).Msg("connection failed")
	}
}

// sleep waits for d, or until Close. It returns false if Close came first.
func (t *TCP) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}
