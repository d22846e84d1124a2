package messaging_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/transporttest"
)

// listen opens a transport on n and closes it at the end of the test.
func listen(t *testing.T, n *messaging.MemNetwork, addr string, inbox int) *messaging.MemTransport {
	t.Helper()
	tr, err := n.Listen(addr, inbox)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, tr.Close()) })
	return tr
}

// pending returns the payloads waiting on tr's Packets channel, without
// waiting: delivery on a MemNetwork is synchronous.
func pending(tr *messaging.MemTransport) []string {
	var got []string
	for {
		select {
		case p, ok := <-tr.Packets():
			if !ok {
				return got
			}
			got = append(got, string(p.Payload))
		default:
			return got
		}
	}
}

func TestMemConformance(t *testing.T) {
	n := messaging.NewMemNetwork()
	transporttest.Run(t, func(t *testing.T) messaging.Transport {
		return listen(t, n, "", 1024)
	})
}

func TestMemListen(t *testing.T) {
	n := messaging.NewMemNetwork()
	a := listen(t, n, "", 8)
	b := listen(t, n, "", 8)
	assert.Equal(t, "mem-1:7000", a.LocalAddr())
	assert.Equal(t, "mem-2:7000", b.LocalAddr())

	named := listen(t, n, "node-a:7000", 8)
	_, err := n.Listen("node-a:7000", 8)
	assert.ErrorIs(t, err, messaging.ErrAddrInUse)
	_, err = n.Listen("", 0)
	assert.ErrorContains(t, err, "inbox size 0")

	require.NoError(t, named.Close())
	again := listen(t, n, "node-a:7000", 8)
	require.NoError(t, a.Send("node-a:7000", []byte("to the new listener")))
	assert.Equal(t, []string{"to the new listener"}, pending(again))
}

func TestMemDelivery(t *testing.T) {
	n := messaging.NewMemNetwork()
	a, b := listen(t, n, "a:1", 2), listen(t, n, "b:1", 2)

	payload := []byte("original")
	require.NoError(t, a.Send("b:1", payload))
	payload[0] = 'X' // the sender's buffer is not shared with the receiver
	p := <-b.Packets()
	assert.Equal(t, "original", string(p.Payload))
	assert.Equal(t, "a:1", p.Remote)

	for i := range 5 {
		require.NoError(t, a.Send("b:1", fmt.Appendf(nil, "%d", i)))
	}
	assert.Equal(t, []string{"0", "1"}, pending(b), "an inbox of 2 keeps the first 2")
	assert.Equal(t, uint64(3), b.Stats().DroppedInboxFull)
	assert.Equal(t, uint64(6), a.Stats().SentFrames)

	assert.ErrorIs(t, a.Send("nobody:1", []byte("x")), messaging.ErrUnreachable)
	assert.Equal(t, uint64(1), a.Stats().DroppedSendError)

	n.SetMaxFrameSize(10)
	assert.Equal(t, 10, a.MaxFrameSize())
	assert.NoError(t, a.Send("b:1", make([]byte, 10)))
	assert.ErrorIs(t, a.Send("b:1", make([]byte, 11)), messaging.ErrFrameTooLarge)
}

func TestMemFaults(t *testing.T) {
	n := messaging.NewMemNetwork()
	a, b, c := listen(t, n, "a:1", 16), listen(t, n, "b:1", 16), listen(t, n, "c:1", 16)
	nodes := []*messaging.MemTransport{a, b, c}

	// reach sends one frame along every ordered pair and reports the
	// pairs that were delivered, as "a→b".
	reach := func() []string {
		var got []string
		for _, from := range nodes {
			for _, to := range nodes {
				if from != to {
					require.NoError(t, from.Send(to.LocalAddr(), []byte(from.LocalAddr())))
				}
			}
		}
		for _, to := range nodes {
			for _, from := range pending(to) {
				got = append(got, from[:1]+"→"+to.LocalAddr()[:1])
			}
		}
		return got
	}
	all := []string{"b→a", "c→a", "a→b", "c→b", "a→c", "b→c"}
	require.Equal(t, all, reach())

	n.Partition([]string{"a:1"}, []string{"b:1", "c:1"})
	assert.Equal(t, []string{"c→b", "b→c"}, reach(), "a is cut off from b and c")
	n.Partition([]string{"b:1"}, []string{"c:1"})
	assert.Empty(t, reach(), "partitions add up")
	n.Heal()
	assert.Equal(t, all, reach())

	n.Block("c:1")
	assert.Equal(t, []string{"b→a", "a→b"}, reach(), "c neither sends nor receives")
	n.Unblock("c:1")
	assert.Equal(t, all, reach())

	before := a.Stats()
	n.Block("b:1")
	require.NoError(t, a.Send("b:1", []byte("lost")), "the network does not tell")
	assert.Equal(t, before.DroppedSendError+1, a.Stats().DroppedSendError)
	assert.Equal(t, before.SentFrames, a.Stats().SentFrames)
}

func TestMemLossRate(t *testing.T) {
	// delivered returns the indexes of the frames that survive a loss
	// rate of p with seed.
	delivered := func(p float64, seed uint64) []int {
		n := messaging.NewMemNetwork()
		a, b := listen(t, n, "", 1), listen(t, n, "", 1)
		n.SetLossRate(p, seed)
		var got []int
		for i := range 1000 {
			require.NoError(t, a.Send(b.LocalAddr(), []byte{1}))
			if len(pending(b)) == 1 {
				got = append(got, i)
			}
		}
		return got
	}
	first := delivered(0.3, 42)
	assert.Equal(t, first, delivered(0.3, 42), "the same seed loses the same frames")
	assert.NotEqual(t, first, delivered(0.3, 43))
	assert.Greater(t, len(first), 0)
	assert.Less(t, len(first), 1000)
	assert.Len(t, delivered(0, 1), 1000)
	assert.Empty(t, delivered(1, 1))

	n := messaging.NewMemNetwork()
	assert.Panics(t, func() { n.SetLossRate(1.5, 1) })
	assert.Panics(t, func() { n.SetMaxFrameSize(0) })
}

// TestMemInSynctest runs a request-reply exchange with a timeout inside a
// synctest bubble, as the gossiper runtime's tests do: the network starts no
// goroutine and reads no clock, so the bubble's fake time and deadlock
// detection apply.
func TestMemInSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := messaging.NewMemNetwork()
		client, err := n.Listen("client:1", 4)
		require.NoError(t, err)
		server, err := n.Listen("server:1", 4)
		require.NoError(t, err)

		go func() { // an echo server
			for p := range server.Packets() {
				_ = server.Send(p.Remote, append([]byte("echo "), p.Payload...))
			}
		}()

		require.NoError(t, client.Send("server:1", []byte("ping")))
		select {
		case p := <-client.Packets():
			assert.Equal(t, "echo ping", string(p.Payload))
		case <-time.After(time.Minute):
			require.FailNow(t, "no reply")
		}

		n.Block("server:1")
		require.NoError(t, client.Send("server:1", []byte("ping")))
		select {
		case <-client.Packets():
			require.FailNow(t, "reply through a block")
		case <-time.After(time.Minute):
		}

		require.NoError(t, server.Close())
		require.NoError(t, client.Close())
		synctest.Wait()
	})
}
