package messaging

import (
	"bufio"
	"container/list"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Codec session resumption on the TCP transport (docs/protocol.md, "Codec
// sessions"). When a connection with a Codec closes and neither end's
// codec failed, each end files the connection's codec state
// ([codecSession]) under the peer's listening address, in a cache bounded
// by TCPConfig.CodecSessionBytes. A dialer takes the session it holds for
// the address it dials, if any, and offers it in its handshake: the
// session's token and the frames it encoded and decoded. The acceptor
// takes the session it holds for the dialer's (verified) address and
// resumes it only if the token is the same and the counts match its own
// the other way round, and the TLS peer is the session's; it answers
// "resumed" or "fresh" in its first frame, and the dialer writes nothing
// after its handshake until it has read that answer. Whatever the answer,
// neither end keeps the session it took: a session lives in one place at
// a time on each end, so two connections never share one.

// sessionState is a connection's codec-session bookkeeping.
type sessionState struct {
	// replied, on a dialled connection with a Codec, is closed by the
	// reader once the acceptor's answer is read; the writer writes nothing
	// after the handshake before.
	replied chan struct{}

	// Guarded by TCP.mu.
	offer *codecSession // dialer: the session offered, until the answer
	token uint64        // the connection's session token; 0 until settled
	key   string        // the address the session is filed under on close; "" for none
	reply []byte        // acceptor: the answer, written before any other frame
	exits int           // the connection's goroutines that have exited
}

// sessionCache holds closed connections' codec sessions by peer address,
// least recently filed first out, within a bound in bytes.
type sessionCache struct {
	max    int // bytes; 0 keeps none
	bytes  int
	byPeer map[string]*list.Element // of *cachedSession
	lru    list.List                // front: most recently filed
}

type cachedSession struct {
	peer string
	s    *codecSession
}

func newSessionCache(max int) sessionCache {
	return sessionCache{max: max, byPeer: make(map[string]*list.Element)}
}

// take removes and returns the session filed under peer, or nil.
func (sc *sessionCache) take(peer string) *codecSession {
	el := sc.byPeer[peer]
	if el == nil {
		return nil
	}
	cs := sc.lru.Remove(el).(*cachedSession)
	delete(sc.byPeer, peer)
	sc.bytes -= cs.s.size(peer)
	return cs.s
}

// put files s under peer, replacing what was filed there, and drops the
// least recently filed sessions until the cache is within its bound. A
// session larger than the whole bound is not kept.
func (sc *sessionCache) put(peer string, s *codecSession) {
	sc.take(peer)
	size := s.size(peer)
	if size > sc.max {
		return
	}
	for sc.bytes+size > sc.max {
		oldest := sc.lru.Back()
		sc.take(oldest.Value.(*cachedSession).peer)
	}
	sc.byPeer[peer] = sc.lru.PushFront(&cachedSession{peer: peer, s: s})
	sc.bytes += size
}

// newToken returns a random non-zero session token. Tokens need not be
// secret, only distinct: a session's tables are not secret either (see
// docs/security.md), and a forged token resumes nothing the forger does
// not hold the exact counts of.
func newToken() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// identityKey returns the names a TLS peer proved, as one string; "" for
// none (no TLS).
func identityKey(id *Identity) string {
	if id == nil {
		return ""
	}
	names := slices.Clone(id.Names)
	slices.Sort(names)
	return "tls\x00" + strings.Join(names, "\x00")
}

// dialerHandshake returns the handshake a dialled connection sends: with
// a Codec, an offer naming a new token and the session held for the
// address dialled, if any (taken from the cache: the connection owns it
// until the answer).
func (t *TCP) dialerHandshake(c *conn, nc net.Conn) []byte {
	claim := t.claim(nc)
	if c.sess.replied == nil {
		return appendHandshake(nil, claim)
	}
	o := sessionOffer{token: newToken()}
	t.mu.Lock()
	s := t.sessions.take(c.addr)
	if s != nil && s.identity != identityKey(c.identity) {
		s = nil // another TLS peer now answers at this address
	}
	if s != nil {
		o.resume, o.sent, o.received = s.token, s.sent, s.received
	}
	c.sess.offer, c.sess.token = s, o.token
	t.mu.Unlock()
	return appendHandshakeOffer(nil, claim, &o)
}

// readSessionReply reads the acceptor's answer to a dialled connection's
// offer, the first frame on the connection, within HandshakeTimeout, and
// settles the connection's codec: the offered session's, restored, or
// the fresh one it has. It returns false, having counted and logged why,
// if the connection must close.
func (t *TCP) readSessionReply(c *conn, nc net.Conn, r *bufio.Reader) bool {
	if err := nc.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		return false
	}
	// The first frame a dialer reads may also be the acceptor's refusal
	// (another security mode, a key it does not hold), which is larger
	// than the answer: read up to a refusal's size, so that the refusal is
	// recognised and reported (parseSessionReply still wants the exact
	// answer).
	payload, err := t.readPayload(c, r, max(maxSessionReply, maxRefusalSize))
	if err != nil {
		t.readFailed(c.remote, err)
		return false
	}
	resumed, err := parseSessionReply(payload)
	if err != nil {
		t.stats.droppedMalformed.Add(1)
		t.warns.Event(&t.log, zerolog.WarnLevel).Err(err).Str("remote", c.remote).
			Msg("closing connection: the peer's answer to the handshake is not valid")
		return false
	}
	t.mu.Lock()
	offer := c.sess.offer
	c.sess.offer = nil
	t.mu.Unlock()
	if resumed {
		if offer == nil {
			t.stats.droppedMalformed.Add(1)
			t.warns.Event(&t.log, zerolog.WarnLevel).Str("remote", c.remote).
				Msg("closing connection: the peer resumed a codec session this node did not offer")
			return false
		}
		enc, dec, err := offer.restore(t.cfg.Codec)
		if err != nil {
			t.log.Error().Err(err).Str("remote", c.remote).Msg("closing connection")
			return false
		}
		c.enc, c.dec = enc, dec
		t.stats.resumedConns.Add(1)
	}
	t.mu.Lock()
	if resumed {
		c.sess.token = offer.token
	}
	c.sess.key = c.addr
	t.mu.Unlock()
	close(c.sess.replied)
	return true
}

// awaitSessionReply waits, in a dialled connection's writer, for the
// reader to have read the acceptor's answer. It returns false if the
// connection closed first.
func awaitSessionReply(c *conn) bool {
	if c.sess.replied == nil {
		return true
	}
	select {
	case <-c.sess.replied:
		return true
	case <-c.done:
		return false
	}
}

// acceptSession settles an accepted connection's codec from the dialer's
// offer: it takes the session filed under the dialer's address (verified
// claims only: key is "" otherwise) and resumes it if the offer names it
// with matching counts and the same TLS peer, else the connection starts
// fresh under the offer's new token. It returns the answer to write first.
func (t *TCP) acceptSession(c *conn, key string, o *sessionOffer) []byte {
	var s *codecSession
	if key != "" {
		t.mu.Lock()
		s = t.sessions.take(key) // stale unless resumed: the dialer holds none of it
		t.mu.Unlock()
	}
	resumed := false
	if s != nil && t.cfg.Codec != nil && s.resumes(o, identityKey(c.identity)) {
		enc, dec, err := s.restore(t.cfg.Codec)
		if err != nil {
			t.log.Error().Err(err).Str("remote", c.remote).Msg("codec session not resumed")
		} else {
			c.enc, c.dec, resumed = enc, dec, true
			t.stats.resumedConns.Add(1)
		}
	}
	t.mu.Lock()
	c.sess.token, c.sess.key = o.token, key
	if resumed {
		c.sess.token = s.token
	}
	t.mu.Unlock()
	return appendSessionReply(nil, resumed)
}

// loopExited records that one of c's goroutines has exited; the second
// files c's codec session, when both ends settled one, c's codec never
// failed and the transport is open.
func (t *TCP) loopExited(c *conn) {
	t.mu.Lock()
	c.sess.exits++
	keep := c.sess.exits == 2 && c.sess.key != "" && c.sess.token != 0 && !t.closed &&
		t.sessions.max > 0 && c.enc != nil && c.dec != nil && !c.enc.broken && !c.dec.broken
	t.mu.Unlock()
	if !keep {
		return
	}
	// Both goroutines are done with the tables.
	s := packCodecSession(c.sess.token, identityKey(c.identity), c.enc, c.dec)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.sessions.put(c.sess.key, s)
	}
}

// maxSessionReply is the size of the acceptor's answer to an offer.
const maxSessionReply = len(handshakeMagic) + 2

// sessionOffer is what a dialer's handshake says about codec sessions:
// the token of the session the connection starts if not resumed, and the
// session it offers to resume (token 0: none) with the frames this end
// encoded (sent) and decoded (received) in it.
type sessionOffer struct {
	token, resume, sent, received uint64
}

// sessionReply returns the answer an accepted connection writes first, if
// its dialer offered a codec session.
func (t *TCP) sessionReply(c *conn) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return c.sess.reply
}
