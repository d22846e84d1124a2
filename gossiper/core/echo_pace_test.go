package core

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// echoTestNode returns a running node that has just learnt peers other
// endpoints at once (as a joining node does from one Ack), and what it
// sent then.
func echoTestNode(t *testing.T, peers int) (*Node, time.Time, Output) {
	t.Helper()
	n, now := startingNode(t, func(cfg *NodeConfig) { cfg.MaxEndpoints = peers + 1 })
	var out Output
	require.NoError(t, n.applyDeltas(now, peerDeltas(0, peers), &out))
	return n, now, out
}

// echoesIn returns the addresses out sends an Echo to, and each Echo's
// nonce by address.
func echoesIn(out Output) (to []string, nonces map[string]uint64) {
	nonces = map[string]uint64{}
	for _, m := range out.Messages {
		if e, ok := m.Message.(*messaging.Echo); ok {
			to = append(to, m.To)
			nonces[m.To] = e.Nonce
		}
	}
	return to, nonces
}

// TestEchoesPacedAtJoin (issue 10): a node that learns 300 peers at once
// echoes a few dozen at a time, not all 300 in the same millisecond (on
// TCP, an echo to a peer is a connection to open, and more than MaxConns
// at once made the transport close connections still in use); within a
// couple of seconds of Flushes every peer has been echoed, none twice
// before its retry is due. Before, all 300 echoes went out at once.
func TestEchoesPacedAtJoin(t *testing.T) {
	const peers = 300
	n, now, out := echoTestNode(t, peers)
	first, _ := echoesIn(out)
	assert.Len(t, first, DefaultEchoBurst, "echoes sent at once")
	echoed := map[string]time.Time{}
	for _, a := range first {
		echoed[a] = now
	}
	step := 100 * time.Millisecond
	for i := 0; i < 20 && len(echoed) < peers; i++ {
		now = now.Add(step)
		sent, _ := echoesIn(n.Flush(now))
		assert.LessOrEqual(t, len(sent), int(DefaultEchoRate*step.Seconds())+1, "echoes sent in %v", step)
		for _, a := range sent {
			if at, again := echoed[a]; again {
				assert.GreaterOrEqual(t, now.Sub(at), n.cfg.Interval/2, "%s echoed again before its retry was due", a)
				continue
			}
			echoed[a] = now
		}
	}
	assert.Len(t, echoed, peers, "every peer echoed")
	assert.Less(t, now.Sub(time.Unix(benchGen, 0).Add(time.Hour)), 2*time.Second, "all echoed within 2 s")
	assert.Positive(t, n.Counters().EchoesPaced)
	wait, pending := n.PushPending(now)
	assert.True(t, !pending || wait > 0, "nothing due is left unsent after a Flush")
}

// TestEchoPacingWakesTheLoop: echoes held back by the budget are reported
// by PushPending, with the time until the next may go, so the runtime's
// timer sends them without waiting for the next round.
func TestEchoPacingWakesTheLoop(t *testing.T) {
	n, now, _ := echoTestNode(t, 3*DefaultEchoBurst)
	n.Flush(now) // the node's own announcement goes out; echoes wait
	wait, pending := n.PushPending(now)
	require.True(t, pending)
	assert.Positive(t, wait)
	assert.LessOrEqual(t, wait, time.Second/DefaultEchoRate+time.Millisecond)
	sent, _ := echoesIn(n.Flush(now.Add(wait)))
	assert.NotEmpty(t, sent, "an echo goes out once the wait is over")
}

// TestEchoRetriedBeforeInterval (issue 10): an echo that gets no answer
// is sent again after Interval/2 and after Interval, without waiting for
// gossip about the peer; then no more on its own (a dead peer is not
// echoed forever). The reply to the first echo still marks the peer up.
// Before, an unanswered echo was sent again only when gossip about the
// peer arrived or the peer talked to us, at most once an Interval.
func TestEchoRetriedBeforeInterval(t *testing.T) {
	n, now, out := echoTestNode(t, 1)
	to, nonces := echoesIn(out)
	require.Len(t, to, 1)
	firstNonce := nonces[to[0]]
	interval := n.cfg.Interval

	sent, _ := echoesIn(n.Flush(now.Add(interval/2 - time.Millisecond)))
	assert.Empty(t, sent, "no retry before Interval/2")
	now = now.Add(interval / 2)
	sent, _ = echoesIn(n.Flush(now))
	assert.Equal(t, to, sent, "first retry after Interval/2")
	now = now.Add(interval)
	sent, _ = echoesIn(n.Flush(now))
	assert.Equal(t, to, sent, "second retry after Interval")
	for range 10 {
		now = now.Add(interval)
		sent, _ = echoesIn(n.Flush(now))
		assert.Empty(t, sent, "no retries beyond echoRetries without gossip")
	}
	assert.EqualValues(t, echoRetries, n.Counters().EchoRetries)

	var reply Output
	n.handleEchoReply(now, benchID(0), &messaging.EchoReply{Nonce: firstNonce, Generation: benchGen}, &reply)
	require.Len(t, reply.Events, 1)
	assert.Equal(t, EventAlive, reply.Events[0].Kind)
}

// TestEchoNotRetriedOnceAnswered: a peer that answers is not echoed again
// by its queued retry.
func TestEchoNotRetriedOnceAnswered(t *testing.T) {
	n, now, out := echoTestNode(t, 1)
	_, nonces := echoesIn(out)
	var reply Output
	n.handleEchoReply(now, benchID(0), &messaging.EchoReply{Nonce: nonces["10.1.0.0:7000"], Generation: benchGen}, &reply)
	require.Len(t, reply.Events, 1)
	for range 5 {
		now = now.Add(n.cfg.Interval / 2)
		sent, _ := echoesIn(n.Flush(now))
		assert.Empty(t, sent)
	}
	assert.Empty(t, n.echoQ.q, "the stale retry left the queue")
}

// TestEchoReplyToAnUnsentEchoIgnored: a reply with nonce 0 to a peer whose
// echo is still queued (none sent yet) does not mark it up.
func TestEchoReplyToAnUnsentEchoIgnored(t *testing.T) {
	n, now, _ := echoTestNode(t, DefaultEchoBurst+1)
	queued := benchID(DefaultEchoBurst) // the last one learnt waits for the budget
	e, ok := n.echoes.m[queued]
	require.True(t, ok)
	require.Zero(t, e.first, "not sent yet")
	var reply Output
	n.handleEchoReply(now, queued, &messaging.EchoReply{Nonce: 0, Generation: benchGen}, &reply)
	assert.Empty(t, reply.Events)
	assert.False(t, n.peers.get(queued).alive())
}

// TestEchoPacingFromConfig (issue 10): the echo pacing is the config's.
// With the datagram pacing a node that learns 127 peers at once echoes
// all of them in the same Flush, where the TCP pacing (the default) sends
// DefaultEchoBurst; a datagram node learning more peers than its burst
// still sends no more than DatagramEchoBurst at once.
func TestEchoPacingFromConfig(t *testing.T) {
	learn := func(t *testing.T, peers int, rate float64, burst int) (first, within100ms int) {
		t.Helper()
		n, now := startingNode(t, func(cfg *NodeConfig) {
			cfg.MaxEndpoints, cfg.EchoRate, cfg.EchoBurst = peers+1, rate, burst
		})
		var out Output
		require.NoError(t, n.applyDeltas(now, peerDeltas(0, peers), &out))
		sent, _ := echoesIn(out)
		later, _ := echoesIn(n.Flush(now.Add(100 * time.Millisecond)))
		return len(sent), len(later)
	}
	first, _ := learn(t, 127, DefaultEchoRate, DefaultEchoBurst)
	assert.Equal(t, DefaultEchoBurst, first, "TCP pacing: echoes at once")
	first, _ = learn(t, 127, DatagramEchoRate, DatagramEchoBurst)
	assert.Equal(t, 127, first, "datagram pacing: all 127 peers echoed at once")
	first, next := learn(t, 1000, DatagramEchoRate, DatagramEchoBurst)
	assert.Equal(t, DatagramEchoBurst, first, "datagram pacing, 1,000 peers: echoes at once")
	assert.LessOrEqual(t, next, int(DatagramEchoRate*0.1)+1, "datagram pacing, 1,000 peers: echoes in the next 100 ms")
	assert.Positive(t, next, "datagram pacing, 1,000 peers: the queue drains")
}

// TestEchoPacingValidated: an echo pacing out of range is refused with
// the field named.
func TestEchoPacingValidated(t *testing.T) {
	cfg := DefaultNodeConfig()
	cfg.ID = "self"
	require.NoError(t, cfg.Validate())
	cfg.EchoRate, cfg.EchoBurst = 0, 0
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "EchoRate 0")
	assert.Contains(t, err.Error(), "EchoBurst 0")
}
