package messaging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/messaging/ratelog"
)

// TCP is a [Transport] that carries length-prefixed frames (see [WriteFrame])
// over TCP, on IPv4 or IPv6.
//
// # Connections
//
// One connection per peer pair carries frames both ways. The dialer's
// first frame is a handshake naming the address it listens on
// (docs/protocol.md); the acceptor then sends to that address on this
// connection rather than dialling back, provided the handshake's host is the
// IP the connection comes from (on a shared host another local process can
// claim a neighbour's address: see [verifiedClaim]). When two nodes dial
// each other at once, both keep the connection dialled by the node with the
// lower address and close the other once its queue is empty and it has
// been quiet for 2 s, so that answers to the requests it carried, which
// come back on it, still arrive.
//
// Each connection has a bounded queue of QueueSize frames, one writer and
// one reader goroutine, and closes after IdleTimeout without a frame either
// way. At most MaxConns are open at once: a new one closes a connection
// that is slow to send its handshake, else the one idle the longest (for
// at least [evictMinIdle]), else one still waiting for its handshake;
// a connection used in the last evictMinIdle, which may be waiting for an
// answer, is kept. Accepted connections must send their handshake within
// HandshakeTimeout, and at most MaxConnsPerSource of them per source IP
// may go without it for longer than HandshakeGrace. At most MaxDials dials
// run at once. A Send that needs a connection when no dial slot or no room
// is free waits in the dial queue (bounded by DialQueueFrames and
// DialQueueBytes, expired after DialQueueTimeout) instead of being
// dropped. Refused connections are counted by reason in [Stats.Refusals].
//
// A received [Packet] carries a Reply function that queues an answer on the
// connection the frame came in on: answers go to whoever sent the request,
// never to an address the request claims.
//
// # Security
//
// With TCPConfig.Security set, every connection first runs a keyring
// hello or a mutual TLS 1.3 handshake (see [Security]), within
// HandshakeTimeout and while it counts as awaiting its handshake; a peer
// in another mode, or without valid credentials, is refused and counted
// before any of its frames is decoded.
//
// # Failures
//
// Send never blocks and never waits for the network. It returns
// [ErrQueueFull] when the connection's queue is full and [ErrConnLimit]
// when the dial queue is full. When a dial fails, its frames are
// dropped and the address backs off (exponential from BackoffMin to
// BackoffMax, with jitter): until then Send drops frames for it at once and
// returns [ErrUnreachable], without a goroutine or a connection. When a
// write fails, or the peer closes the connection, queued frames are dropped
// and the next Send dials again. An incoming frame over MaxFrameSize, or an
// empty one, closes its connection, because the stream cannot be trusted
// after it. Every dropped frame is counted in [TCP.Stats]; warnings about
// bad peers are logged at a bounded rate.
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
	bind  netip.AddrPort // the bound address, for claims and dial sources
	inbox chan Packet    // closed by Close, after every goroutine has stopped
	stats counters
	warns *ratelog.Limiter // connection-level warnings about peers
	sec   *security        // credentials; mode none when plaintext
	dg    *datagrams       // the UDP side (udp.go); nil when datagrams are off

	ctx    context.Context // cancelled by Close; every goroutine watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and each connection's reader and writer
	done   chan struct{}  // closed when Close has finished

	mu      sync.Mutex // guards the fields below and each conn's mutable fields
	closed  bool
	conns   map[*conn]struct{}      // every open connection
	byAddr  map[string]*conn        // the connection Send uses for each peer address
	pending map[netip.Addr]int      // accepted connections past HandshakeGrace without a handshake, by source
	backoff map[string]backoffEntry // addresses whose last dial failed
	dialing int                     // dials in progress
	waits   dialQueue               // Sends waiting for a dial slot or room under MaxConns
	// sessions holds closed connections' codec sessions (tcp_session.go).
	sessions sessionCache
}

// backoffEntry is what the transport remembers of an address whose dial
// failed: no goroutine waits it out, Send compares the time.
type backoffEntry struct {
	failures int
	until    time.Time
}

// maxBackoffEntries bounds the backoff table, so that sends to a flood of
// unreachable addresses cost bounded memory; when it is full the expired
// entries go first, then arbitrary ones.
const maxBackoffEntries = 4096

var _ EnvelopeTransport = (*TCP)(nil)

// ErrConnLimit is returned by Send when a new connection is needed, none
// can be opened now (MaxDials dials under way, or MaxConns connections
// open and none of them may be closed), and the dial queue is full. The
// frame is dropped.
var ErrConnLimit = errors.New("connection limit reached")

// NewTCP validates cfg, listens on cfg.BindAddr and starts accepting
// connections. The listener is bound when NewTCP returns, so
// [TCP.LocalAddr] reports the real port. The caller must call [TCP.Close].
func NewTCP(cfg TCPConfig) (*TCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sec, err := cfg.newSecurity()
	if err != nil {
		return nil, err
	}
	ln, dg, err := cfg.listen(sec)
	if err != nil {
		return nil, err
	}
	bind, _ := netip.ParseAddrPort(ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCP{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("transport", "tcp").Str("local", ln.Addr().String()).Logger(),
		ln:      ln,
		bind:    bind,
		inbox:   make(chan Packet, cfg.InboxSize),
		warns:   ratelog.New(time.Second, 5),
		sec:     sec,
		dg:      dg,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		conns:   make(map[*conn]struct{}),
		byAddr:  make(map[string]*conn),
		pending: make(map[netip.Addr]int),
		backoff: make(map[string]backoffEntry),
		waits:   dialQueue{byAddr: make(map[string]*dialWait)},

		sessions: newSessionCache(max(cfg.CodecSessionBytes, 0)),
	}
	t.wg.Go(t.acceptLoop)
	if dg != nil {
		t.wg.Go(t.readDatagrams)
	}
	return t, nil
}

// Send queues payload for delivery to addr ("host:port") and returns
// without waiting for the network, on the connection to addr if one is
// open (dialled here or accepted from addr), else on a new one. The
// transport owns payload after the call. It returns [ErrClosed] after
// Close, an error wrapping [ErrFrameTooLarge] or [ErrEmptyFrame] for a
// payload of the wrong size, [ErrUnreachable] while addr is backing off
// after a failed dial, [ErrConnLimit] when no connection can be opened now
// and the dial queue is full, and [ErrQueueFull] when the connection's
// queue (or the address's share of the dial queue) is full. In each of these cases
// the frame is dropped and counted. A nil error means the frame was queued;
// it can still be lost later, and is then counted as DroppedSendError.
func (t *TCP) Send(addr string, payload []byte) error {
	return t.send(addr, outFrame{payload: payload, size: len(payload)})
}

// send queues f for addr, dialling if needed.
func (t *TCP) send(addr string, f outFrame) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkSendLocked(f); err != nil {
		return fmt.Errorf("messaging: send to %s: %w", addr, err)
	}
	c := t.byAddr[addr]
	if c == nil {
		now := time.Now()
		if b, ok := t.backoff[addr]; ok && now.Before(b.until) {
			t.stats.droppedSendError.Add(1)
			return ErrUnreachable
		}
		if c = t.startNowLocked(addr, now); c == nil {
			return t.waitLocked(addr, f, now)
		}
	}
	return t.enqueueLocked(c, f)
}

// SendEnvelope queues e for delivery to addr like [TCP.Send]; the
// connection's writer encodes it in the lean encoding right before writing
// it. It returns [ErrNoCodec] if the transport has no Codec, and otherwise
// Send's errors. The transport owns e after the call: the caller must not
// change it.
func (t *TCP) SendEnvelope(addr string, e *Envelope) error {
	if t.cfg.Codec == nil {
		return ErrNoCodec
	}
	if t.dg != nil && datagramRequest(e) {
		if sent, err := t.sendEcho(addr, e); sent {
			return err
		}
		t.stats.datagramFallbacks.Add(1)
	}
	return t.send(addr, envFrame(e))
}

// Codec returns the codec of the lean encoding, nil when the transport
// carries raw payloads.
func (t *TCP) Codec() *Codec { return t.cfg.Codec }

// envFrame queues an envelope, counted against QueueBytes at an upper
// bound of its size.
func envFrame(e *Envelope) outFrame { return outFrame{env: e, size: SizeBound(e)} }

// reply queues f on connection c, for [Packet.Reply] and
// [Packet.ReplyEnvelope]; if the node at the other end of c is known (c
// was dialled here, or its handshake's claim was verified) and Send uses
// another connection to it, the answer goes on that one: c may have lost
// a simultaneous open, or been closed, since the request came.
func (t *TCP) reply(c *conn, f outFrame) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkSendLocked(f); err != nil {
		return fmt.Errorf("messaging: reply to %s: %w", c.remote, err)
	}
	if c.peer != "" {
		if w := t.byAddr[c.peer]; w != nil && w != c && !w.closed {
			c = w
		} else if c.closed && t.waits.byAddr[c.peer] != nil {
			return t.waitLocked(c.peer, f, time.Now())
		}
	}
	if c.closed {
		t.stats.droppedSendError.Add(1)
		return ErrUnreachable
	}
	return t.enqueueLocked(c, f)
}

// checkSendLocked returns, and counts, why f cannot be sent at all. An
// envelope's size is checked when it is encoded.
func (t *TCP) checkSendLocked(f outFrame) error {
	if t.closed {
		t.stats.droppedClosed.Add(1)
		return ErrClosed
	}
	if f.env != nil {
		return nil
	}
	if err := checkFrameSize(len(f.payload), t.cfg.MaxFrameSize); err != nil {
		t.stats.countRejected(err)
		return err
	}
	return nil
}

// enqueueLocked queues f on c without blocking, within QueueSize
// frames and QueueBytes bytes.
func (t *TCP) enqueueLocked(c *conn, f outFrame) error {
	if c.queued.Load()+int64(f.size) > int64(t.cfg.QueueBytes) {
		t.stats.droppedQueueFull.Add(1)
		return ErrQueueFull
	}
	select {
	case c.queue <- f:
		c.queued.Add(int64(f.size))
		return nil
	default:
		t.stats.droppedQueueFull.Add(1)
		return ErrQueueFull
	}
}

// Packets returns the channel of received frames. Packet.Remote is the
// address of the connection the frame came on (for an accepted connection,
// usually the sender's ephemeral port, not its listening port), and
// Packet.Reply answers on that connection. The channel is closed by Close
// after the last frame.
func (t *TCP) Packets() <-chan Packet { return t.inbox }

// LocalAddr returns the address of the listener, with the port actually
// bound, for example "127.0.0.1:41234" or "[::1]:41234".
func (t *TCP) LocalAddr() string { return t.ln.Addr().String() }

// MaxFrameSize returns the largest payload, in bytes, that the transport
// sends or accepts.
func (t *TCP) MaxFrameSize() int { return t.cfg.MaxFrameSize }

// Stats returns a snapshot of the transport's counters.
func (t *TCP) Stats() Stats {
	s := t.stats.snapshot()
	t.mu.Lock()
	s.OpenConns = uint64(len(t.conns))
	s.CodecSessions, s.CodecSessionBytes = uint64(len(t.sessions.byPeer)), uint64(t.sessions.bytes)
	t.mu.Unlock()
	s.CredentialReloads = t.sec.reloads.Load()
	return s
}

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
	t.cancel()
	t.dropWaitingLocked()
	for c := range t.conns {
		t.closeConnLocked(c)
	}
	t.mu.Unlock()

	err := t.ln.Close()
	if t.dg != nil {
		_ = t.dg.pc.Close()
	}
	t.wg.Wait()
	close(t.inbox)
	close(t.done)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("messaging: close listener %s: %w", t.LocalAddr(), err)
	}
	return nil
}

// acceptLoop accepts inbound connections and starts a reader and a writer
// for each, until Close closes the listener.
func (t *TCP) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if !t.retryAfter(err, &delay, "accept failed") {
				return
			}
			continue
		}
		delay = 0
		if !t.admit(nc) {
			_ = nc.Close()
		}
	}
}

// admit registers an accepted connection and starts its goroutines. It
// returns false if the connection must be closed: the transport is closed
// or MaxConns connections are open and busy.
func (t *TCP) admit(nc net.Conn) bool {
	src, _ := remoteIP(nc.RemoteAddr())
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if !t.makeRoomLocked(time.Now(), true) {
		t.stats.refused(refuseConnLimit)
		t.warns.Event(&t.log, zerolog.WarnLevel).Str("remote", nc.RemoteAddr().String()).
			Int("max_conns", t.cfg.MaxConns).Msg("refused connection: every connection is busy")
		return false
	}
	c := t.newConnLocked("", src, false)
	c.nc = nc
	c.remote = nc.RemoteAddr().String()
	c.awaiting = true
	t.wg.Go(func() { t.readLoop(c) })
	t.wg.Go(func() { t.writeLoop(c) })
	return true
}

// evictMinIdle is how long a connection must have carried no frame,
// either way, before it may be closed to make room under MaxConns: a
// request it carried (an echo, a Syn) is answered on it, and closing it
// sooner lost answers, each costing the requester a gossip interval.
const evictMinIdle = 250 * time.Millisecond

// demotedMinIdle is how long a connection that lost a simultaneous open
// must have been quiet before it may be closed to make room: the peer
// answers requests it carried on the winner (see [TCP.reply]) once it
// knows of the winner, which takes it a few milliseconds at most.
const demotedMinIdle = 20 * time.Millisecond

// makeRoomLocked returns true if one more connection may open, closing one
// if MaxConns are open. Only a connection with nothing queued or being
// written is closed; in order of preference: one past HandshakeGrace
// without its handshake (oldest first); one that lost a simultaneous open
// and has been quiet for demotedMinIdle; the one idle the longest, if for
// evictMinIdle or more. Beyond these, for an accepted connection (inbound,
// whose peer loses its frames if it is refused): the oldest still waiting
// for its handshake within the grace (so that a flood of half-open
// connections gives way to new ones), then the least recently used. An
// outbound Send does not go that far: it waits in the dial queue.
func (t *TCP) makeRoomLocked(now time.Time, inbound bool) bool {
	if len(t.conns) < t.cfg.MaxConns {
		return true
	}
	var victim *conn
	victimRank := 0
	for c := range t.conns {
		if c.dialing || len(c.queue) > 0 || c.writing {
			continue
		}
		rank := 0
		switch idle := now.Sub(time.Unix(0, c.active.Load())); {
		case c.awaiting && c.slow:
			rank = 1
		case c.awaiting && inbound:
			rank = 4
		case c.awaiting:
			continue // an outbound Send waits rather than close an honest peer's new connection
		case c.demoted && idle >= demotedMinIdle:
			rank = 2 // answers to what it carried go on the winner
		case idle >= evictMinIdle:
			rank = 3
		case inbound:
			rank = 5 // the peer's connection is certain to be lost if refused
		default:
			continue // may be waiting for an answer; an outbound Send waits
		}
		if victim == nil || rank < victimRank || rank == victimRank && c.active.Load() < victim.active.Load() {
			victim, victimRank = c, rank
		}
	}
	if victim == nil {
		return false
	}
	if victim.awaiting {
		reason, msg := refuseConnLimit, "connection limit: closing a connection without a handshake"
		if t.awaitingFromLocked(victim.src) > t.cfg.MaxConnsPerSource {
			reason, msg = refusePerSource, "too many connections without a handshake from one source"
		}
		t.refuseLocked(victim, reason, msg)
	} else {
		t.stats.evictedConns.Add(1)
		t.abortConnLocked(victim)
	}
	return true
}

// awaitingFromLocked counts the accepted connections from src still
// waiting for their handshake, slow or not.
func (t *TCP) awaitingFromLocked(src netip.Addr) int {
	n := 0
	for c := range t.conns {
		if c.awaiting && c.src == src {
			n++
		}
	}
	return n
}

// refuseLocked closes c, counting and logging (at a bounded rate) why.
func (t *TCP) refuseLocked(c *conn, reason, msg string) {
	t.stats.refused(reason)
	t.warns.Event(&t.log, zerolog.WarnLevel).Str("remote", c.remote).Str("reason", reason).Msg(msg)
	t.closeConnLocked(c)
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

// retryAfter handles a failed accept or datagram read in a receive loop:
// it returns false when the transport is closing; else, for a transient
// failure such as running out of file descriptors, it logs msg and waits
// a delay that doubles with each failure in a row (5 ms to 1 s, as
// net/http does) and returns true, unless the transport closes first.
func (t *TCP) retryAfter(err error, delay *time.Duration, msg string) bool {
	if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	*delay = min(max(2**delay, 5*time.Millisecond), time.Second)
	t.warns.Event(&t.log, zerolog.WarnLevel).Err(err).Dur("retry_in", *delay).Msg(msg)
	return t.sleep(*delay)
}
