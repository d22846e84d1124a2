package messaging_test

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/securitytest"
)

// BenchmarkSecureExchange measures one steady-state gossip exchange over
// real TCP on 127.0.0.1, in each security mode: a Syn of N digests from a
// to b, b's Ack with a heartbeat delta for each of the N endpoints, and a's
// empty Ack2, each in the lean encoding on one long-lived connection. Each
// op is one such round; wire-B/round counts the bytes both ways on the
// socket (frames, seals, TLS records), measured by a counting proxy, and
// the usual ns/op, B/op and allocs/op cover both transports. Compare the
// modes with:
//
//	go test -run '^$' -bench SecureExchange -benchmem -count 6 ./messaging/ | tee /tmp/sec.txt
func BenchmarkSecureExchange(b *testing.B) {
	dir := b.TempDir()
	ring := filepath.Join(dir, "keyring")
	securitytest.WriteKeyring(b, ring, securitytest.NewKey(b))
	ca := securitytest.NewCA(b, dir, "ca")
	modes := []struct {
		name string
		a, b messaging.Security
	}{
		{"mode=none", messaging.Security{}, messaging.Security{}},
		{"mode=keyring", messaging.Security{KeyringFile: ring}, messaging.Security{KeyringFile: ring}},
		{"mode=tls", ca.Issue(b, dir, "a", "a").Security(), ca.Issue(b, dir, "b", "b").Security()},
	}
	for _, n := range []int{100, 1000} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("N=%d/%s", n, m.name), func(b *testing.B) { benchExchange(b, n, m.a, m.b) })
		}
	}
}

func benchExchange(b *testing.B, n int, secA, secB messaging.Security) {
	codec, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	opts := func(sec messaging.Security) func(*messaging.TCPConfig) {
		return func(c *messaging.TCPConfig) { c.Security, c.Codec = sec, codec }
	}
	ta, tb := newTCP(b, "127.0.0.1:0", opts(secA)), newTCP(b, "127.0.0.1:0", opts(secB))
	px := newCountingProxy(b, tb.LocalAddr())
	digests := make([]endpointstate.Digest, n)
	deltas := make([]endpointstate.Delta, n)
	for i := range n {
		id := fmt.Sprintf("node-%05d", i)
		digests[i] = endpointstate.Digest{Endpoint: id, Generation: 1764244800, MaxVersion: 100}
		deltas[i] = endpointstate.Delta{Endpoint: id, Generation: 1764244800, FromVersion: 100, HeartBeat: 100}
	}
	env := func(m messaging.Message) *messaging.Envelope {
		return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "a", Addr: ta.LocalAddr(), Message: m}
	}
	recv := func(tr *messaging.TCP) messaging.Packet {
		select {
		case p := <-tr.Packets():
			return p
		case <-time.After(waitTimeout):
			b.Fatalf("no frame at %s: refusals %v, %v; drops %v, %v", tr.LocalAddr(),
				ta.Stats().Refusals(), tb.Stats().Refusals(), ta.Stats().Drops(), tb.Stats().Drops())
			return messaging.Packet{}
		}
	}
	round := func() {
		if err := ta.SendEnvelope(px.addr(), env(&messaging.Syn{Digests: digests})); err != nil {
			b.Fatal(err)
		}
		p := recv(tb)
		for i := range deltas {
			deltas[i].HeartBeat++
		}
		if err := p.ReplyEnvelope(env(&messaging.Ack{Deltas: deltas})); err != nil {
			b.Fatal(err)
		}
		q := recv(ta)
		if got := len(q.Envelope.Message.(*messaging.Ack).Deltas); got != n {
			b.Fatalf("ack of %d deltas, want %d", got, n)
		}
		if err := ta.SendEnvelope(px.addr(), env(&messaging.Ack2{})); err != nil {
			b.Fatal(err)
		}
		recv(tb)
	}
	for range 3 { // warm the connection's tables, as in a steady state
		round()
	}
	px.bytes.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
	b.ReportMetric(float64(px.bytes.Load())/float64(b.N), "wire-B/round")
}

// countingProxy forwards TCP from a listener on 127.0.0.1 to target and
// counts the bytes both ways.
type countingProxy struct {
	ln    net.Listener
	bytes atomic.Int64
}

func newCountingProxy(b *testing.B, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			pipe := func(dst net.Conn, src io.Reader) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
			}
			wg.Go(func() { pipe(in, countingConn{out, &p.bytes}) })
			wg.Go(func() { pipe(out, countingConn{in, &p.bytes}) })
		}
	})
	b.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }

// countingConn counts what is read from it as it is read.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}
