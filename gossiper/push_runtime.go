package gossiper

import (
	"time"
)

// maxPushDelay bounds how long the loop holds changes back while messages
// and commands keep arriving: it flushes when its queues are empty, or at
// the latest this long after the previous flush.
const maxPushDelay = 5 * time.Millisecond

// pusher paces the loop's flushes: a timer wakes the loop when changes
// held back by the rate limit may go out.
type pusher struct {
	timer *time.Timer
	last  time.Time
}

func newPusher() *pusher {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pusher{timer: t}
}

// wake is the channel that fires when held-back changes may be pushed.
func (p *pusher) wake() <-chan time.Time { return p.timer.C }

func (p *pusher) stop() { p.timer.Stop() }

// flushPush pushes the core's pending changes once the loop has drained
// its queues (drained), or if maxPushDelay passed since the last flush;
// if the rate limit holds some back, the timer is set for when it will
// let them go.
func (g *Gossiper) flushPush(p *pusher, now time.Time, drained bool) {
	if !drained && now.Sub(p.last) < maxPushDelay {
		return
	}
	p.last = now
	out := g.core.Flush(now)
	g.apply(now, out)
	if wait, pending := g.core.PushPending(now); pending && wait > 0 {
		p.timer.Reset(wait)
	} else {
		p.timer.Stop()
	}
}
