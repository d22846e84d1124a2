package messaging

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Buffer sizes of each connection: enough for a typical gossip frame in one
// system call, small enough that MaxConns connections per node, times
// hundreds of nodes in one test process, stay cheap.
const (
	readBufferSize  = 4 << 10
	writeBufferSize = 4 << 10
)

// conn is one TCP connection to a peer, either direction, with its bounded
// queue of outgoing frames. Its writer goroutine ([TCP.writeLoop], after
// [TCP.runOutbound] dialled it) owns the buffered writer; its reader
// goroutine ([TCP.readLoop]) owns the buffered reader.
type conn struct {
	queue chan outFrame // frames waiting for the writer; capacity QueueSize
	// queued is the payload bytes in queue, at most QueueBytes: added
	// under TCP.mu when a frame is queued, taken off when it leaves.
	queued atomic.Int64
	done   chan struct{} // closed when the connection is closed
	nudge  chan struct{} // capacity 1: wakes the writer after a demotion
	src    netip.Addr    // source IP of an accepted connection
	reply  func([]byte) error
	// replyEnv queues an envelope on this connection (Packet.ReplyEnvelope).
	replyEnv func(*Envelope) error
	// enc and dec are the lean encoding's tables of this connection (nil
	// without a Codec): the writer goroutine owns enc, the reader dec.
	enc *Encoder
	dec *Decoder
	// sess is the codec session's bookkeeping (tcp_session.go).
	sess sessionState
	// ready is closed once the connection's security handshake is done
	// (at once for a dialled connection, whose dialer did it): an accepted
	// connection's writer waits for it.
	ready chan struct{}
	// identity, seal and open are set by the security handshake, before
	// ready is closed: the TLS peer's names (nil without TLS), and the
	// keyring's sealer, owned by the writer, and opener, owned by the
	// reader (nil without a keyring).
	identity *Identity
	seal     *sealer
	open     *opener
	// frames counts the frames read (reader-owned); rbuf is the reader's
	// buffer for sealed frames.
	frames int
	rbuf   []byte
	// active is the time, in unix nanoseconds, of the last frame read or
	// written (or of the connection's creation): the idle timeout and the
	// least-recently-used eviction go by it.
	active atomic.Int64

	// Guarded by TCP.mu.
	nc   net.Conn // nil while dialling
	addr string   // the peer's listening address, "" if unknown or untrusted
	// peer is the listening address of the node at the other end, when
	// known and trusted (dialled here, or a verified claim), even if this
	// is not the connection Send uses for it: answers go on that one.
	peer     string
	remote   string // the connection's remote address, for logs
	outbound bool   // dialled here
	dialing  bool   // the dial is under way
	awaiting bool   // accepted, handshake not read yet
	slow     bool   // awaiting past HandshakeGrace: counted in TCP.pending
	writing  bool   // the writer holds frames taken from the queue
	demoted  bool   // lost a simultaneous open: close once the queue is empty and quiet
	closed   bool
}

// outFrame is one queued frame: payload bytes, or an envelope that the
// writer encodes with the connection's [Encoder] right before writing it,
// so that every encoded frame is written, in order, or the connection
// closes. size is what the frame counts against QueueBytes (for an
// envelope, an upper bound on its encoding).
type outFrame struct {
	payload []byte
	env     *Envelope
	size    int
}

// dequeued accounts for f taken off c's queue.
func (c *conn) dequeued(f outFrame) { c.queued.Add(-int64(f.size)) }

// newConnLocked creates a connection record and registers it.
func (t *TCP) newConnLocked(addr string, src netip.Addr, outbound bool) *conn {
	c := &conn{
		queue:    make(chan outFrame, t.cfg.QueueSize),
		done:     make(chan struct{}),
		nudge:    make(chan struct{}, 1),
		ready:    make(chan struct{}),
		src:      src,
		addr:     addr,
		peer:     addr,
		remote:   addr,
		outbound: outbound,
		dialing:  outbound,
	}
	c.reply = func(p []byte) error { return t.reply(c, outFrame{payload: p, size: len(p)}) }
	if codec := t.cfg.Codec; codec != nil {
		c.enc, c.dec = codec.NewEncoder(), codec.NewDecoder()
		c.replyEnv = func(e *Envelope) error { return t.reply(c, envFrame(e)) }
		if outbound {
			c.sess.replied = make(chan struct{})
		}
	}
	if outbound {
		close(c.ready) // runOutbound secures the connection before writing
	}
	c.active.Store(time.Now().UnixNano())
	t.conns[c] = struct{}{}
	return c
}

// closeConnLocked closes c and forgets it; its goroutines notice and exit,
// the writer dropping what is still queued. It is idempotent.
func (t *TCP) closeConnLocked(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	if c.nc != nil {
		_ = c.nc.Close()
	}
	c.awaiting = false
	if c.slow {
		c.slow = false
		t.releasePendingLocked(c.src)
	}
	if c.dialing {
		c.dialing = false
		t.dialing--
	}
	delete(t.conns, c)
	if c.addr != "" && t.byAddr[c.addr] == c {
		delete(t.byAddr, c.addr)
	}
}

// closeConn is closeConnLocked for callers that do not hold the lock;
// the room it frees goes to the dial queue.
func (t *TCP) closeConn(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeConnLocked(c)
	t.pumpLocked(time.Now())
}

// releasePendingLocked counts one fewer slow connection awaiting its
// handshake from src.
func (t *TCP) releasePendingLocked(src netip.Addr) {
	if t.pending[src]--; t.pending[src] <= 0 {
		delete(t.pending, src)
	}
}

// runOutbound dials c's address, sends the handshake and runs the writer.
func (t *TCP) runOutbound(c *conn) {
	nc, err := t.dial(c.addr)
	if err == nil {
		var sc net.Conn
		if sc, err = t.dialSecure(c, nc); err != nil {
			t.secureFailed(c.addr, err)
		} else {
			nc = sc
		}
	}
	t.mu.Lock()
	if c.dialing {
		c.dialing = false
		t.dialing--
	}
	if err != nil || c.closed {
		if err != nil {
			t.dialFailedLocked(c, err)
		}
		t.closeConnLocked(c)
		t.pumpLocked(time.Now()) // the dial slot is free: the dial queue goes on
		t.mu.Unlock()
		if nc != nil {
			// Closed while dialling (the peer's connection won): nothing
			// was written on nc; a reset leaves no TIME_WAIT (see
			// abortConnLocked).
			if tc := tcpConnOf(nc); tc != nil {
				_ = tc.SetLinger(0)
			}
			_ = nc.Close()
		}
		t.writeLoop(c) // drops the queue
		return
	}
	c.nc = nc
	c.remote = nc.RemoteAddr().String()
	delete(t.backoff, c.addr)
	t.stats.dialedConns.Add(1)
	t.pumpLocked(time.Now())
	t.mu.Unlock()
	t.wg.Go(func() { t.readLoop(c) })
	t.writeLoop(c)
}

// dial connects to addr within DialTimeout, from the bound IP when the
// transport is bound to a specific one of the same kind as addr's, so that
// the handshake's claim matches the source the peer sees.
func (t *TCP) dial(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	if dst, err := netip.ParseAddrPort(addr); err == nil {
		b := t.bind.Addr()
		if b.IsValid() && !b.IsUnspecified() && b.Is4() == dst.Addr().Unmap().Is4() &&
			b.IsLoopback() == dst.Addr().Unmap().IsLoopback() {
			d.LocalAddr = &net.TCPAddr{IP: b.AsSlice()}
		}
	}
	nc, err := d.DialContext(t.ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return nc, nil
}

// dialFailedLocked records a failed dial: addr backs off.
func (t *TCP) dialFailedLocked(c *conn, err error) {
	if t.closed {
		return
	}
	b := t.backoff[c.addr]
	b.failures++
	delay := backoffDelay(b.failures, t.cfg.BackoffMin, t.cfg.BackoffMax, rand.Int64N)
	b.until = time.Now().Add(delay)
	if len(t.backoff) >= maxBackoffEntries {
		t.pruneBackoffLocked()
	}
	t.backoff[c.addr] = b
	t.log.Debug().Err(err).Str("peer", c.addr).Int("failures", b.failures).
		Dur("backoff", delay).Msg("dial failed, backing off")
}

// pruneBackoffLocked makes room in the backoff table: expired entries
// first, then arbitrary ones down to half the bound.
func (t *TCP) pruneBackoffLocked() {
	now := time.Now()
	for a, b := range t.backoff {
		if now.After(b.until) {
			delete(t.backoff, a)
		}
	}
	for a := range t.backoff {
		if len(t.backoff) < maxBackoffEntries/2 {
			break
		}
		delete(t.backoff, a)
	}
}

// claim returns the address this node names in the handshake on nc.
func (t *TCP) claim(nc net.Conn) string {
	if t.cfg.AdvertiseAddr != "" {
		return t.cfg.AdvertiseAddr
	}
	if t.bind.Addr().IsUnspecified() {
		if ip, ok := remoteIP(nc.LocalAddr()); ok {
			return netip.AddrPortFrom(ip, t.bind.Port()).String()
		}
	}
	return t.LocalAddr()
}

// writeLoop writes c's queued frames, a dialled connection's handshake
// first, until c is closed or a write fails; it then drops what is queued
// and closes c.
func (t *TCP) writeLoop(c *conn) {
	defer t.loopExited(c)
	defer t.dropQueued(c)
	defer t.closeConn(c)
	select {
	case <-c.ready:
	case <-c.done:
		return
	}
	t.mu.Lock()
	nc, outbound := c.nc, c.outbound
	t.mu.Unlock()
	if nc == nil {
		return
	}
	w := bufio.NewWriterSize(nc, writeBufferSize)
	if outbound {
		// Flushed at once, not with the first batch: the frames queued
		// may have moved to the winner of a simultaneous open, and the
		// peer counts a connection without its handshake against its
		// source's MaxConnsPerSource.
		_ = t.writePayload(c, w, t.dialerHandshake(c, nc), maxHandshakeSize)
		t.setWriteDeadline(c)
		if err := w.Flush(); err != nil {
			t.log.Debug().Err(err).Str("peer", c.remote).Msg("handshake write failed, closing connection")
			awaitReader(c)
			return
		}
		if !awaitSessionReply(c) {
			return
		}
	} else if reply := t.sessionReply(c); reply != nil {
		_ = t.writePayload(c, w, reply, maxSessionReply)
		t.setWriteDeadline(c)
		if err := w.Flush(); err != nil {
			t.log.Debug().Err(err).Str("peer", c.remote).Msg("handshake answer write failed, closing connection")
			awaitReader(c)
			return
		}
	}
	var linger <-chan time.Time // set while a demoted c waits for answers
	for {
		select {
		case <-c.done:
			return
		case <-c.nudge:
			if t.retireDemoted(c, &linger) {
				return
			}
		case <-linger:
			if t.retireDemoted(c, &linger) {
				return
			}
		case f := <-c.queue:
			c.dequeued(f)
			if err := t.writeBatch(c, w, f); err != nil {
				t.log.Debug().Err(err).Str("peer", c.remote).Msg("write failed, closing connection")
				awaitReader(c)
				return
			}
		}
	}
}

// demotedLinger is how long a demoted connection stays open, once its
// queue is empty, after its last frame read or written. The frames it
// carried were often requests (an echo, a Syn) whose answers come back on
// it, since a peer answers on the connection a request came in on;
// closing it as soon as the queue is empty lost those answers, and the
// requester waited a whole gossip interval to ask again. No new frame is
// queued on it (Send uses the winner), so it falls quiet and closes.
const demotedLinger = 2 * time.Second

// retireDemoted closes a demoted connection once nothing is queued and
// nothing was read or written for demotedLinger. It returns true if it
// did; otherwise, for a demoted connection that must linger, it sets
// *linger to fire when it may be retired.
func (t *TCP) retireDemoted(c *conn, linger *<-chan time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !c.demoted || len(c.queue) > 0 {
		return false
	}
	if wait := demotedLinger - time.Since(time.Unix(0, c.active.Load())); wait > 0 {
		*linger = time.After(wait)
		return false
	}
	t.abortConnLocked(c)
	return true
}

// abortConnLocked closes c, which has nothing queued or being written and
// has been quiet (an evicted connection, a retired loser of a
// simultaneous open), with a reset rather than TCP's orderly close, so
// that this side keeps no TIME_WAIT socket for a minute. A node that
// turns connections over under MaxConns closes thousands a minute at a
// join; each would hold its ephemeral port in TIME_WAIT, and with
// hundreds of nodes on one host the kernel's ephemeral port range
// (28,232 ports by default) filled, and every dial spent its time
// searching it for a free port (docs/protocol.md). Nothing is lost that an orderly close
// would keep: nothing of ours is in flight, and a frame the peer sends
// after we close is refused with a reset either way.
func (t *TCP) abortConnLocked(c *conn) {
	if tc := tcpConnOf(c.nc); tc != nil {
		_ = tc.SetLinger(0) // an error means the connection is gone already
	}
	t.closeConnLocked(c)
}

// tcpConnOf returns the TCP connection under nc (a TLS connection's, for
// instance), or nil.
func tcpConnOf(nc net.Conn) *net.TCPConn {
	for range 4 {
		switch v := nc.(type) {
		case *net.TCPConn:
			return v
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// writeBatch writes first and then every frame already queued, up to
// QueueSize frames, and flushes them. On failure it counts the frames
// taken from the queue as lost.
func (t *TCP) writeBatch(c *conn, w *bufio.Writer, first outFrame) (err error) {
	t.setWriting(c, true)
	frames, size := 0, 0
	defer func() {
		if err != nil {
			if t.ctx.Err() != nil {
				t.stats.droppedClosed.Add(uint64(frames))
				err = ErrClosed
			} else {
				t.stats.droppedSendError.Add(uint64(frames))
			}
		}
		t.setWriting(c, false)
	}()
	for f, more := first, true; more; {
		payload, err := t.encodeFrame(c, f)
		if err != nil {
			frames++
			return err
		}
		if w.Available() < FrameHeaderSize+len(payload) {
			// The frame will reach the socket now; bound that write.
			t.setWriteDeadline(c)
		}
		frames++
		if err := t.writePayload(c, w, payload, t.cfg.MaxFrameSize); err != nil {
			return fmt.Errorf("write to %s: %w", c.remote, err)
		}
		size += len(payload)
		if frames == t.cfg.QueueSize {
			break // flush now and then; the rest waits for the next batch
		}
		select {
		case f = <-c.queue:
			c.dequeued(f)
		default:
			more = false
		}
	}
	t.setWriteDeadline(c)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write to %s: %w", c.remote, err)
	}
	t.stats.sent(frames, size)
	c.active.Store(time.Now().UnixNano())
	frames = 0
	return nil
}

// encodeFrame returns the bytes of f: its payload, or its envelope
// encoded with c's Encoder. An envelope that cannot be encoded (over the
// frame size) has already changed the Encoder's tables, so the connection
// must close: the error says so, and both ends start fresh.
func (t *TCP) encodeFrame(c *conn, f outFrame) ([]byte, error) {
	if f.env == nil {
		return f.payload, nil
	}
	if c.enc == nil {
		return nil, fmt.Errorf("write to %s: envelope on a connection without a codec", c.remote)
	}
	b, err := c.enc.Encode(f.env)
	if err != nil {
		return nil, fmt.Errorf("write to %s: %w", c.remote, err)
	}
	if t.cfg.Encoded != nil {
		t.cfg.Encoded(f.env.Message.Type(), len(b))
	}
	return b, nil
}

// setWriting records whether the writer holds frames of c, so that c is
// not evicted in the middle of a write.
func (t *TCP) setWriting(c *conn, v bool) {
	t.mu.Lock()
	c.writing = v
	if !v && c.demoted {
		select {
		case c.nudge <- struct{}{}:
		default:
		}
	}
	t.mu.Unlock()
}

// setWriteDeadline bounds the next writes to c by WriteTimeout.
func (t *TCP) setWriteDeadline(c *conn) {
	// An error here means the connection is closed; the write reports it.
	_ = c.nc.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
}

// dropQueued empties c's queue, counting each frame as lost, or as dropped
// by Close.
func (t *TCP) dropQueued(c *conn) {
	counter := &t.stats.droppedSendError
	if t.ctx.Err() != nil {
		counter = &t.stats.droppedClosed
	}
	for {
		select {
		case f := <-c.queue:
			c.dequeued(f)
			counter.Add(1)
		default:
			return
		}
	}
}

// readLoop reads frames from c and delivers them, an accepted connection's
// handshake first, until the connection fails, idles out, breaks the
// framing or is closed.
func (t *TCP) readLoop(c *conn) {
	defer t.loopExited(c)
	defer t.closeConn(c)
	t.mu.Lock()
	nc, awaiting := c.nc, c.awaiting
	t.mu.Unlock()
	r := bufio.NewReaderSize(nc, readBufferSize)
	if awaiting {
		if nc, r = t.readHandshake(c, nc, r); nc == nil {
			return
		}
	} else if c.sess.replied != nil && !t.readSessionReply(c, nc, r) {
		return
	}
	for {
		if err := nc.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout)); err != nil {
			return
		}
		payload, err := t.readPayload(c, r, t.cfg.MaxFrameSize)
		if errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, c.active.Load())) < t.cfg.IdleTimeout {
			continue // the writer used the connection meanwhile
		}
		if err != nil {
			t.readFailed(c.remote, err)
			return
		}
		c.active.Store(time.Now().UnixNano())
		p := Packet{Payload: payload, Remote: c.remote, Reply: c.reply, ReplyEnvelope: c.replyEnv, Identity: c.identity}
		if c.dec != nil {
			if p.Envelope, err = c.dec.Decode(payload); err != nil {
				t.stats.droppedMalformed.Add(1)
				t.warns.Event(&t.log, zerolog.WarnLevel).Err(err).Str("remote", c.remote).
					Msg("closing connection: undecodable frame")
				return
			}
		}
		t.deliver(p)
	}
}

// readHandshake waits for the start of an accepted connection's handshake
// (see awaitHandshakeStart), runs its security handshake and reads its
// first frame, within HandshakeTimeout of the accept, and registers the
// address it claims. It returns the connection and reader to use from then
// on (wrapped in TLS mode), or nil, having counted why, if the connection
// must close.
func (t *TCP) readHandshake(c *conn, nc net.Conn, r *bufio.Reader) (net.Conn, *bufio.Reader) {
	accepted := time.Unix(0, c.active.Load())
	if !t.awaitHandshakeStart(c, nc, r, time.Now()) {
		return nil, nil
	}
	if err := nc.SetDeadline(accepted.Add(t.cfg.HandshakeTimeout)); err != nil {
		return nil, nil
	}
	sc, sr, err := t.acceptSecure(c, nc, r)
	var claim string
	var offer *sessionOffer
	if err == nil {
		nc, r = sc, sr
		var payload []byte
		if payload, err = t.readPayload(c, r, maxHandshakeSize); err == nil {
			claim, offer, err = parseHandshakeOffer(payload)
		} else if errors.Is(err, ErrDecrypt) {
			err = fmt.Errorf("%w: %w", errBadKey, err)
			t.tellRefusal(nc, r, "no key of this node's keyring opens your frames: share a key (see docs/security.md)")
		}
	}
	verified := err == nil && verifiedClaim(claim, nc.RemoteAddr())
	var reply []byte
	if err == nil && offer != nil {
		key := ""
		if verified {
			key = claim
		}
		reply = t.acceptSession(c, key, offer)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return nil, nil // evicted or closed meanwhile
	}
	if err != nil {
		reason := refuseHandshake
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			reason = refuseTimeout
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
			errors.Is(err, syscall.ECONNRESET): // a dialer that lost a simultaneous open resets
			reason = refuseClosed
		case securityReason(err) != "":
			reason = securityReason(err)
		case errors.Is(err, ErrVersion):
			reason = refuseVersion
		}
		t.stats.refused(reason)
		ev := t.warns.Event(&t.log, zerolog.WarnLevel)
		if reason == refuseClosed {
			ev = t.log.Debug()
		}
		msg := "closing connection: no valid handshake"
		switch reason {
		case refuseVersion:
			msg = "refused connection: the peer speaks another protocol version"
		case refuseSecurityMode, refuseTLS, refuseBadKey:
			msg = "refused connection: the peer cannot prove it holds this cluster's credentials"
		}
		ev.Err(err).Str("remote", c.remote).Str("reason", reason).Msg(msg)
		t.closeConnLocked(c)
		return nil, nil
	}
	c.nc = nc
	c.sess.reply = reply
	close(c.ready)
	c.awaiting = false
	if c.slow {
		c.slow = false
		t.releasePendingLocked(c.src)
	}
	t.stats.acceptedConns.Add(1)
	c.active.Store(time.Now().UnixNano())
	if verified && claim != t.claim(nc) {
		t.adoptLocked(c, claim, t.claim(nc))
	}
	return nc, r
}

// handshakeStart is the length of a handshake's fixed start: the frame
// header, the magic and the version.
const handshakeStart = FrameHeaderSize + len(handshakeMagic) + 1

// awaitHandshakeStart waits, for HandshakeGrace from start (when the
// reader first looks at the connection: on a starved machine the dialer's
// goroutine was as late as this one; a quarter of it while the source has
// more than MaxConnsPerSource connections without a handshake), for the
// start of its handshake,
// without consuming it. A connection that has not sent it by then is
// slow: it counts against its source's MaxConnsPerSource, and is closed
// if the source already has that many slow ones. It returns false if c
// was closed.
func (t *TCP) awaitHandshakeStart(c *conn, nc net.Conn, r *bufio.Reader, start time.Time) bool {
	grace := t.cfg.HandshakeGrace
	t.mu.Lock()
	if t.awaitingFromLocked(c.src) > t.cfg.MaxConnsPerSource {
		// A burst over the cap: a quarter of the grace, so that a flood's
		// excess is closed soon after it ends.
		grace /= 4
	}
	t.mu.Unlock()
	if err := nc.SetReadDeadline(start.Add(grace)); err != nil {
		return false
	}
	if _, err := r.Peek(handshakeStart); !errors.Is(err, os.ErrDeadlineExceeded) {
		return true // arrived, or failed: the read that follows reports it
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return false
	}
	if t.pending[c.src] >= t.cfg.MaxConnsPerSource {
		t.refuseLocked(c, refusePerSource, "too many connections without a handshake from one source")
		return false
	}
	c.slow = true
	t.pending[c.src]++
	return true
}

// adoptLocked makes the accepted connection c, from the node listening at
// claim, the one Send uses for claim, unless a connection this node dialled
// to claim wins the simultaneous open: the connection dialled by the node
// with the lower address wins on both sides. The loser is demoted: it
// closes once its queue is empty and it is quiet (see demotedLinger).
func (t *TCP) adoptLocked(c *conn, claim, self string) {
	old := t.byAddr[claim]
	c.peer = claim
	if old != nil && old.outbound && self < claim {
		// Ours wins, and the peer, by the same rule, demotes its own:
		// c. Demoted here too, c closes once quiet, or sooner when room
		// is needed, instead of holding a slot until the peer closes it;
		// answers to requests it carries go on ours (see TCP.reply).
		c.demoted = true
		select {
		case c.nudge <- struct{}{}:
		default:
		}
		return
	}
	c.addr = claim
	t.byAddr[claim] = c
	if old == nil {
		// Frames waiting for a dial to claim take this connection.
		t.moveWaitingLocked(claim, c)
		return
	}
	old.demoted = true
	// Frames still queued on the loser move to the winner, in order.
	for moved := true; moved; {
		select {
		case f := <-old.queue:
			old.dequeued(f)
			_ = t.enqueueLocked(c, f) // counted if it does not fit
		default:
			moved = false
		}
	}
	if old.dialing {
		t.closeConnLocked(old)
		return
	}
	select {
	case old.nudge <- struct{}{}:
	default:
	}
}

// readerGrace is how long a writer that failed waits for its
// connection's reader before closing the connection itself.
const readerGrace = 200 * time.Millisecond

// awaitReader waits, at most readerGrace, for c's reader to end the
// connection after a write failed: a peer that refuses this node closes
// the connection right after saying why (a TLS alert, a refusal frame),
// and the write that fails first must not close the connection before the
// reader has read, counted and logged the reason.
func awaitReader(c *conn) {
	t := time.NewTimer(readerGrace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
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

// readFailed counts and logs the error that ended a connection.
func (t *TCP) readFailed(remote string, err error) {
	log := t.log.With().Str("remote", remote).Logger()
	switch {
	case t.ctx.Err() != nil, errors.Is(err, net.ErrClosed):
		// Closed by Close, by eviction or by the writer.
	case errors.Is(err, ErrDecrypt):
		t.stats.droppedDecrypt.Add(1)
		t.warns.Event(&log, zerolog.WarnLevel).Err(err).Msg("closing connection: frame does not decrypt")
	case errors.Is(err, ErrRefusedByPeer):
		t.stats.refused(refuseByPeer)
		t.warns.Event(&log, zerolog.WarnLevel).Err(err).Msg("the peer refused this node's connection")
	case isRemoteTLSAlert(err):
		t.stats.refused(refuseByPeer)
		t.warns.Event(&log, zerolog.WarnLevel).Err(err).
			Msg("the peer refused this node's TLS connection (is this node's certificate from the peer's CA, and not expired?)")
	case errors.Is(err, ErrFrameTooLarge):
		t.stats.droppedTooLarge.Add(1)
		t.warns.Event(&log, zerolog.WarnLevel).Err(err).Msg("closing connection: frame over the size limit")
	case errors.Is(err, ErrEmptyFrame):
		t.stats.droppedMalformed.Add(1)
		t.warns.Event(&log, zerolog.WarnLevel).Err(err).Msg("closing connection: empty frame")
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
