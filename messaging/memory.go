package messaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// ErrAddrInUse is returned by [MemNetwork.Listen] when an open transport
// already listens on the address.
var ErrAddrInUse = errors.New("address already in use")

// MemNetwork is an in-memory network of [MemTransport]s, for tests of code
// that talks through a [Transport], and the base of a simulator.
//
// Delivery is synchronous: Send copies the payload and pushes it into the
// destination's Packets channel without blocking, on the caller's goroutine.
// The network starts no goroutine and never reads the clock, so it works
// inside a testing/synctest bubble (create the transports inside the bubble,
// since their channels belong to it).
//
// Faults are set on the network and apply to every later Send:
// [MemNetwork.Partition] and [MemNetwork.Heal], [MemNetwork.Block] and
// [MemNetwork.Unblock], and [MemNetwork.SetLossRate]. A frame swallowed by a
// fault is counted as DroppedSendError by its sender and Send returns nil, as
// a real network would not tell.
//
// A MemNetwork is safe for concurrent use. One mutex serialises every Send,
// fault change and Listen on the network, so with a single sending
// goroutine the order of deliveries, and of loss decisions, is deterministic.
type MemNetwork struct {
	// mu guards every field below, the closed flag of each transport on
	// the network, and delivery into inboxes, so that a transport cannot
	// close its inbox during a Send.
	mu           sync.Mutex
	nodes        map[string]*MemTransport // open transports, by address
	lastID       int                      // for automatic addresses
	maxFrameSize int
	partitions   []partition
	blocked      map[string]bool
	lossRate     float64
	rng          *rand.Rand // loss decisions; nil until SetLossRate
	codec        *Codec     // the lean encoding's codec; nil: raw payloads only
	// pairs are the lean tables of each direction between two open
	// transports, created on first use and dropped when either closes.
	pairs map[[2]*MemTransport]*memPair
}

// memPair is one direction's lean tables: the sender's Encoder and the
// receiver's Decoder, in step because a frame is decoded as soon as it is
// encoded, or not encoded at all.
type memPair struct {
	enc *Encoder
	dec *Decoder
}

// partition separates two groups of addresses.
type partition struct{ a, b map[string]bool }

// separates reports whether the partition drops frames between x and y.
func (p partition) separates(x, y string) bool {
	return (p.a[x] && p.b[y]) || (p.b[x] && p.a[y])
}

// NewMemNetwork returns an empty network with no faults and a maximum frame
// size of [DefaultMaxFrameSize].
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{
		nodes:        make(map[string]*MemTransport),
		maxFrameSize: DefaultMaxFrameSize,
		blocked:      make(map[string]bool),
	}
}

// Listen opens a transport at addr with a Packets channel of inboxSize
// frames. An empty addr picks a free address of the form "mem-1:7000". It
// returns [ErrAddrInUse] if an open transport already has addr; the
// address is free again once that transport is closed.
func (n *MemNetwork) Listen(addr string, inboxSize int) (*MemTransport, error) {
	if inboxSize <= 0 {
		return nil, fmt.Errorf("messaging: listen on %q: inbox size %d: must be positive", addr, inboxSize)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		for addr == "" || n.nodes[addr] != nil {
			n.lastID++
			addr = fmt.Sprintf("mem-%d:7000", n.lastID)
		}
	}
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("messaging: listen on %q: %w", addr, ErrAddrInUse)
	}
	t := &MemTransport{net: n, addr: addr, inbox: make(chan Packet, inboxSize)}
	n.nodes[addr] = t
	return t, nil
}

// SetMaxFrameSize sets the largest payload, in bytes, that transports on the
// network send. It panics if size is not in [1, 4294967295].
func (n *MemNetwork) SetMaxFrameSize(size int) {
	if size <= 0 || int64(size) > math.MaxUint32 {
		panic(fmt.Sprintf("messaging: MemNetwork.SetMaxFrameSize(%d): must be in [1, 4294967295]", size))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maxFrameSize = size
}

// Partition drops every frame between an address of groupA and an address
// of groupB, in both directions, until [MemNetwork.Heal]. Partitions add up:
// a frame crosses only if no partition separates its ends. Traffic inside a
// group, and with addresses in neither group, is not affected.
func (n *MemNetwork) Partition(groupA, groupB []string) {
	set := func(addrs []string) map[string]bool {
		m := make(map[string]bool, len(addrs))
		for _, a := range addrs {
			m[a] = true
		}
		return m
	}
	p := partition{a: set(groupA), b: set(groupB)}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partitions = append(n.partitions, p)
}

// Heal removes every partition. Blocks and the loss rate stay.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partitions = nil
}

// Block drops every frame sent to or from addr until [MemNetwork.Unblock],
// as if the node had frozen or its host had vanished without closing
// anything. addr need not be listening yet.
func (n *MemNetwork) Block(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked[addr] = true
}

// Unblock undoes [MemNetwork.Block] for addr.
func (n *MemNetwork) Unblock(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.blocked, addr)
}

// SetLossRate makes the network drop each frame, among those that no other
// fault drops, with probability p, drawn from a PCG generator seeded with
// (seed, 0) and owned by the network: the same seed and the same sequence of
// Sends drop the same frames. p = 0 turns loss off. It panics if p is not in
// [0, 1].
func (n *MemNetwork) SetLossRate(p float64, seed uint64) {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("messaging: MemNetwork.SetLossRate(%v): p must be in [0, 1]", p))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lossRate = p
	n.rng = rand.New(rand.NewPCG(seed, 0))
}

// SetCodec makes the network carry envelopes in the lean encoding, as TCP
// connections do: [MemTransport.SendEnvelope] encodes with the tables of
// the (sender, receiver) pair and the receiver gets the decoded
// [Packet.Envelope]. A frame a fault drops is dropped before it is
// encoded, so the pair's tables stay in step. Raw Sends still work. Call
// it before the transports exchange envelopes; nil turns it off.
func (n *MemNetwork) SetCodec(c *Codec) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.codec = c
	n.pairs = nil
}

// pair returns the lean tables from one transport to another. The caller
// holds n.mu.
func (n *MemNetwork) pair(from, to *MemTransport) *memPair {
	key := [2]*MemTransport{from, to}
	p := n.pairs[key]
	if p == nil {
		if n.pairs == nil {
			n.pairs = make(map[[2]*MemTransport]*memPair)
		}
		p = &memPair{enc: n.codec.NewEncoder(), dec: n.codec.NewDecoder()}
		n.pairs[key] = p
	}
	return p
}

// faulty reports whether a fault drops a frame from one address to another.
// It draws from the loss generator only when every other fault lets the
// frame through. The caller holds n.mu.
func (n *MemNetwork) faulty(from, to string) bool {
	if n.blocked[from] || n.blocked[to] {
		return true
	}
	for _, p := range n.partitions {
		if p.separates(from, to) {
			return true
		}
	}
	return n.lossRate > 0 && n.rng.Float64() < n.lossRate
}

// MemTransport is one node's [Transport] on a [MemNetwork], returned by
// [MemNetwork.Listen]. All methods are safe for concurrent use; none blocks.
type MemTransport struct {
	net    *MemNetwork
	addr   string
	inbox  chan Packet // closed by Close, under net.mu
	stats  counters
	closed bool // guarded by net.mu
}

var _ EnvelopeTransport = (*MemTransport)(nil)

// Send delivers a copy of payload to the transport listening on addr, on the
// caller's goroutine, without blocking. It returns [ErrClosed] after Close,
// an error wrapping [ErrFrameTooLarge] or [ErrEmptyFrame] for a payload of
// the wrong size, and [ErrUnreachable] if no open transport listens on addr;
// the frame is then dropped and counted. A frame swallowed by a network
// fault is counted as DroppedSendError and Send returns nil. A frame that
// arrives while the destination's Packets channel is full is counted as
// DroppedInboxFull by the destination, and Send returns nil.
func (m *MemTransport) Send(addr string, payload []byte) error {
	n := m.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.closed {
		m.stats.droppedClosed.Add(1)
		return ErrClosed
	}
	if err := checkFrameSize(len(payload), n.maxFrameSize); err != nil {
		m.stats.countRejected(err)
		return fmt.Errorf("messaging: send to %s: %w", addr, err)
	}
	dst := n.nodes[addr]
	if dst == nil {
		m.stats.droppedSendError.Add(1)
		return ErrUnreachable
	}
	if n.faulty(m.addr, addr) {
		m.stats.droppedSendError.Add(1)
		return nil
	}
	m.stats.sent(1, len(payload))
	select {
	case dst.inbox <- Packet{Payload: bytes.Clone(payload), Remote: m.addr, Reply: dst.replyTo(m)}:
		dst.stats.received(len(payload))
	default:
		dst.stats.droppedInboxFull.Add(1)
	}
	return nil
}

// SendEnvelope delivers e to the transport listening on addr, encoded
// and decoded with the lean tables of this pair of transports, on the
// caller's goroutine, without blocking. It returns [ErrNoCodec] unless the
// network has a codec ([MemNetwork.SetCodec]), and otherwise Send's
// errors. An envelope over the frame size resets the pair's tables.
func (m *MemTransport) SendEnvelope(addr string, e *Envelope) error {
	n := m.net
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case m.closed:
		m.stats.droppedClosed.Add(1)
		return ErrClosed
	case n.codec == nil:
		return ErrNoCodec
	}
	dst := n.nodes[addr]
	if dst == nil {
		m.stats.droppedSendError.Add(1)
		return ErrUnreachable
	}
	if n.faulty(m.addr, addr) {
		m.stats.droppedSendError.Add(1)
		return nil
	}
	p := n.pair(m, dst)
	b, err := p.enc.Encode(e)
	if err == nil && len(b) > n.maxFrameSize {
		err = fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), n.maxFrameSize)
	}
	if err != nil {
		delete(n.pairs, [2]*MemTransport{m, dst})
		m.stats.droppedTooLarge.Add(1)
		return fmt.Errorf("messaging: send to %s: %w", addr, err)
	}
	m.stats.sent(1, len(b))
	env, err := p.dec.Decode(b)
	if err != nil { // cannot happen: the tables are in step
		delete(n.pairs, [2]*MemTransport{m, dst})
		dst.stats.droppedMalformed.Add(1)
		return nil
	}
	select {
	case dst.inbox <- Packet{Payload: b, Envelope: env, Remote: m.addr, Reply: dst.replyTo(m), ReplyEnvelope: dst.replyEnvelopeTo(m)}:
		dst.stats.received(len(b))
	default:
		dst.stats.droppedInboxFull.Add(1)
	}
	return nil
}

// Codec returns the network's codec for envelopes, nil if it has none.
func (m *MemTransport) Codec() *Codec {
	m.net.mu.Lock()
	defer m.net.mu.Unlock()
	return m.net.codec
}

// replyEnvelopeTo is replyTo for envelopes.
func (m *MemTransport) replyEnvelopeTo(src *MemTransport) func(*Envelope) error {
	return func(e *Envelope) error {
		if err := m.checkReplyTo(src); err != nil {
			return err
		}
		return m.SendEnvelope(src.addr, e)
	}
}

// replyTo returns the Reply function of a packet that m received from
// src: it sends to src itself, if src is still open, whatever transport
// may listen at src's address later.
func (m *MemTransport) replyTo(src *MemTransport) func([]byte) error {
	return func(payload []byte) error {
		if err := m.checkReplyTo(src); err != nil {
			return err
		}
		return m.Send(src.addr, payload)
	}
}

// checkReplyTo returns, and counts, why an answer to src cannot be sent:
// m is closed (ErrClosed) or src is (ErrUnreachable).
func (m *MemTransport) checkReplyTo(src *MemTransport) error {
	n := m.net
	n.mu.Lock()
	open := !src.closed
	n.mu.Unlock()
	if open {
		return nil
	}
	if err := m.rejectClosed(); err != nil {
		return err
	}
	m.stats.droppedSendError.Add(1)
	return ErrUnreachable
}

// rejectClosed counts and returns ErrClosed if m is closed.
func (m *MemTransport) rejectClosed() error {
	m.net.mu.Lock()
	defer m.net.mu.Unlock()
	if m.closed {
		m.stats.droppedClosed.Add(1)
		return ErrClosed
	}
	return nil
}

// Packets returns the channel of received frames. Packet.Remote is the
// sender's listening address, and Packet.Reply sends back to the sender. The channel is closed by Close; frames
// already in it can still be read.
func (m *MemTransport) Packets() <-chan Packet { return m.inbox }

// LocalAddr returns the address the transport listens on.
func (m *MemTransport) LocalAddr() string { return m.addr }

// MaxFrameSize returns the network's current maximum frame size in bytes.
func (m *MemTransport) MaxFrameSize() int {
	m.net.mu.Lock()
	defer m.net.mu.Unlock()
	return m.net.maxFrameSize
}

// Stats returns a snapshot of the transport's counters.
func (m *MemTransport) Stats() Stats { return m.stats.snapshot() }

// Close removes the transport from the network, freeing its address, and
// closes its Packets channel. It is idempotent and always returns nil.
func (m *MemTransport) Close() error {
	n := m.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if n.nodes[m.addr] == m {
		delete(n.nodes, m.addr)
	}
	for k := range n.pairs {
		if k[0] == m || k[1] == m {
			delete(n.pairs, k)
		}
	}
	close(m.inbox)
	return nil
}

// Flush implements [Flusher]: a MemTransport delivers each frame inside
// Send, so nothing is ever left queued and Flush returns at once.
func (m *MemTransport) Flush(context.Context) error { return nil }
