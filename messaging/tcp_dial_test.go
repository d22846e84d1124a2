package messaging_test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// The tests in this file are issue 10's join regressions: at a join every
// node dials dozens of peers at once, from one IP on a test host, and
// each frame the transport dropped (a Send beyond MaxDials, an honest
// connection closed for its source, a connection evicted before its
// answer came back) cost its sender a whole gossip interval.

// TestTCPSendBeyondMaxDialsWaits: Sends to more new peers than MaxDials
// at once wait for a dial slot instead of being dropped with
// ErrConnLimit, and each is delivered.
func TestTCPSendBeyondMaxDialsWaits(t *testing.T) {
	const peers = 24
	a := newTCP(t, "127.0.0.1:0", patientDialQueue, func(c *messaging.TCPConfig) { c.MaxDials = 1 })
	var bs []*messaging.TCP
	for range peers {
		bs = append(bs, newTCP(t, "127.0.0.1:0"))
	}
	for i, b := range bs {
		assert.NoError(t, a.Send(b.LocalAddr(), fmt.Appendf(nil, "hello %d", i)), "send %d", i)
	}
	for i, b := range bs {
		receiveFrom(t, b, fmt.Sprintf("hello %d", i))
	}
	s := a.Stats()
	assert.Zero(t, s.DroppedConnLimit, "dropped at the dial limit")
	assert.Zero(t, s.Dropped(), "drops: %v", s.Drops())
	assert.EqualValues(t, peers, s.DialedConns)
	assert.NotZero(t, s.DialQueued, "some Sends waited for a slot")
}

// TestTCPDialQueueBoundedAndExpires: the dial queue holds at most
// DialQueueFrames frames (beyond: ErrConnLimit), and frames that cannot
// get a connection within DialQueueTimeout are dropped and counted, not
// kept.
func TestTCPDialQueueBoundedAndExpires(t *testing.T) {
	// The scenario needs b's connection to be too recent to close for
	// room (evictMinIdle, 250 ms) while the Sends run and their frames
	// wait; a run stalled longer than that on a loaded machine proves
	// nothing and is run again with new transports, a few times at most.
	const tooSlow = 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		a := newTCP(t, "127.0.0.1:0", func(c *messaging.TCPConfig) {
			c.MaxConns, c.DialQueueFrames, c.DialQueueTimeout = 1, 3, 10*time.Millisecond
		})
		b := newTCP(t, "127.0.0.1:0")
		start := time.Now()
		require.NoError(t, a.Send(b.LocalAddr(), []byte("fills the only slot")))
		receiveFrom(t, b, "fills the only slot")
		// b's connection was just used: it is not closed for room, so these
		// wait, three at most.
		var errs []error
		for i := range 5 {
			errs = append(errs, a.Send(fmt.Sprintf("127.0.0.1:%d", 1+i), []byte("waits")))
		}
		if elapsed := time.Since(start); elapsed > tooSlow {
			require.Less(t, attempt, 5, "every run stalled over %v (the last %v)", tooSlow, elapsed)
			t.Logf("run %d stalled %v, longer than b's connection is safe from eviction: again", attempt, elapsed)
			continue
		}
		assert.Equal(t, []error{nil, nil, nil, messaging.ErrConnLimit, messaging.ErrConnLimit}, errs)
		require.Eventually(t, func() bool { return a.Stats().DroppedDialWait == 3 }, waitTimeout, time.Millisecond,
			"waiting frames expire: %v", a.Stats().Drops())
		s := a.Stats()
		assert.EqualValues(t, 2, s.DroppedConnLimit)
		assert.EqualValues(t, 3, s.DialQueued)
		assert.EqualValues(t, 1, s.DialedConns, "no dial for the expired frames")
		require.NoError(t, a.Send(b.LocalAddr(), []byte("still works")))
		receiveFrom(t, b, "still works")
		return
	}
}

// TestTCPManyHonestDialersOneSource: 64 peers on one IP connect at once
// and send their handshakes a little later, as dialers starved of CPU at
// a join do: every one gets in. Before, at most MaxConnsPerSource (16)
// connections without a handshake were kept per source, the oldest
// closed, so 48 honest peers lost their first frames.
func TestTCPManyHonestDialersOneSource(t *testing.T) {
	const peers = 64
	// Over MaxConnsPerSource connections from one source wait a quarter
	// of HandshakeGrace; at the default (100 ms) that is 25 ms, of which
	// the 10 ms pause below and 64 dials under the race detector on a
	// loaded machine left too little. A longer grace keeps the scenario
	// (handshakes a little later, beyond the cap) and its margin.
	target := newTCP(t, "127.0.0.1:0", func(c *messaging.TCPConfig) { c.HandshakeGrace = time.Second })
	conns := make([]net.Conn, peers)
	for i := range conns {
		conns[i] = bareConn(t, target.LocalAddr())
	}
	time.Sleep(10 * time.Millisecond) // let the target accept them all before any handshake
	for i, c := range conns {
		// Each claims a distinct address; the frame after the
		// handshake is a raw payload (the target has no codec).
		msg := fmt.Appendf(nil, "hello from %d", i)
		_, err := c.Write(append(handshake(fmt.Sprintf("127.0.0.1:%d", 20000+i)), append(header(uint32(len(msg))), msg...)...))
		require.NoError(t, err)
	}
	got := map[string]bool{}
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for len(got) < peers {
		select {
		case p := <-target.Packets():
			got[string(p.Payload)] = true
		case <-timer.C:
			require.FailNow(t, "frames lost", "%d of %d delivered; refusals %v", len(got), peers, target.Stats().Refusals())
		}
	}
	s := target.Stats()
	assert.Zero(t, s.RefusedConns, "refusals: %v", s.Refusals())
	assert.EqualValues(t, peers, s.AcceptedConns)
}

// TestTCPJoinBurst: 64 transports on 127.0.0.1 send to one node at
// once, as a cluster does to its seed, and it answers each: every
// request and every answer arrives, with no drop anywhere.
func TestTCPJoinBurst(t *testing.T) {
	const peers = 64
	seed := newTCP(t, "127.0.0.1:0")
	nodes := make([]*messaging.TCP, peers)
	for i := range nodes {
		nodes[i] = newTCP(t, "127.0.0.1:0")
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, n := range nodes {
		wg.Go(func() {
			<-start
			assert.NoError(t, n.Send(seed.LocalAddr(), fmt.Appendf(nil, "syn %d", i)))
		})
	}
	close(start)
	wg.Wait()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for answered := 0; answered < peers; answered++ {
		select {
		case p := <-seed.Packets():
			require.NoError(t, p.Reply(append([]byte("ack to "), p.Payload...)))
		case <-timer.C:
			require.FailNow(t, "requests lost", "%d of %d arrived; seed %v %v", answered, peers, seed.Stats().Refusals(), seed.Stats().Drops())
		}
	}
	for i, n := range nodes {
		receiveFrom(t, n, fmt.Sprintf("ack to syn %d", i))
		assert.Zero(t, n.Stats().Dropped(), "node %d drops: %v", i, n.Stats().Drops())
	}
	assert.Zero(t, seed.Stats().Dropped(), "seed drops: %v", seed.Stats().Drops())
	assert.Zero(t, seed.Stats().RefusedConns, "seed refusals: %v", seed.Stats().Refusals())
}

// TestTCPAnswerOnRecentConnectionNotEvicted: at MaxConns, a connection
// that has just carried a request is not closed to make room for a new
// one, so the answer, which comes back on it, arrives; the new Send
// waits until a connection has been idle long enough, and is delivered.
// Before, the least recently used connection was closed whatever its
// age, and the answer was lost.
func TestTCPAnswerOnRecentConnectionNotEvicted(t *testing.T) {
	a := newTCP(t, "127.0.0.1:0", patientDialQueue, func(c *messaging.TCPConfig) { c.MaxConns = 2 })
	b, c, d := newTCP(t, "127.0.0.1:0"), newTCP(t, "127.0.0.1:0"), newTCP(t, "127.0.0.1:0")
	require.NoError(t, a.Send(b.LocalAddr(), []byte("request")))
	req := receiveFrom(t, b, "request")
	require.NoError(t, a.Send(c.LocalAddr(), []byte("to c")))
	receiveFrom(t, c, "to c")
	require.NoError(t, a.Send(d.LocalAddr(), []byte("to d")), "waits for room")
	require.NoError(t, req.Reply([]byte("answer")))
	receiveFrom(t, a, "answer")
	receiveFrom(t, d, "to d")
	s := a.Stats()
	assert.Zero(t, s.Dropped(), "drops: %v", s.Drops())
	assert.LessOrEqual(t, s.OpenConns, uint64(2))
}

// TestTCPConfigJoinSettings: the dial queue's and the grace's settings
// are validated with messages naming the field and the rule.
func TestTCPConfigJoinSettings(t *testing.T) {
	base := messaging.DefaultTCPConfig()
	base.BindAddr = "127.0.0.1:0"
	require.NoError(t, base.Validate())
	for _, tc := range []struct {
		name string
		set  func(*messaging.TCPConfig)
		want string
	}{
		{"negative frames", func(c *messaging.TCPConfig) { c.DialQueueFrames = -1 }, "TCPConfig.DialQueueFrames = -1: must be positive"},
		{"bytes below a frame", func(c *messaging.TCPConfig) { c.DialQueueBytes = 10 }, "TCPConfig.DialQueueBytes = 10: must hold one frame of MaxFrameSize"},
		{"negative timeout", func(c *messaging.TCPConfig) { c.DialQueueTimeout = -time.Second }, "TCPConfig.DialQueueTimeout = -1s: must be positive"},
		{"grace not below the handshake timeout", func(c *messaging.TCPConfig) { c.HandshakeGrace = 5 * time.Second }, "TCPConfig.HandshakeGrace = 5s: must be below HandshakeTimeout (5s)"},
	} {
		c := base
		tc.set(&c)
		err := c.Validate()
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	c := base
	c.HandshakeTimeout = 50 * time.Millisecond // the grace's default follows it down
	assert.NoError(t, c.Validate())
}
