package messaging_test

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/messaging"
)

// BenchmarkTCPSend measures the throughput of 1 KiB frames from one TCP
// transport to another over loopback: each op is one frame accepted by Send,
// waiting for queue space when the writer falls behind. frames/s counts the
// frames delivered on the receiver's Packets channel, from the first Send
// until the last frame is delivered or counted as dropped; inbox-drops/op is
// the share of frames the receiver dropped because its consumer fell behind.
func BenchmarkTCPSend(b *testing.B) {
	const size = 1 << 10
	sender := newTCP(b, "127.0.0.1:0")
	receiver := newTCP(b, "127.0.0.1:0", func(c *messaging.TCPConfig) { c.InboxSize = 4096 })
	var received atomic.Uint64
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range receiver.Packets() {
			received.Add(1)
		}
	}()
	addr := receiver.LocalAddr()
	payload := make([]byte, size) // shared by every Send: the transport never modifies a payload

	b.SetBytes(size)
	b.ReportAllocs()
	start := time.Now()
	var sent uint64
	for b.Loop() {
		for {
			err := sender.Send(addr, payload)
			if err == nil {
				break
			}
			if !errors.Is(err, messaging.ErrQueueFull) {
				b.Fatal(err)
			}
			runtime.Gosched() // let the writer drain the queue
		}
		sent++
	}
	deadline := time.Now().Add(waitTimeout)
	for received.Load()+receiver.Stats().DroppedInboxFull < sent {
		if time.Now().After(deadline) {
			b.Fatalf("sent %d frames, received %d", sent, received.Load())
		}
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(receiver.Stats().DroppedInboxFull)/float64(sent), "inbox-drops/op")

	if err := receiver.Close(); err != nil {
		b.Fatal(err)
	}
	<-drained
}
