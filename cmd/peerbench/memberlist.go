package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// memberlistSystem runs hashicorp/memberlist with DefaultLANConfig; the
// benchmark value is the node metadata, changed with UpdateNode.
type memberlistSystem struct{}

type memberlistNode struct {
	ml   *memberlist.Memberlist
	tr   *countingTransport
	meta *metaDelegate
	once sync.Once
}

func (memberlistSystem) start(_ context.Context, spec nodeSpec, ob observer) (node, error) {
	tr, err := newCountingTransport(spec.port)
	if err != nil {
		return nil, err
	}
	cfg := memberlist.DefaultLANConfig()
	configureMemberlist(cfg, spec.name, tr)
	meta := &metaDelegate{}
	cfg.Delegate = meta
	cfg.Events = &memberlistEvents{ob: ob}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		_ = tr.Shutdown()
		return nil, err
	}
	n := &memberlistNode{ml: ml, tr: tr, meta: meta}
	if spec.seed != "" {
		if _, err := ml.Join([]string{spec.seed}); err != nil {
			n.stop()
			return nil, err
		}
	}
	return n, nil
}

// configureMemberlist sets what every memberlist (also serf's) needs to
// run on loopback through tr; everything else stays at its default.
func configureMemberlist(cfg *memberlist.Config, name string, tr *countingTransport) {
	cfg.Name = name
	cfg.BindAddr, cfg.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	cfg.BindPort, cfg.AdvertisePort = tr.port, tr.port
	cfg.Transport = tr
	cfg.LogOutput = io.Discard
}

func (n *memberlistNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.tr.port) }
func (n *memberlistNode) port() int    { return n.tr.port }

func (n *memberlistNode) set(value string) error {
	n.meta.set(value)
	return n.ml.UpdateNode(10 * time.Second)
}

func (n *memberlistNode) bytes() uint64 { return n.tr.count.Load() }

// crash shuts memberlist down without Leave: its sockets close and
// nothing is announced.
func (n *memberlistNode) crash() { n.stop() }

func (n *memberlistNode) stop() { n.once.Do(func() { _ = n.ml.Shutdown() }) }

// metaDelegate serves the benchmark value as node metadata.
type metaDelegate struct {
	mu   sync.Mutex
	meta string
}

func (d *metaDelegate) set(v string) {
	d.mu.Lock()
	d.meta = v
	d.mu.Unlock()
}

func (d *metaDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := []byte(d.meta)
	if len(b) > limit {
		b = b[:limit]
	}
	return b
}

func (d *metaDelegate) NotifyMsg([]byte)                           {}
func (d *metaDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *metaDelegate) LocalState(join bool) []byte                { return nil }
func (d *metaDelegate) MergeRemoteState(buf []byte, join bool)     {}

// memberlistEvents turns memberlist's callbacks into recorder events.
type memberlistEvents struct{ ob observer }

func (e *memberlistEvents) NotifyJoin(n *memberlist.Node) {
	now := time.Now()
	e.ob.up(n.Name, now)
	e.ob.value(n.Name, string(n.Meta), now)
}

func (e *memberlistEvents) NotifyLeave(n *memberlist.Node) {
	e.ob.down(n.Name, time.Now(), n.State != memberlist.StateLeft)
}

func (e *memberlistEvents) NotifyUpdate(n *memberlist.Node) {
	e.ob.value(n.Name, string(n.Meta), time.Now())
}

// countingTransport is memberlist's NetTransport (UDP packets and TCP
// streams on 127.0.0.1) with every payload byte counted: datagrams
// written and read, and bytes written to and read from stream
// connections.
type countingTransport struct {
	inner   *memberlist.NetTransport
	port    int
	count   atomic.Uint64
	packets chan *memberlist.Packet
	streams chan net.Conn
	stopCh  chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

// newCountingTransport binds TCP and UDP on 127.0.0.1:port; with port 0,
// NetTransport takes a free TCP port and the same UDP port, which can be
// taken in between: that is retried here (a given port is retried by the
// caller).
func newCountingTransport(port int) (*countingTransport, error) {
	var nt *memberlist.NetTransport
	var err error
	for range 20 {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"}, BindPort: port, Logger: log.New(io.Discard, "", 0),
		})
		if err == nil || port != 0 || !addrInUse(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("memberlist transport on port %d: %w", port, err)
	}
	t := &countingTransport{
		inner: nt, port: nt.GetAutoBindPort(),
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), stopCh: make(chan struct{}),
	}
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		for {
			select {
			case p := <-nt.PacketCh():
				t.count.Add(uint64(len(p.Buf)))
				select {
				case t.packets <- p:
				case <-t.stopCh:
					return
				}
			case <-t.stopCh:
				return
			}
		}
	}()
	go func() {
		defer t.wg.Done()
		for {
			select {
			case c := <-nt.StreamCh():
				select {
				case t.streams <- &countingConn{Conn: c, count: &t.count}:
				case <-t.stopCh:
					_ = c.Close()
					return
				}
			case <-t.stopCh:
				return
			}
		}
	}()
	return t, nil
}

func (t *countingTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ts, err := t.inner.WriteTo(b, addr)
	if err == nil {
		t.count.Add(uint64(len(b)))
	}
	return ts, err
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	ts, err := t.inner.WriteToAddress(b, a)
	if err == nil {
		t.count.Add(uint64(len(b)))
	}
	return ts, err
}

func (t *countingTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *countingTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.inner.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, count: &t.count}, nil
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.inner.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, count: &t.count}, nil
}

func (t *countingTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		err = t.inner.Shutdown()
		close(t.stopCh)
		t.wg.Wait()
	})
	return err
}

// countingConn counts the bytes read and written on a stream.
type countingConn struct {
	net.Conn
	count *atomic.Uint64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.count.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.count.Add(uint64(n))
	return n, err
}
