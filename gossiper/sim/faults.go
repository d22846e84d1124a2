package sim

import (
	"fmt"
	"strings"
	"time"
)

// apply carries out one scenario event at the current time.
func (e *engine) apply(ev Event) {
	nodes := e.pick(ev)
	e.logf("sim %s", describe(ev, nodes))
	switch ev.Kind {
	case KindCrash:
		for _, i := range nodes {
			e.crash(e.nodes[i])
		}
	case KindRestart:
		for _, i := range nodes {
			e.restart(e.nodes[i])
		}
	case KindPartition:
		e.partition(ev)
	case KindOneway:
		bl := block{from: e.set(ev.From)}
		if len(ev.To) > 0 {
			bl.to = e.set(ev.To)
		}
		e.oneway = append(e.oneway, bl)
		e.faulty = true
	case KindHeal:
		clear(e.group)
		e.oneway, e.faulty = nil, false
	case KindLoss:
		e.loss = ev.Value
	case KindClockJump:
		for _, i := range nodes {
			e.nodes[i].clock += ev.Duration
		}
	case KindPause:
		for _, i := range nodes {
			e.pause(e.nodes[i], ev.Duration)
		}
	case KindSlow:
		for _, i := range nodes {
			e.nodes[i].slow = ev.Value
		}
	case KindSet:
		for _, i := range nodes {
			e.set1(e.nodes[i], ev.Key, ev.Text)
		}
	case KindRemove:
		e.remove(nodes)
	case KindShutdown:
		for _, i := range nodes {
			e.shutdown(e.nodes[i])
		}
	}
	if dirty := e.loss > 0 || e.faulty; dirty != e.netDirty {
		e.netDirty, e.cleanSince = dirty, e.now
	}
	e.m.afterFault(e, ev, nodes)
}

// describe writes an event for the log: its kind, the nodes it acted on
// and the fields it sets.
func describe(ev Event, nodes []int) string {
	var b strings.Builder
	b.WriteString(ev.Kind)
	if len(nodes) > 0 {
		fmt.Fprintf(&b, " nodes=%v", nodes)
	}
	if len(ev.Groups) > 0 {
		fmt.Fprintf(&b, " groups=%v", ev.Groups)
	}
	if len(ev.From) > 0 {
		fmt.Fprintf(&b, " from=%v to=%v", ev.From, ev.To)
	}
	if ev.Duration != 0 {
		fmt.Fprintf(&b, " duration=%v", ev.Duration)
	}
	if ev.Kind == KindLoss || ev.Kind == KindSlow {
		fmt.Fprintf(&b, " value=%g", ev.Value)
	}
	if ev.Key != "" {
		fmt.Fprintf(&b, " %s=%q", ev.Key, ev.Text)
	}
	return b.String()
}

// pick returns the nodes an event names, or a random Fraction of the live
// nodes (at least one) for an event without nodes.
func (e *engine) pick(ev Event) []int {
	if len(ev.Nodes) > 0 || ev.Fraction == 0 {
		return ev.Nodes
	}
	var live []int
	for _, n := range e.nodes {
		if n.live() {
			live = append(live, n.idx)
		}
	}
	k := max(1, int(ev.Fraction*float64(len(live))+0.5))
	k = min(k, len(live))
	for i := range k {
		j := i + e.rng.IntN(len(live)-i)
		live[i], live[j] = live[j], live[i]
	}
	return live[:k]
}

func (e *engine) set(idx []int) []bool {
	s := make([]bool, len(e.nodes))
	for _, i := range idx {
		s[i] = true
	}
	return s
}

func (e *engine) partition(ev Event) {
	clear(e.group)
	if len(ev.Groups) == 0 {
		for _, i := range ev.Nodes {
			e.group[i] = 1
		}
	}
	for g, group := range ev.Groups {
		for _, i := range group {
			e.group[i] = g + 1
		}
	}
	e.faulty = true
}

// crash stops n at once, silently: what it had in flight still arrives,
// what comes to it is lost.
func (e *engine) crash(n *simNode) {
	if !n.up {
		return
	}
	e.m.beforeDown(e, n)
	n.up, n.paused, n.inbox, n.flushAt = false, false, nil, -1
	e.dropConns(n.idx)
}

// restart starts n again (crashing it first if it runs) with a generation
// above its last one, through a shadow round with the seeds.
func (e *engine) restart(n *simNode) {
	e.crash(n)
	gen := max(n.core.Generation()+1, e.nodeNow(n).Unix())
	n.inc++
	if err := e.newCore(n, gen); err != nil {
		e.err = err
		return
	}
	n.up, n.shut, n.slow = true, false, 0
	e.m.restarted(e, n)
	now := e.nodeNow(n)
	e.handle(n, -1, rec{out: n.core.Start(now)})
	e.schedule(item{at: e.now + e.sc.Interval, kind: kTick, node: n.idx, inc: n.inc})
}

// pause stops n's processing for d: no rounds, messages wait in its inbox.
func (e *engine) pause(n *simNode, d time.Duration) {
	if !n.live() {
		return
	}
	e.m.beforeDown(e, n)
	n.paused = true
	e.schedule(item{at: e.now + d, kind: kResume, node: n.idx, inc: n.inc})
}

// resume ends n's pause: it handles what waited, then runs a round at once
// (as a stalled process whose timer fired long ago would).
func (e *engine) resume(n *simNode, inc int) {
	if n.inc != inc || !n.up || !n.paused {
		return
	}
	n.paused = false
	e.m.resumed(e, n)
	e.logf("sim resume %s", n.id)
	inbox := n.inbox
	n.inbox = nil
	for i := range inbox {
		e.step(n, &inbox[i])
	}
	e.tick(n, n.inc)
}

func (e *engine) set1(n *simNode, key, value string) {
	if !n.live() {
		return
	}
	out, err := n.core.SetState(e.nodeNow(n), key, value)
	if err != nil {
		e.m.finding(fmt.Sprintf("round %d: set %s=%q on %s: %v", e.round, key, value, n.id, err))
		return
	}
	changed := len(out.Events) > 0 // setting the value a key has changes nothing
	e.handle(n, -1, rec{out: out})
	if changed {
		e.m.updated(e, n)
	}
	e.flush(n)
}

// remove has the first live node not among nodes remove them (they must
// be down there).
func (e *engine) remove(nodes []int) {
	skip := e.set(nodes)
	var by *simNode
	for _, n := range e.nodes {
		if n.live() && !skip[n.idx] {
			by = n
			break
		}
	}
	if by == nil {
		return
	}
	for _, i := range nodes {
		t := e.nodes[i]
		gen := t.core.Generation()
		out, err := by.core.Remove(e.nodeNow(by), t.id)
		if err != nil {
			e.m.finding(fmt.Sprintf("round %d: remove %s from %s: %v", e.round, t.id, by.id, err))
			continue
		}
		e.m.markGone(e, t, gen)
		e.handle(by, -1, rec{out: out})
	}
	e.flush(by)
}

// shutdown has n announce a graceful shutdown, then stop.
func (e *engine) shutdown(n *simNode) {
	if !n.live() {
		return
	}
	gen := n.core.Generation()
	e.handle(n, -1, rec{out: n.core.Shutdown(e.nodeNow(n))})
	e.crash(n)
	n.shut = true
	e.m.markGone(e, n, gen)
}
