package gossiper

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Subscription delivers events on C until it is closed (by Close or by the
// Gossiper's Stop or Halt). Events that do not fit C's buffer are dropped
// and counted, so a slow subscriber never stalls gossip; the reader is told
// in-band by an [EventOverflow] event carrying how many were lost (see
// [Event.Lost]), sent as soon as the buffer has room, whatever kinds the
// subscription asked for. On an overflow event, resynchronise from
// [Gossiper.Members].
type Subscription struct {
	// C receives the events.
	C <-chan Event

	c       chan Event         // capacity buffer+1: the last slot is for overflow events
	buffer  int                // how many ordinary events C may hold
	kinds   map[EventKind]bool // nil: every kind
	dropped atomic.Uint64
	lost    uint64 // dropped but not yet reported in-band; guarded by the owner's lock
	owner   *subscribers
}

// Dropped returns how many events did not fit the buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes C. It is idempotent.
func (s *Subscription) Close() { s.owner.remove(s) }

// subscribers is the set of subscriptions.
type subscribers struct {
	// mu guards list, closed and each subscription's lost count; the loop
	// holds it while sending, so a subscription is never closed in the
	// middle of a send.
	mu     sync.Mutex
	list   []*Subscription
	closed bool
}

func (s *subscribers) add(buffer int, kinds []EventKind) *Subscription {
	sub := &Subscription{c: make(chan Event, buffer+1), buffer: buffer, owner: s}
	sub.C = sub.c
	if len(kinds) > 0 {
		sub.kinds = map[EventKind]bool{}
		for _, k := range kinds {
			sub.kinds[k] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(sub.c)
		return sub
	}
	s.list = append(s.list, sub)
	return sub
}

func (s *subscribers) remove(sub *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.list, sub); i >= 0 {
		// slices.Delete clears the vacated tail slot, so the backing array
		// does not keep the removed subscription (and its buffer) alive.
		s.list = slices.Delete(s.list, i, i+1)
		close(sub.c)
	}
}

// publish hands events, in order, to every subscription that wants them,
// reporting earlier losses in-band first. It never blocks; it is called
// after every round, with or without events, so that a pending overflow
// report goes out as soon as the reader made room. Only the loop calls it.
func (s *subscribers) publish(now time.Time, events []Event, dropped *atomic.Uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.list {
		sub.reportLoss(now)
		for _, e := range events {
			if sub.kinds != nil && !sub.kinds[e.Kind] {
				continue
			}
			// The last slot is kept for the overflow report, and nothing
			// overtakes a pending report.
			if sub.lost == 0 && len(sub.c) < sub.buffer {
				sub.c <- e
				continue
			}
			sub.lost++
			sub.dropped.Add(1)
			dropped.Add(1)
			sub.reportLoss(now)
		}
	}
}

// reportLoss sends an overflow event for the events lost since the last
// report, if there were some and C has room. The publisher is the only
// sender, so the room it sees cannot vanish before the send.
func (s *Subscription) reportLoss(now time.Time) {
	if s.lost > 0 && len(s.c) < cap(s.c) {
		s.c <- Event{Kind: EventOverflow, Time: now, Lost: s.lost}
		s.lost = 0
	}
}

func (s *subscribers) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.list {
		close(sub.c)
	}
	s.list, s.closed = nil, true
}

// Subscribe returns a subscription to events of the given kinds (all kinds
// if none), buffered by Config.EventBuffer. Overflow events are delivered
// whatever the kinds.
func (g *Gossiper) Subscribe(kinds ...EventKind) *Subscription {
	return g.subs.add(g.cfg.EventBuffer, kinds)
}

// dispatcher runs the callbacks registered with On: one goroutine, fed by
// one subscription to every kind, calls them one at a time in the order
// the events happened. It lives while it has callbacks; the last cancel
// ends it, and the next On starts a new one.
type dispatcher struct {
	handlers []*handler // in registration order; guarded by Gossiper.cbMu
	sub      *Subscription
	done     chan struct{} // closed when the goroutine has exited
}

// handler is one callback. mu is held while fn runs, so that cancel can
// wait for a call in progress and prevent later ones.
type handler struct {
	kind      EventKind
	fn        func(Event)
	mu        sync.Mutex
	cancelled bool
}

// On calls fn for every event of kind, until the returned cancel function
// is called or the Gossiper stops. Every callback registered with On (and
// OnJoin, OnDead, ...) runs on one goroutine per Gossiper, one at a time,
// in the order the events happened, across kinds: a dead event is handled
// before the restart and alive events that follow it. Callbacks run outside
// the gossip loop: a slow one delays only the callbacks after it, never
// gossip; if they fall more than Config.EventBuffer events behind, events
// are dropped and an [EventOverflow] event (to On(EventOverflow, ...))
// says how many. Stop, Halt and Leave do not wait for fn (so fn may call
// them); once the Gossiper stops, fn is called no more. cancel waits for a
// call of fn in progress to return and prevents later ones, so fn must not
// call its own cancel (it may cancel other callbacks).
func (g *Gossiper) On(kind EventKind, fn func(Event)) (cancel func()) {
	h := &handler{kind: kind, fn: fn}
	g.cbMu.Lock()
	d := g.cb
	if d == nil {
		d = &dispatcher{sub: g.Subscribe(), done: make(chan struct{})}
		g.cb = d
		go g.dispatch(d)
	}
	d.handlers = append(d.handlers, h)
	g.cbMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.cancelled = true
			h.mu.Unlock()
			g.cbMu.Lock()
			d.handlers = slices.DeleteFunc(d.handlers, func(x *handler) bool { return x == h })
			last := len(d.handlers) == 0 && g.cb == d
			if last {
				g.cb = nil
			}
			g.cbMu.Unlock()
			if last {
				d.sub.Close()
				<-d.done
			}
		})
	}
}

// dispatch is the callback goroutine of d.
func (g *Gossiper) dispatch(d *dispatcher) {
	defer close(d.done)
	var calls []*handler
	for e := range d.sub.C {
		g.cbMu.Lock()
		calls = calls[:0]
		for _, h := range d.handlers {
			if h.kind == e.Kind {
				calls = append(calls, h)
			}
		}
		g.cbMu.Unlock()
		for _, h := range calls {
			if g.subs.isClosed() {
				return
			}
			h.mu.Lock()
			if !h.cancelled {
				h.fn(e)
			}
			h.mu.Unlock()
		}
	}
}

// OnJoin calls fn for every join event; see [Gossiper.On].
func (g *Gossiper) OnJoin(fn func(Event)) (cancel func()) { return g.On(EventJoin, fn) }

// OnAlive calls fn for every alive event; see [Gossiper.On].
func (g *Gossiper) OnAlive(fn func(Event)) (cancel func()) { return g.On(EventAlive, fn) }

// OnDead calls fn for every dead event; see [Gossiper.On].
func (g *Gossiper) OnDead(fn func(Event)) (cancel func()) { return g.On(EventDead, fn) }

// OnChange calls fn for every change event; see [Gossiper.On].
func (g *Gossiper) OnChange(fn func(Event)) (cancel func()) { return g.On(EventChange, fn) }

// OnRestart calls fn for every restart event; see [Gossiper.On].
func (g *Gossiper) OnRestart(fn func(Event)) (cancel func()) { return g.On(EventRestart, fn) }

// OnRemove calls fn for every remove event; see [Gossiper.On].
func (g *Gossiper) OnRemove(fn func(Event)) (cancel func()) { return g.On(EventRemove, fn) }

// OnOverflow calls fn when callbacks fell behind and events were lost
// (Event.Lost says how many); see [Gossiper.On].
func (g *Gossiper) OnOverflow(fn func(Event)) (cancel func()) { return g.On(EventOverflow, fn) }
