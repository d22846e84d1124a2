package core

// The twin probe: a state of our ID at another address is echoed there,
// in the shadow round and while running; an answer means a twin runs. Also
// the dispatch of every message carrying our own ID.

import (
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// selfProbe is an echo sent under our own ID to the address another state
// of our ID advertises: an answer means a twin runs there.
type selfProbe struct {
	nonce    uint64
	addr     string
	seen     int64
	deadline time.Time
	lastAt   time.Time
}

func (n *Node) probeSelf(now time.Time, addr string, seen int64, out *Output) {
	if n.probe.nonce != 0 || (!n.probe.lastAt.IsZero() && now.Sub(n.probe.lastAt) < 10*n.cfg.Interval) {
		return
	}
	n.nonce++
	n.probe = selfProbe{nonce: n.nonce, addr: addr, seen: seen, deadline: now.Add(2 * n.cfg.Interval), lastAt: now}
	out.send(addr, &messaging.Echo{Nonce: n.nonce})
}

// tickSelfProbe takes over when the probed address stayed silent.
func (n *Node) tickSelfProbe(now time.Time, out *Output) {
	if n.probe.nonce != 0 && !now.Before(n.probe.deadline) {
		n.takeGeneration(now, n.probe.seen, "a previous incarnation at "+n.probe.addr+" does not answer", out)
	}
}

// handleSelfProbeReply: another live node answers under our ID.
func (n *Node) handleSelfProbeReply(env *messaging.Envelope, r *messaging.EchoReply, out *Output) {
	if n.probe.nonce == 0 || r.Nonce != n.probe.nonce {
		return
	}
	n.counters.Rejected++
	out.Warnings = append(out.Warnings, fmt.Errorf("%w: another live node answers as %q at %s; stop one of them", ErrIDInUse, n.id, env.Addr))
	n.probe.nonce = 0
}

func (n *Node) handleShadowProbeReply(env *messaging.Envelope, r *messaging.EchoReply, out *Output) {
	if n.shadow.probeNonce == 0 || r.Nonce != n.shadow.probeNonce {
		return
	}
	n.phase = phaseStopped
	out.Fatal = fmt.Errorf("%w: %q answers at %s", ErrIDInUse, n.id, env.Addr)
}

// stepOwnID handles a message carrying our own ID. Only the shadow round
// and the twin probes may: a starting twin asks for the state (the twin of
// a seed asks the seed itself) and probes; a running node answers, and the
// twin refuses to start. Anything else is dropped with a warning.
func (n *Node) stepOwnID(now time.Time, env *messaging.Envelope, out *Output) {
	if n.stepShadow(now, env, out) || n.stepProbe(now, env, out) {
		return
	}
	n.counters.Rejected++
	out.Warnings = append(out.Warnings, fmt.Errorf("dropped %s from %s claiming our own id %q", env.Message.Type(), env.Addr, n.id))
}

// stepProbe handles an echo or echo reply under our own ID: a twin's probe
// (answered while running) or the answer to ours (in the shadow round or
// while running). It reports whether it handled env.
func (n *Node) stepProbe(now time.Time, env *messaging.Envelope, out *Output) bool {
	switch m := env.Message.(type) {
	case *messaging.Echo:
		if n.phase == phaseRunning {
			n.answerEcho(now, env, m, out)
			return true
		}
	case *messaging.EchoReply:
		switch n.phase {
		case phaseShadow:
			n.handleShadowProbeReply(env, m, out)
			return true
		case phaseRunning:
			n.handleSelfProbeReply(env, m, out)
			return true
		}
	}
	return false
}

// probeShadowTwin, in the shadow round, echoes the address that mine, a
// seed's live state of our ID, advertises, if it is not ours: a reply
// means a twin runs there. It reports whether it sent the probe.
func (n *Node) probeShadowTwin(now time.Time, mine *endpointstate.Delta, out *Output) bool {
	addr, status := deltaValue(mine, endpointstate.KeyAddress), deltaValue(mine, endpointstate.KeyStatus)
	if status != endpointstate.StatusNormal || addr == "" || addr == n.addr {
		return false
	}
	n.nonce++
	n.shadow.probeNonce = n.nonce
	n.shadow.probeDeadline = now.Add(2 * n.cfg.Interval)
	out.send(addr, &messaging.Echo{Nonce: n.nonce})
	return true
}
