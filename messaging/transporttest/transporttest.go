// Package transporttest checks that a [messaging.Transport] keeps the
// promises of the interface, in the manner of testing/slogtest: an
// implementation calls [Run] from one of its tests.
package transporttest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// waitTimeout bounds every wait for the network in the suite. It is a
// deadline for a test that went wrong, not an expectation of speed.
const waitTimeout = 10 * time.Second

// window is how many frames the suite sends before it reads them back, so
// that no queue or inbox overflows.
const window = 16

// statser is implemented by transports that count their frames, such as
// [messaging.TCP] and [messaging.MemTransport]. The suite checks the
// counters when they are available.
type statser interface {
	Stats() messaging.Stats
}

// maxFramer is implemented by transports that report their maximum frame
// size; the suite assumes [messaging.DefaultMaxFrameSize] otherwise.
type maxFramer interface {
	MaxFrameSize() int
}

// Run runs the conformance suite as subtests of t.
//
// newTransport must return a new, open transport on each call; every
// transport returned during one test must reach the others at their
// LocalAddr. Run closes each transport it gets (Close is idempotent, so
// newTransport may also register a t.Cleanup that closes it). The suite
// needs queues and inboxes of at least 64 frames. Every received Packet must
// carry a Reply function that answers its sender. When the transport has a
// method Stats() messaging.Stats, the suite checks that every frame is
// accounted for (a transport without it must not lose frames between
// loopback peers); when it has MaxFrameSize() int, the suite uses that
// limit.
func Run(t *testing.T, newTransport func(t *testing.T) messaging.Transport) {
	tests := []struct {
		name string
		run  func(*testing.T, func(*testing.T) messaging.Transport)
	}{
		{"SendReceive", testSendReceive},
		{"OrderPerPeer", testOrderPerPeer},
		{"LargeFrame", testLargeFrame},
		{"RejectedPayloads", testRejectedPayloads},
		{"UnreachablePeer", testUnreachablePeer},
		{"Close", testClose},
		{"CloseWithPendingFrames", testCloseWithPendingFrames},
		{"ConcurrentSenders", testConcurrentSenders},
		{"CloseDuringSend", testCloseDuringSend},
		{"Reply", testReply},
		{"SharedConnection", testSharedConnection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newTransport) })
	}
}

// open returns a new transport and closes it at the end of the test.
func open(t *testing.T, newTransport func(*testing.T) messaging.Transport) messaging.Transport {
	t.Helper()
	tr := newTransport(t)
	require.NotNil(t, tr, "newTransport returned nil")
	t.Cleanup(func() { assert.NoError(t, tr.Close(), "Close of %s", tr.LocalAddr()) })
	return tr
}

// receive waits for the next frame on tr.
func receive(t *testing.T, tr messaging.Transport) messaging.Packet {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case p, ok := <-tr.Packets():
		require.True(t, ok, "Packets of %s closed while waiting for a frame", tr.LocalAddr())
		return p
	case <-timer.C:
		require.FailNow(t, "no frame arrived", "at %s within %v", tr.LocalAddr(), waitTimeout)
		return messaging.Packet{}
	}
}

// stats returns tr's counters, and false if tr does not count.
func stats(tr messaging.Transport) (messaging.Stats, bool) {
	s, ok := tr.(statser)
	if !ok {
		return messaging.Stats{}, false
	}
	return s.Stats(), true
}

// numbered returns a payload of size bytes (at least 8) that starts with n.
func numbered(n uint64, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, n)
	return b
}

// testSendReceive checks delivery in both directions, payload and Remote.
func testSendReceive(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b := open(t, newTransport), open(t, newTransport)
	require.NotEmpty(t, a.LocalAddr())
	require.NotEqual(t, a.LocalAddr(), b.LocalAddr())

	require.NoError(t, a.Send(b.LocalAddr(), []byte("hello from a")))
	p := receive(t, b)
	assert.Equal(t, []byte("hello from a"), p.Payload)
	assert.NotEmpty(t, p.Remote, "Packet.Remote")

	require.NoError(t, b.Send(a.LocalAddr(), []byte("hello from b")))
	p = receive(t, a)
	assert.Equal(t, []byte("hello from b"), p.Payload)
	assert.NotEmpty(t, p.Remote, "Packet.Remote")

	require.NoError(t, a.Send(a.LocalAddr(), []byte("to myself")))
	assert.Equal(t, []byte("to myself"), receive(t, a).Payload)

	if _, ok := stats(a); ok {
		// The sender may count a frame just after the receiver got it; a
		// snapshot that counts both frames must count both payloads.
		require.Eventually(t, func() bool {
			s, _ := stats(a)
			return s.SentFrames == 2
		}, waitTimeout, time.Millisecond, "SentFrames of a")
		s, _ := stats(a)
		assert.Equal(t, uint64(len("hello from a")+len("to myself")), s.SentBytes, "SentBytes of a")
		assert.Zero(t, s.Dropped(), "drops of a: %v", s.Drops())
		assert.Eventually(t, func() bool {
			s, _ := stats(b)
			return s.ReceivedFrames == 1 && s.ReceivedBytes == uint64(len("hello from a"))
		}, waitTimeout, time.Millisecond, "ReceivedFrames of b")
	}
}

// testOrderPerPeer checks that frames from one sender to one receiver
// arrive in the order they were sent, from two senders at once.
func testOrderPerPeer(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	const frames = 20 * window
	a, c, b := open(t, newTransport), open(t, newTransport), open(t, newTransport)
	next := map[string]uint64{}
	for sent := 0; sent < frames; sent += window {
		for i := range window {
			n := uint64(sent + i)
			require.NoError(t, a.Send(b.LocalAddr(), numbered(n, 100)), "frame %d from a", n)
			require.NoError(t, c.Send(b.LocalAddr(), numbered(n, 200)), "frame %d from c", n)
		}
		for range 2 * window {
			p := receive(t, b)
			require.GreaterOrEqual(t, len(p.Payload), 8)
			from := fmt.Sprint(len(p.Payload)) // 100 bytes from a, 200 from c
			got := binary.BigEndian.Uint64(p.Payload)
			require.Equal(t, next[from], got, "frame order from the %s-byte sender", from)
			next[from]++
		}
	}
	assert.Equal(t, map[string]uint64{"100": frames, "200": frames}, next)
}

// testLargeFrame checks that a frame of exactly the maximum size is
// delivered intact.
func testLargeFrame(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b := open(t, newTransport), open(t, newTransport)
	size := maxFrameSize(a)
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	want := bytes.Clone(payload)
	require.NoError(t, a.Send(b.LocalAddr(), payload))
	p := receive(t, b)
	require.Len(t, p.Payload, size)
	assert.True(t, bytes.Equal(want, p.Payload), "payload of %d bytes corrupted", size)
}

// maxFrameSize returns tr's maximum frame size.
func maxFrameSize(tr messaging.Transport) int {
	if m, ok := tr.(maxFramer); ok {
		return m.MaxFrameSize()
	}
	return messaging.DefaultMaxFrameSize
}

// testRejectedPayloads checks that oversized and empty payloads are refused
// with the right error, counted, and leave the transport working.
func testRejectedPayloads(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b := open(t, newTransport), open(t, newTransport)
	err := a.Send(b.LocalAddr(), make([]byte, maxFrameSize(a)+1))
	assert.ErrorIs(t, err, messaging.ErrFrameTooLarge)
	assert.ErrorIs(t, a.Send(b.LocalAddr(), nil), messaging.ErrEmptyFrame)
	assert.ErrorIs(t, a.Send(b.LocalAddr(), []byte{}), messaging.ErrEmptyFrame)
	if s, ok := stats(a); ok {
		assert.Equal(t, uint64(1), s.DroppedTooLarge, "DroppedTooLarge")
		assert.Equal(t, uint64(2), s.DroppedMalformed, "DroppedMalformed")
	}

	require.NoError(t, a.Send(b.LocalAddr(), []byte("still works")))
	assert.Equal(t, []byte("still works"), receive(t, b).Payload)
}

// testUnreachablePeer checks that sending to an address nobody listens on
// returns at once, drops and counts every frame, and does not disturb
// traffic to other peers.
func testUnreachablePeer(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	const frames = 20
	a, b := open(t, newTransport), open(t, newTransport)
	gone := newTransport(t)
	deadAddr := gone.LocalAddr()
	require.NoError(t, gone.Close())

	done := make(chan []error)
	go func() {
		var errs []error
		for i := range frames {
			errs = append(errs, a.Send(deadAddr, numbered(uint64(i), 64)))
		}
		done <- errs
	}()
	var errs []error
	select {
	case errs = <-done:
	case <-time.After(waitTimeout):
		require.FailNow(t, "Send to an unreachable address blocked")
	}
	for i, err := range errs {
		if err != nil && !errors.Is(err, messaging.ErrUnreachable) && !errors.Is(err, messaging.ErrQueueFull) {
			assert.Fail(t, "unexpected error", "Send %d to %s: %v", i, deadAddr, err)
		}
	}
	if _, ok := stats(a); ok {
		require.Eventually(t, func() bool {
			s, _ := stats(a)
			return s.DroppedSendError+s.DroppedQueueFull == frames
		}, waitTimeout, 5*time.Millisecond, "every frame to %s must be counted as dropped", deadAddr)
		s, _ := stats(a)
		assert.Zero(t, s.SentFrames, "SentFrames")
	}

	require.NoError(t, a.Send(b.LocalAddr(), []byte("other peers unaffected")))
	assert.Equal(t, []byte("other peers unaffected"), receive(t, b).Payload)
}

// testClose checks that Close is idempotent, that Send after Close returns
// ErrClosed and that Packets is closed.
func testClose(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b := open(t, newTransport), open(t, newTransport)
	require.NoError(t, a.Send(b.LocalAddr(), []byte("before close")))
	assert.Equal(t, []byte("before close"), receive(t, b).Payload)

	assert.NoError(t, a.Close())
	assert.NoError(t, a.Close(), "second Close")
	assert.ErrorIs(t, a.Send(b.LocalAddr(), []byte("after close")), messaging.ErrClosed)
	requireClosed(t, a)
	if s, ok := stats(a); ok {
		assert.Equal(t, uint64(1), s.DroppedClosed, "DroppedClosed")
	}

	// Concurrent Close calls all return once the transport is closed.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, b.Close()) })
	}
	wg.Wait()
	requireClosed(t, b)
}

// requireClosed drains tr's Packets channel and fails unless it is closed.
func requireClosed(t *testing.T, tr messaging.Transport) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-tr.Packets():
			if !ok {
				return
			}
		case <-timer.C:
			require.FailNow(t, "Packets not closed after Close", "%s", tr.LocalAddr())
		}
	}
}

// testCloseWithPendingFrames checks that Close returns while frames wait in
// queues and inboxes that nobody drains.
func testCloseWithPendingFrames(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b := open(t, newTransport), open(t, newTransport)
	for i := range 4 * window {
		err := a.Send(b.LocalAddr(), numbered(uint64(i), 1024))
		if err != nil {
			require.ErrorIs(t, err, messaging.ErrQueueFull)
		}
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		assert.NoError(t, a.Close())
		assert.NoError(t, b.Close())
	}()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		require.FailNow(t, "Close blocked with frames pending")
	}
	requireClosed(t, a)
	requireClosed(t, b)
}

// testConcurrentSenders checks that many goroutines can send at once, that
// each goroutine's frames arrive in order, and that every frame is either
// delivered or counted as dropped.
func testConcurrentSenders(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	const goroutines, frames = 8, 200
	a, c, b := open(t, newTransport), open(t, newTransport), open(t, newTransport)
	senders := []messaging.Transport{a, c}
	var accepted atomic.Uint64

	var wg sync.WaitGroup
	for g := range goroutines {
		from := senders[g%len(senders)]
		wg.Go(func() {
			for i := range frames {
				err := from.Send(b.LocalAddr(), numbered(uint64(g)<<32|uint64(i), 256))
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, messaging.ErrQueueFull):
				default:
					assert.NoError(t, err, "Send from goroutine %d", g)
					return
				}
			}
		})
	}

	last := map[uint64]int64{}
	received := uint64(0)
	lost := func() uint64 {
		var n uint64
		for _, tr := range []messaging.Transport{a, b, c} {
			if s, ok := stats(tr); ok {
				n += s.DroppedSendError + s.DroppedInboxFull
			}
		}
		return n
	}
	senderDone := make(chan struct{})
	go func() { wg.Wait(); close(senderDone) }()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for sendersRunning := true; sendersRunning || received+lost() < accepted.Load(); {
		select {
		case p := <-b.Packets():
			received++
			id := binary.BigEndian.Uint64(p.Payload)
			g, i := id>>32, int64(id&0xffffffff)
			prev, seen := last[g]
			require.True(t, !seen || i > prev, "goroutine %d: frame %d after frame %d", g, i, prev)
			last[g] = i
		case <-senderDone:
			sendersRunning, senderDone = false, nil
		case <-deadline.C:
			require.FailNow(t, "frames unaccounted for",
				"accepted %d, received %d, counted as lost %d", accepted.Load(), received, lost())
		}
	}
	assert.Positive(t, received)
	assert.LessOrEqual(t, received, accepted.Load())
}

// testCloseDuringSend checks that Close is safe while other goroutines send:
// every Send after Close returns ErrClosed.
func testCloseDuringSend(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	const goroutines, maxSends = 4, 100_000
	a, b := open(t, newTransport), open(t, newTransport)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range maxSends {
				err := a.Send(b.LocalAddr(), numbered(uint64(i), 64))
				if errors.Is(err, messaging.ErrClosed) {
					return
				}
				sent.Add(1)
				if err != nil && !errors.Is(err, messaging.ErrQueueFull) {
					assert.NoError(t, err, "Send from goroutine %d", g)
					return
				}
			}
			assert.Fail(t, "Send never returned ErrClosed", "goroutine %d", g)
		})
	}
	require.Eventually(t, func() bool { return sent.Load() >= 100 }, waitTimeout, time.Millisecond)
	require.NoError(t, a.Close())
	wg.Wait()
}

// testReply checks that Packet.Reply answers the sender of a frame, in
// order with what the receiver sends it otherwise, and that replies are
// counted like sends.
func testReply(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b := open(t, newTransport), open(t, newTransport)
	require.NoError(t, a.Send(b.LocalAddr(), []byte("question")))
	p := receive(t, b)
	require.NotNil(t, p.Reply, "Packet.Reply")
	require.NoError(t, p.Reply([]byte("answer 1")))
	require.NoError(t, p.Reply([]byte("answer 2")))
	assert.Equal(t, []byte("answer 1"), receive(t, a).Payload)
	assert.Equal(t, []byte("answer 2"), receive(t, a).Payload)
	assert.ErrorIs(t, p.Reply(nil), messaging.ErrEmptyFrame)

	require.NoError(t, b.Close())
	assert.ErrorIs(t, p.Reply([]byte("after close")), messaging.ErrClosed, "Reply after the receiver closed")
	if _, ok := stats(b); ok {
		s, _ := stats(b)
		assert.Equal(t, uint64(2), s.SentFrames, "replies count as sent frames")
		assert.Equal(t, uint64(1), s.DroppedMalformed)
		assert.Equal(t, uint64(1), s.DroppedClosed)
	}
}

// testSharedConnection checks that traffic both ways between two
// transports needs at most one connection (one per peer pair), and that a
// reply still arrives after the sender has sent to others.
func testSharedConnection(t *testing.T, newTransport func(*testing.T) messaging.Transport) {
	a, b, c := open(t, newTransport), open(t, newTransport), open(t, newTransport)
	for range 3 {
		require.NoError(t, a.Send(b.LocalAddr(), []byte("a to b")))
		assert.Equal(t, []byte("a to b"), receive(t, b).Payload)
		require.NoError(t, b.Send(a.LocalAddr(), []byte("b to a")))
		assert.Equal(t, []byte("b to a"), receive(t, a).Payload)
	}
	require.NoError(t, c.Send(b.LocalAddr(), []byte("c to b")))
	p := receive(t, b)
	require.NoError(t, a.Send(b.LocalAddr(), []byte("a to b again")))
	assert.Equal(t, []byte("a to b again"), receive(t, b).Payload)
	require.NoError(t, p.Reply([]byte("b answers c")))
	assert.Equal(t, []byte("b answers c"), receive(t, c).Payload)
	sa, okA := stats(a)
	sb, okB := stats(b)
	if okA && okB {
		assert.LessOrEqual(t, sa.DialedConns+sb.DialedConns, uint64(1), "connections dialled between a and b")
		assert.Zero(t, sb.DialedConns, "b answered c and a without dialling")
	}
}
