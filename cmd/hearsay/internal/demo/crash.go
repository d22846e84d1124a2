package demo

import (
	"sync"
	"sync/atomic"

	"github.com/hearsay-io/hearsay/messaging"
)

// crashable wraps a node's transport so that the node can crash: after
// Cut it sends nothing and receives nothing, exactly what its peers see
// when a process dies without a word. It is safe for concurrent use.
type crashable struct {
	inner   messaging.Transport
	cut     atomic.Bool
	packets chan messaging.Packet
	done    chan struct{} // closed by Close
	once    sync.Once
	wg      sync.WaitGroup // the forwarding goroutine
}

// newCrashable wraps inner and starts forwarding what it receives.
func newCrashable(inner messaging.Transport) *crashable {
	c := &crashable{inner: inner, packets: make(chan messaging.Packet), done: make(chan struct{})}
	c.wg.Add(1)
	go c.forward()
	return c
}

func (c *crashable) forward() {
	defer c.wg.Done()
	defer close(c.packets)
	for p := range c.inner.Packets() {
		if c.cut.Load() {
			continue
		}
		select {
		case c.packets <- p:
		case <-c.done:
			return
		}
	}
}

// Cut crashes the node: from now on frames are dropped both ways.
func (c *crashable) Cut() { c.cut.Store(true) }

// Send implements messaging.Transport; after Cut it drops the frame.
func (c *crashable) Send(addr string, payload []byte) error {
	if c.cut.Load() {
		return nil
	}
	return c.inner.Send(addr, payload)
}

// Packets implements messaging.Transport.
func (c *crashable) Packets() <-chan messaging.Packet { return c.packets }

// LocalAddr implements messaging.Transport.
func (c *crashable) LocalAddr() string { return c.inner.LocalAddr() }

// Close implements messaging.Transport: it closes the inner transport and
// waits for the forwarding goroutine.
func (c *crashable) Close() error {
	c.once.Do(func() { close(c.done) })
	err := c.inner.Close()
	c.wg.Wait()
	return err
}

// Stats returns the inner transport's counters, so that the gossiper's
// Stats include them.
func (c *crashable) Stats() messaging.Stats {
	if s, ok := c.inner.(interface{ Stats() messaging.Stats }); ok {
		return s.Stats()
	}
	return messaging.Stats{}
}
