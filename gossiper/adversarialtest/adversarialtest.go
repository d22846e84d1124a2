// Package adversarialtest is a hostile gossip peer for tests. A [Peer]
// speaks hearsay's real wire protocol over a real TCP connection: it dials
// a node, sends the transport handshake, sends envelopes encoded with the
// real messaging codec (with any identity it likes in each), and reads the
// node's answers on the same connection. [OpenHalf] holds connections that
// never handshake, [Victim] is a third party that counts whatever reaches
// it, and [Measure] takes the process's heap and goroutine counts after a
// collection, so a test can bound what an attack costs.
//
// The package's own tests drive real gossipers with it: limit bypass
// across deltas, member flood, far-future generations, reflection and
// connection exhaustion (see docs/security.md).
package adversarialtest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// Config is a Peer's identity and codec settings. A zero field takes its
// default.
type Config struct {
	// Cluster is the cluster name in every envelope. Default "hearsay".
	Cluster string
	// ID is the node ID the envelopes claim. Default "mallory".
	ID string
	// Addr is the gossip address the envelopes claim. Default: the
	// connection's local address.
	Addr string
	// Handshake is the address the transport handshake claims. Default:
	// the connection's local address.
	Handshake string
	// MaxFrameSize bounds frames sent and read. Default
	// messaging.DefaultMaxFrameSize.
	MaxFrameSize int
	// Limits are the codec's limits (the decoder checks shape only).
	// Default endpointstate.DefaultLimits().
	Limits endpointstate.Limits
	// DialTimeout bounds the dial. Default 2s.
	DialTimeout time.Duration
	// TLS, when set, wraps the connection in TLS with this configuration
	// (the Peer's certificate, if any, in Certificates) before the
	// handshake, for nodes running mutual TLS. Default nil: plaintext.
	TLS *tls.Config
}

// Peer is one hostile connection to a node. Its methods are not safe for
// concurrent use, except Close.
type Peer struct {
	conn  net.Conn
	w     *bufio.Writer
	r     *bufio.Reader
	enc   *messaging.Encoder // this connection's lean tables, each way
	dec   *messaging.Decoder
	cfg   Config
	nonce uint64
}

// Dial connects to target ("host:port"), sends the handshake and returns
// the Peer.
func Dial(target string, cfg Config) (*Peer, error) {
	if cfg.Cluster == "" {
		cfg.Cluster = "hearsay"
	}
	if cfg.ID == "" {
		cfg.ID = "mallory"
	}
	if cfg.MaxFrameSize == 0 {
		cfg.MaxFrameSize = messaging.DefaultMaxFrameSize
	}
	if cfg.Limits == (endpointstate.Limits{}) {
		cfg.Limits = endpointstate.DefaultLimits()
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	codec, err := messaging.NewCodec(cfg.MaxFrameSize, cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("adversarialtest: codec: %w", err)
	}
	conn, err := net.DialTimeout("tcp", target, cfg.DialTimeout)
	if err != nil {
		return nil, fmt.Errorf("adversarialtest: dial %s: %w", target, err)
	}
	if cfg.TLS != nil {
		tc := tls.Client(conn, cfg.TLS)
		_ = tc.SetDeadline(time.Now().Add(cfg.DialTimeout))
		if err := tc.Handshake(); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("adversarialtest: TLS handshake with %s: %w", target, err)
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	if cfg.Addr == "" {
		cfg.Addr = conn.LocalAddr().String()
	}
	if cfg.Handshake == "" {
		cfg.Handshake = conn.LocalAddr().String()
	}
	p := &Peer{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), r: bufio.NewReaderSize(conn, 64<<10), cfg: cfg,
		enc: codec.NewEncoder(), dec: codec.NewDecoder()}
	if err := p.SendPayload(Handshake(cfg.Handshake)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return p, nil
}

// Handshake returns the transport handshake payload claiming addr (see
// docs/protocol.md): "HSAY", the protocol version, the address.
func Handshake(addr string) []byte {
	return append([]byte{'H', 'S', 'A', 'Y', messaging.ProtocolVersion}, addr...)
}

// LocalAddr is the connection's local address.
func (p *Peer) LocalAddr() string { return p.conn.LocalAddr().String() }

// Send sends m in an envelope carrying the Peer's identity.
func (p *Peer) Send(m messaging.Message) error {
	return p.SendAs(p.cfg.ID, p.cfg.Addr, m)
}

// SendAs sends m in an envelope claiming node ID from at address addr.
func (p *Peer) SendAs(from, addr string, m messaging.Message) error {
	return p.SendEnvelope(&messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: p.cfg.Cluster,
		From: from, Addr: addr, Message: m})
}

// SendEnvelope encodes env with the real codec, in the lean encoding with
// this connection's tables, and sends it as one frame.
func (p *Peer) SendEnvelope(env *messaging.Envelope) error {
	b, err := p.enc.Encode(env)
	if err != nil {
		return fmt.Errorf("adversarialtest: encode %s: %w", env.Message.Type(), err)
	}
	return p.SendPayload(b)
}

// SendPayload sends payload as one frame, whatever it holds.
func (p *Peer) SendPayload(payload []byte) error {
	if err := p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("adversarialtest: %w", err)
	}
	if err := messaging.WriteFrame(p.w, payload, p.cfg.MaxFrameSize); err != nil {
		return fmt.Errorf("adversarialtest: %w", err)
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("adversarialtest: send: %w", err)
	}
	return nil
}

// Receive reads and decodes the next envelope the node sends on this
// connection, waiting at most timeout.
func (p *Peer) Receive(timeout time.Duration) (*messaging.Envelope, error) {
	if err := p.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("adversarialtest: %w", err)
	}
	b, err := messaging.ReadFrame(p.r, p.cfg.MaxFrameSize, nil)
	if err != nil {
		return nil, fmt.Errorf("adversarialtest: receive: %w", err)
	}
	env, err := p.dec.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("adversarialtest: decode: %w", err)
	}
	return env, nil
}

// Sync is a barrier: it sends an Echo and reads until the node's
// EchoReply to it, so every frame sent before on this connection has been
// handled (a node handles one connection's frames in order). Other frames
// read meanwhile are discarded. It spends one of the sender ID's answers.
func (p *Peer) Sync(timeout time.Duration) error {
	p.nonce++
	nonce := p.nonce
	if err := p.Send(&messaging.Echo{Nonce: nonce}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("adversarialtest: no echo reply %d within %v", nonce, timeout)
		}
		env, err := p.Receive(left)
		if err != nil {
			return err
		}
		if r, ok := env.Message.(*messaging.EchoReply); ok && r.Nonce == nonce {
			return nil
		}
	}
}

// Drain reads every frame the node sends on this connection until it has
// been quiet for quiet (or the connection ends, or 100,000 frames came),
// and returns how many frames of each type it read.
func (p *Peer) Drain(quiet time.Duration) map[messaging.Type]int {
	got := map[messaging.Type]int{}
	for range 100_000 {
		env, err := p.Receive(quiet)
		if err != nil {
			return got
		}
		got[env.Message.Type()]++
	}
	return got
}

// Close closes the connection.
func (p *Peer) Close() error { return p.conn.Close() }

// HalfOpen is a set of connections that never send a handshake.
type HalfOpen struct {
	conns []net.Conn
}

// OpenHalf opens n TCP connections to target and sends nothing on them.
// It stops at the first dial error and returns the connections opened so
// far with it. Close them with [HalfOpen.Close].
func OpenHalf(target string, n int) (*HalfOpen, error) {
	h := &HalfOpen{conns: make([]net.Conn, 0, n)}
	for range n {
		c, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			return h, fmt.Errorf("adversarialtest: dial %d of %d: %w", len(h.conns)+1, n, err)
		}
		h.conns = append(h.conns, c)
	}
	return h, nil
}

// Len is the number of connections opened.
func (h *HalfOpen) Len() int { return len(h.conns) }

// Closed counts the connections the node has closed: a one-byte read
// that returns at once with end of file or a reset. It waits at most
// wait for each, so call it after the node had time to act.
func (h *HalfOpen) Closed(wait time.Duration) int {
	closed := 0
	var one [1]byte
	for _, c := range h.conns {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		_, err := c.Read(one[:])
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			closed++
		}
	}
	return closed
}

// Close closes every connection.
func (h *HalfOpen) Close() {
	for _, c := range h.conns {
		_ = c.Close()
	}
	h.conns = nil
}

// Victim is a third party listening on 127.0.0.1: it counts the
// connections made to it and the bytes they carry, and answers nothing.
type Victim struct {
	ln           net.Listener
	conns, bytes atomic.Int64
	wg           sync.WaitGroup
}

// NewVictim listens on a free loopback port.
func NewVictim() (*Victim, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("adversarialtest: victim: %w", err)
	}
	v := &Victim{ln: ln}
	v.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			v.conns.Add(1)
			v.wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					n, err := c.Read(buf)
					v.bytes.Add(int64(n))
					if err != nil {
						return
					}
				}
			})
		}
	})
	return v, nil
}

// Addr is the victim's address.
func (v *Victim) Addr() string { return v.ln.Addr().String() }

// Conns is the number of connections the victim accepted.
func (v *Victim) Conns() int64 { return v.conns.Load() }

// Bytes is the number of bytes the victim received.
func (v *Victim) Bytes() int64 { return v.bytes.Load() }

// Close stops the victim and waits for its goroutines.
func (v *Victim) Close() error {
	err := v.ln.Close()
	v.wg.Wait()
	return err
}

// Endpoint returns a reset delta for a forged endpoint id at generation
// gen, advertising addr, with status normal, heartbeat 1 and the given
// application states (versions from 3 on).
func Endpoint(id, addr string, gen int64, states map[string]string) endpointstate.Delta {
	d := endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: 1, Reset: true,
		States: []endpointstate.KeyValue{
			kv(endpointstate.KeyAddress, addr, 1),
			kv(endpointstate.KeyStatus, endpointstate.StatusNormal, 2),
		}}
	v := int64(3)
	for k, val := range states {
		d.States = append(d.States, kv(k, val, v))
		v++
	}
	return d
}

// Grow returns an incremental delta for endpoint id at generation gen
// that adds n keys named prefix0, prefix1, ... with values of size bytes,
// versioned from just above from: each delta passes the per-delta checks,
// and a chain of them (each from the previous one's MaxVersion) grows one
// endpoint without end unless the receiver checks the merged result.
func Grow(id string, gen, from int64, prefix string, n, size int) endpointstate.Delta {
	d := endpointstate.Delta{Endpoint: id, Generation: gen, FromVersion: from, HeartBeat: from + int64(n) + 1}
	value := string(make([]byte, size))
	for i := range n {
		d.States = append(d.States, kv(prefix+strconv.Itoa(i), value, from+1+int64(i)))
	}
	return d
}

// Resources is the process's live heap and goroutine count.
type Resources struct {
	// HeapInuse is runtime.MemStats.HeapInuse after a collection.
	HeapInuse uint64
	// Goroutines is runtime.NumGoroutine.
	Goroutines int
}

// Measure collects garbage twice and returns the process's resources.
func Measure() Resources {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Resources{HeapInuse: ms.HeapInuse, Goroutines: runtime.NumGoroutine()}
}

// Growth returns how far r is above base: heap bytes (0 if it shrank) and
// goroutines (0 if fewer).
func (r Resources) Growth(base Resources) (heap uint64, goroutines int) {
	if r.HeapInuse > base.HeapInuse {
		heap = r.HeapInuse - base.HeapInuse
	}
	return heap, max(0, r.Goroutines-base.Goroutines)
}

func kv(key, value string, version int64) endpointstate.KeyValue {
	return endpointstate.KeyValue{Key: key, VersionedValue: endpointstate.VersionedValue{Value: value, Version: version}}
}
