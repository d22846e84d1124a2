package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
)

// block is a one-way block: messages from a node in from to a node in to
// (every node when to is nil) are dropped.
type block struct{ from, to []bool }

// conn is one direction of a kept connection: the sender's and the
// receiver's lean tables, in step.
type conn struct {
	enc *messaging.Encoder
	dec *messaging.Decoder
}

// dropConns closes node i's kept connections (it crashed or restarted):
// the next messages start fresh tables.
func (e *engine) dropConns(i int) {
	for k := range e.conns {
		if k[0] == i || k[1] == i {
			delete(e.conns, k)
		}
	}
}

// sendKept encodes env on the kept connection from n to node to and, when
// frames are decoded, decodes it there at once (frames on a connection
// are read in the order they were written, whatever the simulated
// network does to their timing). It returns the frame and the envelope
// to deliver.
func (e *engine) sendKept(n *simNode, to int, env *messaging.Envelope) ([]byte, *messaging.Envelope, error) {
	if e.conns == nil {
		e.conns = map[[2]int]*conn{}
	}
	c := e.conns[[2]int{n.idx, to}]
	if c == nil {
		c = &conn{enc: e.codec.NewEncoder(), dec: e.codec.NewDecoder()}
		e.conns[[2]int{n.idx, to}] = c
	}
	b, err := c.enc.Encode(env)
	if err != nil || !e.decode {
		return b, env, err
	}
	got, err := c.dec.Decode(b)
	return b, got, err
}

// send encodes m from n (unless fr holds its frame, encoded by a
// worker) and puts it on the network to node to.
func (e *engine) send(n *simNode, to int, m messaging.Message, fr *frame) {
	env := e.envelope(n, m)
	var b []byte
	var size int
	var deliver *messaging.Envelope
	if e.sc.KeepConnections {
		var err error
		if b, deliver, err = e.sendKept(n, to, env); err != nil {
			e.err = fmt.Errorf("sim: %s to %s, %s: %w", n.id, e.nodes[to].id, m.Type(), err)
			return
		}
		size = len(b)
	} else {
		if fr == nil {
			f := e.fresh.frame(e, n, m)
			fr = &f
		}
		if fr.err != nil {
			e.err = fmt.Errorf("sim: %s cannot encode a %s: %w", n.id, m.Type(), fr.err)
			return
		}
		b, size = fr.b, fr.size
	}
	n.sentB += int64(size)
	n.sentMsgs++
	e.m.sent(m.Type())
	if e.blocked(n.idx, to) || e.loss > 0 && e.rng.Float64() < e.loss {
		return
	}
	copies := 1
	if d := e.sc.Network.Duplicate; d > 0 && e.rng.Float64() < d {
		copies = 2
	}
	p := &packet{from: n.idx, toInc: e.nodes[to].inc, payload: b, env: deliver}
	if !e.decode {
		p.env = env
		e.refs[m] += copies
	}
	for range copies {
		e.schedule(item{at: e.now + e.latency(), kind: kDeliver, node: to, msg: p})
	}
}

// frame is a message's fresh-connection frame, encoded by a worker: the
// bytes when frames are decoded, else nil; its size; or why it could not
// be encoded.
type frame struct {
	b    []byte
	size int
	err  error
}

// wenc is an encoder of fresh-connection frames (one per worker, and the
// engine's own), and the last message it encoded: a message sent to
// several peers (a push, a round's Syns) has the same fresh-connection
// frame each time, so it is encoded once.
type wenc struct {
	enc      *messaging.Encoder
	lastMsg  messaging.Message
	lastFrom *simNode
	last     frame
}

// frame returns m's frame from n as the first frame of a fresh
// connection: the last one if m is what w encoded last for n, else
// encoded with w's encoder reset to a new connection's tables or, when
// frames are not decoded, only sized (Encoder.FreshSize, which leaves
// the tables alone).
func (w *wenc) frame(e *engine, n *simNode, m messaging.Message) frame {
	if m == w.lastMsg && n == w.lastFrom {
		return w.last
	}
	env := e.envelope(n, m)
	var f frame
	if e.decode {
		w.enc.Reset()
		f.b, f.err = w.enc.Encode(env)
		f.size = len(f.b)
	} else {
		f.size, f.err = w.enc.FreshSize(env)
	}
	w.lastMsg, w.lastFrom, w.last = m, n, f
	return f
}

// envelope is m as n sends it.
func (e *engine) envelope(n *simNode, m messaging.Message) *messaging.Envelope {
	return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: e.cfg.ClusterName, From: n.id, Addr: n.addr, Message: m}
}

// frames encodes, on the worker stepping n, the messages n's core just emitted, as
// send would (the frame of a fresh connection does not depend on the
// encoder or on what it encoded before), so that the serial pass only
// counts and sends them. nil on kept connections, whose tables send
// keeps in order.
func (e *engine) frames(n *simNode, msgs []core.Outgoing) []frame {
	if len(msgs) == 0 || e.sc.KeepConnections {
		return nil
	}
	we := &e.par.enc[n.w]
	fs := make([]frame, len(msgs))
	for i, o := range msgs {
		fs[i] = we.frame(e, n, o.Message)
	}
	return fs
}

// latency draws one message's delay.
func (e *engine) latency() time.Duration {
	nw := e.sc.Network
	d := nw.Latency
	if nw.Jitter > 0 {
		d = time.Duration(math.Round(float64(nw.Latency) + float64(nw.Jitter)*e.rng.NormFloat64()))
	}
	if nw.Reorder > 0 && e.rng.Float64() < nw.Reorder {
		d += time.Duration(e.rng.Int64N(int64(e.sc.Interval)))
	}
	return max(d, nw.minLatency())
}

// blocked reports whether a partition or a one-way block drops messages
// from node a to node b.
func (e *engine) blocked(a, b int) bool {
	if !e.faulty {
		return false
	}
	if e.group[a] != e.group[b] {
		return true
	}
	for _, bl := range e.oneway {
		if bl.from[a] && (bl.to == nil || bl.to[b]) {
			return true
		}
	}
	return false
}

// separated reports whether a and b cannot talk both ways.
func (e *engine) separated(a, b int) bool { return e.blocked(a, b) || e.blocked(b, a) }

func (e *engine) logEvent(n *simNode, ev core.Event) {
	if e.log == nil {
		return
	}
	switch ev.Kind {
	case core.EventChange:
		e.logf("%s change %s gen=%d key=%s deleted=%t", n.id, ev.Endpoint, ev.Generation, ev.Key, ev.Deleted)
	case core.EventRestart:
		e.logf("%s restart %s gen=%d old=%d", n.id, ev.Endpoint, ev.Generation, ev.OldGeneration)
	case core.EventDead, core.EventRemove:
		e.logf("%s %s %s gen=%d reason=%s phi=%.4f", n.id, ev.Kind, ev.Endpoint, ev.Generation, ev.Reason, ev.Phi)
	default:
		e.logf("%s %s %s gen=%d", n.id, ev.Kind, ev.Endpoint, ev.Generation)
	}
}

// logf writes one line of the event log, stamped with the virtual time.
func (e *engine) logf(format string, args ...any) {
	if e.log == nil {
		return
	}
	fmt.Fprintf(e.log, "%d.%09d ", e.now/time.Second, e.now%time.Second)
	fmt.Fprintf(e.log, format, args...)
	e.log.WriteByte('\n')
}
