package messaging

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// sessionEnd is one end of a connection in the property test: its
// encoder and decoder, as a connection holds them.
type sessionEnd struct {
	enc *Encoder
	dec *Decoder
}

// TestCodecSessionResumeProperty: two ends exchange any sequence of
// envelopes, both ways; at random points the connection closes, each end
// packs its codec session, and the next connection resumes it when the
// dialer's offer matches what the acceptor holds, else starts fresh. A
// close may lose the frames in flight (encoded, never decoded), which
// makes the counts differ. Every frame decodes to what was sent, and a
// resumed encoder's frames are byte for byte those of a reference
// encoder that never closed.
func TestCodecSessionResumeProperty(t *testing.T) {
	c := testCodec(t)
	resumed, fresh := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		ids := []string{"node-1", "node-2", "node-3", "a-much-longer-node-id.example.com", "é"}
		a := sessionEnd{c.NewEncoder(), c.NewDecoder()}
		b := sessionEnd{c.NewEncoder(), c.NewDecoder()}
		// The references follow every frame each direction encodes; they
		// restart only when the connection starts fresh.
		refAB, refBA := c.NewEncoder(), c.NewEncoder()
		token := uint64(1)
		for i := range rapid.IntRange(1, 40).Draw(t, "steps") {
			if rapid.IntRange(0, 5).Draw(t, "close") == 0 {
				// Frames in flight when the connection closed: encoded by
				// one end, never decoded by the other.
				for range rapid.IntRange(0, 1).Draw(t, "lost") {
					e := genEnvelope(t, ids)
					_, err := a.enc.Encode(e)
					require.NoError(t, err)
					_, err = refAB.Encode(e)
					require.NoError(t, err)
				}
				sa := packCodecSession(token, "", a.enc, a.dec)
				sb := packCodecSession(token, "", b.enc, b.dec)
				// The dialer is either end.
				dialer, acceptor := sa, sb
				if rapid.Bool().Draw(t, "b dials") {
					dialer, acceptor = sb, sa
				}
				o := &sessionOffer{token: token + 1, resume: dialer.token, sent: dialer.sent, received: dialer.received}
				var err error
				if acceptor.resumes(o, "") {
					resumed++
					a.enc, a.dec, err = sa.restore(c)
					require.NoError(t, err)
					b.enc, b.dec, err = sb.restore(c)
					require.NoError(t, err)
				} else {
					fresh++
					token = o.token
					a = sessionEnd{c.NewEncoder(), c.NewDecoder()}
					b = sessionEnd{c.NewEncoder(), c.NewDecoder()}
					refAB, refBA = c.NewEncoder(), c.NewEncoder()
				}
			}
			from, to, ref := &a, &b, refAB
			if rapid.Bool().Draw(t, "b sends") {
				from, to, ref = &b, &a, refBA
			}
			e := genEnvelope(t, ids)
			frame, err := from.enc.Encode(e)
			require.NoError(t, err, "frame %d", i)
			want, err := ref.Encode(e)
			require.NoError(t, err)
			require.Equal(t, want, frame, "frame %d: the tables are the reference's", i)
			got, err := to.dec.Decode(frame)
			require.NoError(t, err, "frame %d", i)
			require.Equal(t, normalize(e), normalize(got), "frame %d", i)
		}
	})
	assert.Positive(t, resumed, "some closes resumed")
	assert.Positive(t, fresh, "some closes lost frames and started fresh")
}

// TestCodecSessionPackRoundTrip: a packed session restores to the same
// tables, counts and envelope bases.
func TestCodecSessionPackRoundTrip(t *testing.T) {
	c := testCodec(t)
	enc, dec := c.NewEncoder(), c.NewDecoder()
	for i := range 3 {
		e := &Envelope{Cluster: "prod", From: "node-1", Addr: "10.0.0.1:7000", Message: &Syn{Digests: []endpointstate.Digest{
			{Endpoint: "node-1", Generation: 1764244800, MaxVersion: int64(10 * i)},
			{Endpoint: "node-10", Generation: 1764244801, MaxVersion: int64(7 * i)},
			{Endpoint: "other", Generation: 5, MaxVersion: 3}}}}
		b, err := enc.Encode(e)
		require.NoError(t, err)
		_, err = dec.Decode(b)
		require.NoError(t, err)
	}
	s := packCodecSession(9, "tls\x00n1", enc, dec)
	assert.Equal(t, uint64(3), s.sent)
	assert.Equal(t, uint64(3), s.received)
	enc2, dec2, err := s.restore(c)
	require.NoError(t, err)
	assert.Equal(t, enc.entries, enc2.entries)
	assert.Equal(t, enc.index, enc2.index)
	assert.Equal(t, enc.bytes, enc2.bytes)
	assert.Equal(t, enc.last, enc2.last)
	assert.Equal(t, dec.entries, dec2.entries)
	assert.Equal(t, dec.bytes, dec2.bytes)
	assert.Equal(t, dec.last, dec2.last)
	assert.Equal(t, enc.frames, enc2.frames)
	assert.Equal(t, dec.frames, dec2.frames)

	for n := range len(s.tables) {
		_, _, err := (&codecSession{tables: s.tables[:n]}).restore(c)
		assert.ErrorIs(t, err, errPacked, "cut at %d", n)
	}
}

// TestSessionCacheBound: the cache never holds more bytes than its bound,
// drops the least recently filed first, replaces a peer's older session
// and keeps nothing larger than the bound.
func TestSessionCacheBound(t *testing.T) {
	s := func(n int) *codecSession { return &codecSession{tables: make([]byte, n)} }
	sc := newSessionCache(1000)
	for i := range 20 {
		sc.put(fmt.Sprintf("10.0.0.%d:7000", i), s(100+i))
		assert.LessOrEqual(t, sc.bytes, 1000, "after %d", i)
		assert.Equal(t, sc.lru.Len(), len(sc.byPeer))
	}
	assert.Nil(t, sc.take("10.0.0.0:7000"), "the oldest went first")
	last := sc.take("10.0.0.19:7000")
	require.NotNil(t, last)
	assert.Len(t, last.tables, 119)
	assert.Nil(t, sc.take("10.0.0.19:7000"), "taken: gone")

	sc.put("p", s(10))
	sc.put("p", s(20))
	assert.Len(t, sc.take("p").tables, 20, "a peer's newer session replaces the older")
	sc.put("big", s(2000))
	assert.Nil(t, sc.take("big"), "larger than the bound: not kept")
	none := newSessionCache(0)
	none.put("p", s(1))
	assert.Zero(t, none.bytes)
	assert.Nil(t, none.take("p"))
}

// sessionPeers starts a (MaxConns 1), b and c with the lean encoding,
// exchanges two Syns from a to b and makes a close that connection for
// room, so that both ends have filed its session.
func sessionPeers(t *testing.T) (a, b *TCP) {
	codec := testCodec(t)
	start := func(maxConns int) *TCP {
		tr, err := NewTCP(TCPConfig{BindAddr: "127.0.0.1:0", Codec: codec, MaxConns: maxConns,
			BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			DialQueueTimeout: 10 * time.Second}) // a's Sends wait for room (see patientDialQueue)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, tr.Close()) })
		return tr
	}
	a, b, c := start(1), start(0), start(0)
	for v := range int64(2) {
		sendAndReceive(t, a, b, v)
	}
	sendAndReceive(t, a, c, 0)
	require.Eventually(t, func() bool {
		return a.Stats().CodecSessions == 1 && b.Stats().CodecSessions == 1
	}, 10*time.Second, time.Millisecond)
	return a, b
}

func syn(v int64) *Envelope {
	return &Envelope{Version: ProtocolVersion, Cluster: "prod", From: "a", Addr: "x:1", Message: &Syn{Digests: []endpointstate.Digest{
		{Endpoint: "node-1", Generation: 1764244800, MaxVersion: v}, {Endpoint: "node-2", Generation: 1764244801, MaxVersion: v + 1}}}}
}

func sendAndReceive(t *testing.T, from, to *TCP, v int64) {
	t.Helper()
	require.NoError(t, from.SendEnvelope(to.LocalAddr(), syn(v)))
	select {
	case p := <-to.Packets():
		require.NotNil(t, p.Envelope)
		assert.Equal(t, syn(v).Message, p.Envelope.Message)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "nothing delivered")
	}
}

// cached returns the session tr keeps for peer.
func cached(t *testing.T, tr *TCP, peer string) *codecSession {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	el := tr.sessions.byPeer[peer]
	require.NotNil(t, el, "a session for %s", peer)
	return el.Value.(*cachedSession).s
}

// TestTCPSessionMismatchStartsFresh: when what the two ends hold does not
// match (the counts differ, as after frames lost in flight, either end's;
// another token; another TLS peer), the new connection starts fresh at
// both ends, and frames decode, both ways.
func TestTCPSessionMismatchStartsFresh(t *testing.T) {
	cases := map[string]func(a, b *TCP){
		"acceptor encoded more": func(a, b *TCP) { cached(t, b, a.LocalAddr()).sent++ },
		"dialer encoded more":   func(a, b *TCP) { cached(t, a, b.LocalAddr()).sent++ },
		"dialer decoded less":   func(a, b *TCP) { cached(t, a, b.LocalAddr()).received-- },
		"unknown token":         func(a, b *TCP) { cached(t, b, a.LocalAddr()).token++ },
		"another TLS peer":      func(a, b *TCP) { cached(t, b, a.LocalAddr()).identity = "tls\x00mallory" },
		"acceptor forgot it":    func(a, b *TCP) { cached(t, b, a.LocalAddr()).token = 0 },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := sessionPeers(t)
			tamper(a, b)
			sendAndReceive(t, a, b, 5)
			sendAndReceive(t, b, a, 6)
			for _, tr := range []*TCP{a, b} {
				s := tr.Stats()
				assert.Zero(t, s.ResumedConns, "fresh")
				assert.Zero(t, s.DroppedMalformed, "nothing misread")
			}
		})
	}
	t.Run("untouched", func(t *testing.T) { // the control: the same steps resume
		a, b := sessionPeers(t)
		sendAndReceive(t, a, b, 5)
		sendAndReceive(t, b, a, 6)
		assert.Equal(t, uint64(1), a.Stats().ResumedConns)
		assert.Equal(t, uint64(1), b.Stats().ResumedConns)
	})
}

// TestHandshakeOffer: a version-3 handshake carries its offer, a
// version-2 one none; malformed offers and answers are errors.
func TestHandshakeOffer(t *testing.T) {
	o := &sessionOffer{token: 7, resume: 1 << 63, sent: 300, received: 0}
	addr, got, err := parseHandshakeOffer(appendHandshakeOffer(nil, "127.0.0.1:7001", o))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7001", addr)
	assert.Equal(t, o, got)
	assert.LessOrEqual(t, len(appendHandshakeOffer(nil, string(make([]byte, maxHandshakeAddr)), &sessionOffer{
		token: 1<<64 - 1, resume: 1<<64 - 1, sent: 1<<64 - 1, received: 1<<64 - 1})), maxHandshakeSize)
	addr, got, err = parseHandshakeOffer(appendHandshake(nil, "127.0.0.1:7001"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7001", addr)
	assert.Nil(t, got, "version 2: no offer")

	full := appendHandshakeOffer(nil, "127.0.0.1:7001", o)
	for _, bad := range [][]byte{
		full[:len(full)-1],                                           // cut
		append(full[:len(full):len(full)], 0),                        // trailing
		appendHandshakeOffer(nil, "127.0.0.1:7001", &sessionOffer{}), // token 0
		[]byte("HSAY\x03127.0.0.1:7001"),                             // no offer
	} {
		_, _, err := parseHandshakeOffer(bad)
		assert.ErrorIs(t, err, errHandshake, "%q", bad)
	}
	for _, ok := range []bool{false, true} {
		r, err := parseSessionReply(appendSessionReply(nil, ok))
		require.NoError(t, err)
		assert.Equal(t, ok, r)
	}
	for _, bad := range []string{"HSAY\x03\x02", "HSAY\x02\x01", "HSAY\x03", "HSAY\x03\x01\x00", "refused"} {
		_, err := parseSessionReply([]byte(bad))
		assert.ErrorIs(t, err, errHandshake, "%q", bad)
	}
}

// TestCodecSessionSize: a connection that carried steady exchanges of N
// endpoints both ways packs into a few bytes an endpoint a direction
// (IDs of 6 to 8 bytes sharing their prefix), the figure behind
// TCPConfig.CodecSessionBytes' default (docs/performance.md).
func TestCodecSessionSize(t *testing.T) {
	c := testCodec(t)
	for _, n := range []int{64, 256, 1000} {
		out, back := c.NewEncoder(), c.NewEncoder()
		in, inBack := c.NewDecoder(), c.NewDecoder()
		for r := range 3 {
			s, a, a2 := steadyExchange(n, int64(r), 40)
			for _, step := range []struct {
				enc *Encoder
				dec *Decoder
				m   Message
			}{{out, in, s}, {back, inBack, a}, {out, in, a2}} {
				b, err := step.enc.Encode(envelope(step.m))
				require.NoError(t, err)
				_, err = step.dec.Decode(b)
				require.NoError(t, err)
			}
		}
		s := packCodecSession(1, "", out, inBack)
		perEndpoint := float64(len(s.tables)) / float64(2*n)
		t.Logf("n=%d: session %d B (%.1f B an endpoint a direction), %d B counted in the cache", n, len(s.tables), perEndpoint, s.size("127.0.0.1:7000"))
		assert.LessOrEqual(t, perEndpoint, 10.0, "n=%d", n)
	}
}
