package core

import (
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// Step handles one message received at now. Messages from another cluster,
// from the node itself, or arriving in the wrong phase are dropped (with a
// warning for the first two). Answers to the message are marked
// [Outgoing.Reply], to be sent back on the channel it came in on; each
// sender ID gets at most 8 answers per Config.Interval, and requests beyond
// that are dropped and counted in [Counters.RepliesLimited]. Callers that
// know where the message came from use [Node.StepFrom].
func (n *Node) Step(now time.Time, env *messaging.Envelope) Output {
	return n.StepFrom(now, "", env)
}

// StepFrom is [Node.Step] for a message that came in from source, the
// transport's name for the channel it arrived on ([messaging.Packet.Remote]:
// the TCP connection's remote IP:port; in memory, the sending transport's
// address), which, unlike the envelope, the sender cannot choose per
// message. Answers are budgeted per source as well as per sender ID: at
// most 8 per Config.Interval each, so a peer forging a new ID for every
// request still gets at most 8 answers per interval per connection. An
// empty source budgets per sender ID only.
func (n *Node) StepFrom(now time.Time, source string, env *messaging.Envelope) Output {
	n.source = source
	defer func() { n.source = "" }()
	var out Output
	switch {
	case env == nil || env.Message == nil:
	case env.Cluster != n.cfg.ClusterName:
		n.counters.ClusterMismatch++
		out.Warnings = append(out.Warnings, fmt.Errorf("dropped %s from %q at %s: cluster %q, ours %q",
			env.Message.Type(), env.From, env.Addr, env.Cluster, n.cfg.ClusterName))
	case env.From == n.id:
		n.stepOwnID(now, env, &out)
	default:
		n.stepPeer(now, env, &out)
	}
	return out
}

// stepPeer handles a message from another node: the shadow round's in any
// phase, the others only while running.
func (n *Node) stepPeer(now time.Time, env *messaging.Envelope, out *Output) {
	shadowed := n.stepShadow(now, env, out)
	if n.phase != phaseRunning {
		return
	}
	n.directContact(now, env.From, out)
	switch m := env.Message.(type) {
	case *messaging.Syn:
		n.handleSyn(now, env, m, nil, out)
	case *messaging.NumberedSyn:
		n.handleSyn(now, env, &m.Syn, m.Numbers, out)
	case *messaging.Ack:
		n.handleAck(now, env, m, nil, out)
	case *messaging.NumberedAck:
		n.handleAck(now, env, &m.Ack, m.RequestNumbers, out)
	case *messaging.Ack2:
		n.applyDeltas(now, m.Deltas, out)
	case *messaging.Push:
		n.handlePush(now, env, m, out)
	case *messaging.Shutdown:
		n.handleShutdown(now, env, m, out)
	case *messaging.Echo:
		n.answerEcho(now, env, m, out)
	case *messaging.EchoReply:
		n.handleEchoReply(now, env.From, m, out)
	case *messaging.ShadowAck:
		if !shadowed {
			n.handleLateShadowAck(now, m, out)
		}
	}
}

// handleSyn answers with an Ack: requests for what the sender knows better,
// deltas for what it lacks, within one frame. numbers are the digests'
// endpoint numbers, when the Syn came with them (messaging.NumberedSyn).
func (n *Node) handleSyn(now time.Time, env *messaging.Envelope, syn *messaging.Syn, numbers []uint32, out *Output) {
	if !n.allowAnswer(now, env) {
		return
	}
	digests := syn.Digests
	if len(n.removed) > 0 {
		digests, numbers = n.dropQuarantinedDigests(digests, now), nil
	}
	requests, requestNumbers, wants := n.states.ExamineNumbered(digests, numbers)
	wants = n.dropQuarantined(wants, now)
	budget := n.cfg.MaxFrameSize - n.overhead
	for _, r := range requests {
		budget -= r.SizeBound()
	}
	deltas, complete := n.states.BuildDeltas(wants, budget)
	n.cfg.Scratch.PutWants(wants)
	if !complete {
		n.counters.AcksTruncated++
	}
	if requestNumbers != nil {
		out.reply(env, &messaging.NumberedAck{Ack: messaging.Ack{Requests: requests, Deltas: deltas}, RequestNumbers: requestNumbers})
		return
	}
	out.reply(env, &messaging.Ack{Requests: requests, Deltas: deltas})
}

// handleAck applies the Ack's deltas and answers its requests with an Ack2.
// requestNumbers are the requests' endpoint numbers, when the Ack came
// with them (messaging.NumberedAck).
func (n *Node) handleAck(now time.Time, env *messaging.Envelope, ack *messaging.Ack, requestNumbers []uint32, out *Output) {
	n.acked()
	n.applyDeltas(now, ack.Deltas, out)
	if !n.allowAnswer(now, env) {
		return
	}
	wants := n.dropQuarantined(n.states.WantsForNumbered(ack.Requests, requestNumbers), now)
	deltas, complete := n.states.BuildDeltas(wants, n.cfg.MaxFrameSize-n.overhead)
	n.cfg.Scratch.PutWants(wants)
	if !complete {
		n.counters.AcksTruncated++
	}
	out.reply(env, &messaging.Ack2{Deltas: deltas})
}

// handleShutdown applies a peer's announced final state and marks it down
// at once. Its status stays "shutdown" for this generation, so gossip of the
// same generation cannot bring it back; only a restart can.
func (n *Node) handleShutdown(now time.Time, env *messaging.Envelope, m *messaging.Shutdown, out *Output) {
	if m.State.Endpoint != env.From {
		n.counters.Rejected++
		out.Warnings = append(out.Warnings, fmt.Errorf("dropped shutdown from %q about %q", env.From, m.State.Endpoint))
		return
	}
	n.applyDeltas(now, []endpointstate.Delta{m.State}, out)
	if s := n.states.Get(env.From); s != nil && s.HeartBeat.Generation == m.State.Generation {
		n.markDown(env.From, now, "shutdown", 0, out)
	}
}

// Answers are rate-limited per sender ID and per source (the connection a
// request came in on, see [Node.StepFrom]): at most replyBurst each per
// Interval (a peer's round asks for one or two: its Syn, our Syn's Ack, an
// echo), so forged requests cannot make a node spend its bandwidth, or
// flood a connection, at a rate of the attacker's choosing, even when they
// forge a new ID each. The source is the connection, not its IP: on
// loopback, or behind a NAT, many honest peers share one IP, and a budget
// per IP would make them starve each other, while the transport bounds how
// many connections one attacker holds (TCPConfig.MaxConns,
// MaxConnsPerSource). Answers go back on the connection the request came on
// (Outgoing.Reply), so they cannot be aimed at a third party either.
const (
	replyBurst = 8
	// maxReplySenders bounds each table of windows (sender IDs, sources);
	// when one is full and none of its windows has ended, it starts afresh.
	maxReplySenders = 4096
)

// replyBudget counts answers per sender ID and per source in the current
// window.
type replyBudget struct {
	senders, sources replyWindows
}

// replyWindows maps a sender ID or a source to its window.
type replyWindows map[string]*replyWindow

type replyWindow struct {
	start time.Time
	used  int
}

// allowAnswer spends one answer of env.From's budget, and of the current
// message's source's, at now. It returns false, counting the refusal, when
// either budget of this interval is spent.
func (n *Node) allowAnswer(now time.Time, env *messaging.Envelope) bool {
	b := &n.replies
	w := b.senders.window(now, env.From, n.cfg.Interval)
	var s *replyWindow
	if n.source != "" {
		s = b.sources.window(now, n.source, n.cfg.Interval)
	}
	if w.used >= replyBurst || s != nil && s.used >= replyBurst {
		n.counters.RepliesLimited++
		return false
	}
	w.used++
	if s != nil {
		s.used++
	}
	return true
}

// window returns key's window at now, a new one if the last has ended,
// making room first if key is new and the table is full.
func (ws *replyWindows) window(now time.Time, key string, interval time.Duration) *replyWindow {
	w := (*ws)[key]
	if w == nil {
		if *ws == nil || len(*ws) >= maxReplySenders {
			ws.prune(now, interval)
		}
		w = &replyWindow{start: now}
		(*ws)[key] = w
	}
	if now.Sub(w.start) >= interval || now.Before(w.start) {
		w.start, w.used = now, 0
	}
	return w
}

// prune forgets windows that have ended, or all of them if that does not
// make room.
func (ws *replyWindows) prune(now time.Time, interval time.Duration) {
	for key, w := range *ws {
		if now.Sub(w.start) >= interval {
			delete(*ws, key)
		}
	}
	if *ws == nil || len(*ws) >= maxReplySenders {
		*ws = make(replyWindows)
	}
}

// answer sends m back to the sender of env, within its answer budget.
func (n *Node) answer(now time.Time, env *messaging.Envelope, m messaging.Message, out *Output) {
	if n.allowAnswer(now, env) {
		out.reply(env, m)
	}
}
