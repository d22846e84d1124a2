package core

// Echoes: a peer is marked up only when it answers our echo itself; down
// peers that talk to us directly are echoed, and peers' echoes answered.
//
// Echoes are paced. A node that learns a whole cluster at once (a join, a
// partition healing) would otherwise echo every peer in the same
// millisecond, and on TCP each echo to a peer it has no connection with
// is a new connection: more than TCPConfig.MaxConns at once make the
// transport evict connections still in use and lose what was on them.
// So an echo is queued, and the queue is drained at NodeConfig.EchoRate
// echoes a second (EchoBurst at once) by Tick and Flush, first due first;
// over datagrams, where an echo opens no connection, the runtime paces
// faster (DatagramEchoRate, DatagramEchoBurst). An echo
// that gets no answer is sent again on its own, echoRetries times, after
// Interval/2 and Interval; after that, as before, when gossip about the
// peer arrives or it talks to us, at most once an Interval. (Retries after
// Interval/4 were tried: under a loaded join a round trip can take longer,
// and the extra echoes, each a connection to open, made the join slower.)

import (
	"container/heap"
	"math"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

const (
	// echoRetries is how many times an unanswered echo is sent again on
	// its own, after Interval/2 and Interval.
	echoRetries = 2
)

// echo is the outstanding echo to a down peer (see Node.echoes): nonce
// is the latest's, first the nonce of the first echo sent since the last
// answer (0 for none yet). A reply to any of them counts (nonces only
// grow), so a peer whose round trip is longer than the retry delay is
// still marked up. tries counts the echoes sent since the last answer;
// queued says the echo queue holds an entry for this peer, with seq and
// due (older entries for it are stale).
type echo struct {
	nonce, first uint64
	sentAt       moment
	due          moment
	seq          uint64
	tries        uint8
	queued       bool
}

// echoQueue is the paced echo queue: a min-heap of (due, seq) and the
// token bucket that bounds the sends, in virtual time.
type echoQueue struct {
	q      echoHeap
	seq    uint64
	bucket tokenBucket
}

type echoEntry struct {
	due moment
	seq uint64
	ep  string
}

type echoHeap []echoEntry

func (h echoHeap) Len() int { return len(h) }
func (h echoHeap) Less(i, j int) bool {
	return h[i].due < h[j].due || h[i].due == h[j].due && h[i].seq < h[j].seq
}
func (h echoHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *echoHeap) Push(x any)   { *h = append(*h, x.(echoEntry)) }
func (h *echoHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	if len(*h) == 0 && cap(*h) > 4*DefaultEchoBurst {
		*h = nil // a join's queue is dropped, not kept at its peak
	}
	return e
}

// echoRetryDelay is how long after the tries-th unanswered echo the next
// may go: Interval/2 after the first, then Interval.
func (n *Node) echoRetryDelay(tries uint8) time.Duration {
	if tries <= 1 {
		return n.cfg.Interval / 2
	}
	return n.cfg.Interval
}

// echoable reports whether peer ep may be echoed: the node runs and ep is
// a tracked peer, down, neither left nor shut down.
func (n *Node) echoable(ep string) bool {
	p, s := n.peers.get(ep), n.states.Get(ep)
	return n.phase == phaseRunning && p != nil && s != nil && !p.alive() &&
		s.Status() != endpointstate.StatusLeft && s.Status() != endpointstate.StatusShutdown
}

// maybeEcho echoes a down peer: at once if the echo budget allows, else
// when it does; never sooner than the retry delay after the last echo to
// it, so at most one an Interval once the retries are spent.
func (n *Node) maybeEcho(ep string, now time.Time, out *Output) {
	if !n.echoable(ep) {
		return
	}
	e := n.echoes.m[ep]
	at := n.moment(now)
	if e.tries > 0 {
		at = max(at, e.sentAt+moment(n.echoRetryDelay(e.tries)))
	}
	if !e.queued || e.due > at {
		n.queueEcho(ep, e, at)
	}
	n.sendEchoes(now, out)
}

// queueEcho queues an echo to ep at due, replacing any later entry.
func (n *Node) queueEcho(ep string, e echo, due moment) {
	n.echoQ.seq++
	e.queued, e.due, e.seq = true, due, n.echoQ.seq
	n.echoes.set(ep, e)
	heap.Push(&n.echoQ.q, echoEntry{due: due, seq: e.seq, ep: ep})
}

// sendEchoes sends the queued echoes that are due, as many as the budget
// allows; each unanswered echo queues its retry.
func (n *Node) sendEchoes(now time.Time, out *Output) {
	q, m := &n.echoQ, n.moment(now)
	n.refillEchoes(m)
	for len(q.q) > 0 && q.q[0].due <= m {
		top := q.q[0]
		e, ok := n.echoes.m[top.ep]
		if !ok || !e.queued || e.seq != top.seq {
			heap.Pop(&q.q) // stale: answered, dropped or queued again
			continue
		}
		if !n.echoable(top.ep) {
			heap.Pop(&q.q)
			n.echoes.drop(top.ep)
			continue
		}
		if q.bucket.tokens < 1 {
			n.counters.EchoesPaced++
			return
		}
		heap.Pop(&q.q)
		q.bucket.tokens--
		n.nonce++
		if e.first == 0 {
			e.first = n.nonce
		}
		if e.tries > 0 {
			n.counters.EchoRetries++
		}
		e.nonce, e.sentAt, e.queued = n.nonce, m, false
		e.tries = min(e.tries+1, math.MaxUint8)
		n.echoes.set(top.ep, e)
		if e.tries <= echoRetries {
			n.queueEcho(top.ep, e, m+moment(n.echoRetryDelay(e.tries)))
		}
		out.send(n.states.Get(top.ep).Address(), &messaging.Echo{Nonce: n.nonce})
	}
}

// EchoPacing returns the node's echo pacing: at most rate echoes a
// second, burst at once (NodeConfig.EchoRate and EchoBurst).
func (n *Node) EchoPacing() (rate float64, burst int) { return n.cfg.EchoRate, n.cfg.EchoBurst }

// refillEchoes adds the echo tokens earned since the last refill.
func (n *Node) refillEchoes(m moment) {
	n.echoQ.bucket.refill(m, n.cfg.EchoRate, float64(n.cfg.EchoBurst))
}

// echoPending reports whether echoes are queued, and how long from now
// until the next may go.
func (n *Node) echoPending(now time.Time) (time.Duration, bool) {
	q := &n.echoQ
	for len(q.q) > 0 {
		top := q.q[0]
		if e, ok := n.echoes.m[top.ep]; ok && e.queued && e.seq == top.seq {
			break
		}
		heap.Pop(&q.q)
	}
	if len(q.q) == 0 || n.phase != phaseRunning {
		return 0, false
	}
	m := n.moment(now)
	n.refillEchoes(m)
	wait := max(time.Duration(q.q[0].due-m), 0)
	if q.bucket.tokens < 1 {
		wait = max(wait, q.bucket.wait(1, n.cfg.EchoRate))
	}
	return wait, true
}

// handleEchoReply marks a peer up when it answers our echo itself, from the
// incarnation we know (a newer one is marked up once its state arrives).
func (n *Node) handleEchoReply(now time.Time, from string, r *messaging.EchoReply, out *Output) {
	p, s := n.peers.get(from), n.states.Get(from)
	e, pending := n.echoes.m[from]
	if p == nil || s == nil || !pending || e.first == 0 || r.Nonce < e.first || r.Nonce > e.nonce {
		return
	}
	n.echoes.drop(from)
	if p.alive() || s.Status() != endpointstate.StatusNormal || r.Generation != s.HeartBeat.Generation {
		return
	}
	p.setAlive(true)
	n.retarget()
	n.detector.ReportTracker(&p.fd, from, now)
	out.event(now, Event{Kind: EventAlive, Endpoint: from, Generation: s.HeartBeat.Generation})
}

// directContact is called for every message from a known peer: a peer we
// think is down that talks to us directly gets an echo, the proof that
// marks it up.
func (n *Node) directContact(now time.Time, from string, out *Output) {
	if p := n.peers.get(from); p != nil && !p.alive() {
		n.maybeEcho(from, now, out)
	}
}

// answerEcho answers a peer's echo (or a twin's probe) with our
// generation, within the sender's answer budget.
func (n *Node) answerEcho(now time.Time, env *messaging.Envelope, m *messaging.Echo, out *Output) {
	n.answer(now, env, &messaging.EchoReply{Nonce: m.Nonce, Generation: n.gen}, out)
}
