package gossiper

import (
	"sync"
	"sync/atomic"
)

// Subscription delivers events on C until it is closed (by Close or by the
// Gossiper's Stop). Events that do not fit C's buffer are dropped and
// counted: a slow subscriber never stalls gossip.
type Subscription struct {
	// C receives the events.
	C <-chan Event

	c       chan Event
	kinds   map[EventKind]bool // nil: every kind
	dropped atomic.Uint64
	owner   *subscribers
}

// Dropped returns how many events did not fit the buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes C. It is idempotent.
func (s *Subscription) Close() { s.owner.remove(s) }

// subscribers is the set of subscriptions.
type subscribers struct {
	// mu guards list and closed; the loop holds it (read) while sending,
	// so a subscription is never closed in the middle of a send.
	mu     sync.RWMutex
	list   []*Subscription
	closed bool
}

func (s *subscribers) add(buffer int, kinds []EventKind) *Subscription {
	sub := &Subscription{c: make(chan Event, buffer), owner: s}
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
	for i, x := range s.list {
		if x == sub {
			s.list = append(s.list[:i], s.list[i+1:]...)
			close(sub.c)
			return
		}
	}
}

func (s *subscribers) publish(e Event, dropped *atomic.Uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sub := range s.list {
		if sub.kinds != nil && !sub.kinds[e.Kind] {
			continue
		}
		select {
		case sub.c <- e:
		default:
			sub.dropped.Add(1)
			dropped.Add(1)
		}
	}
}

func (s *subscribers) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
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
// if none), buffered by Config.EventBuffer.
func (g *Gossiper) Subscribe(kinds ...EventKind) *Subscription {
	return g.subs.add(g.cfg.EventBuffer, kinds)
}

// On calls fn, on a goroutine of its own, for every event of kind, until
// the returned cancel function is called or the Gossiper stops. fn runs
// outside the gossip loop; a slow fn only makes its own events drop. Stop
// and Leave do not wait for fn (so fn may call them); once the Gossiper
// stops, fn is called no more. cancel waits for fn's goroutine to end, so
// fn must not call cancel itself.
func (g *Gossiper) On(kind EventKind, fn func(Event)) (cancel func()) {
	sub := g.Subscribe(kind)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range sub.C {
			if g.subs.isClosed() {
				return
			}
			fn(e)
		}
	}()
	return func() {
		sub.Close()
		<-done
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
