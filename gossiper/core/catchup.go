package core

// Catch-up rounds: a node that has just started knows only what its seeds
// told it, often a small part of a cluster that is starting too. Rather
// than wait a whole interval for each round that teaches it more, it
// gossips at once when it starts and again every Interval/4 while its
// exchanges keep teaching it new endpoints, or while its last catch-up
// round has had no Ack (a Syn lost: at a cluster-wide start the seed,
// which every node asks first, refuses connections beyond MaxConns), for
// its first two intervals.

import "time"

const (
	// catchUpWindow is how long after its start a node may run catch-up
	// rounds, in intervals.
	catchUpWindow = 2
	// catchUpSpacing divides the interval: the least time between two
	// catch-up rounds is Interval/catchUpSpacing.
	catchUpSpacing = 4
)

// catchUp is the state of a starting node's catch-up rounds: the window
// ends at until (0: none was opened), the next round is due at next if
// news (a new endpoint learnt since the last one, or the start itself)
// or unanswered (no Ack since the last one) calls for it.
type catchUp struct {
	news, unanswered bool
	until, next      moment
}

// beginCatchUp opens the catch-up window of a node that starts gossiping
// at now (after Start or its shadow round; not after StartFromView, whose
// view is already whole): the first round is due at once.
func (n *Node) beginCatchUp(now time.Time) {
	n.catchUp = catchUp{news: true, next: n.moment(now), until: n.moment(now.Add(catchUpWindow * n.cfg.Interval))}
}

// learnt notes a new endpoint for the catch-up rounds.
func (n *Node) learnt() { n.catchUp.news = true }

// acked notes an Ack for the catch-up rounds: the last one was answered.
func (n *Node) acked() { n.catchUp.unanswered = false }

// catchUpPending reports whether a catch-up round is pending, and how long
// until it is due (0: now): never once now reaches the window's end.
func (n *Node) catchUpPending(now time.Time) (wait time.Duration, pending bool) {
	c := &n.catchUp
	if n.phase != phaseRunning || c.until == 0 || !now.Before(n.time(c.until)) || !c.news && !c.unanswered {
		return 0, false
	}
	return max(n.time(c.next).Sub(now), 0), true
}

// sendCatchUp sends a catch-up round's Syns if one is due: the round's
// gossip without its heartbeat bump and liveness checks, which stay the
// Tick's.
func (n *Node) sendCatchUp(now time.Time, out *Output) {
	if wait, pending := n.catchUpPending(now); !pending || wait > 0 {
		return
	}
	n.catchUp.news, n.catchUp.unanswered = false, true
	n.catchUp.next = n.moment(now.Add(n.cfg.Interval / catchUpSpacing))
	n.counters.CatchUpRounds++
	n.gossip(now, out)
}
