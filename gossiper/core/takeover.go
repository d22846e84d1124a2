package core

// Generation takeover: a newer state of our own ID (a previous incarnation,
// or an announcement that we left) is beaten by taking a generation above
// it, within the acceptance window.

import (
	"fmt"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// checkSelf looks at deltas about this node's own ID. Only this node speaks
// for itself, so they are never applied; but one newer than the node's own
// state shows that peers hold another incarnation of it:
//   - a "left" state (an operator's Remove or Assassinate, or a peer's
//     RemoveDownAfter, while this node in fact runs): refuted at once;
//   - a previous incarnation at this node's address, or one that does not
//     say (a restart within the same second, a clock that went back):
//     taken over at once;
//   - a state at another address, which may be a twin: probed with an
//     echo, and taken over only if nobody answers there.
//
// Taking over means taking a generation above the one seen; peers then
// replace the old state and see this node restart.
func (n *Node) checkSelf(now time.Time, deltas []endpointstate.Delta, out *Output) {
	if n.phase != phaseRunning {
		return
	}
	for i := range deltas {
		if deltas[i].Endpoint == n.id {
			n.checkSelfDelta(now, &deltas[i], out)
		}
	}
}

// checkSelfDelta acts on one delta about our own ID, if it is believable
// and newer than our own state (see checkSelf).
func (n *Node) checkSelfDelta(now time.Time, d *endpointstate.Delta, out *Output) {
	if n.cfg.Limits.CheckDelta(d) != nil || d.Generation > generationLimit(now) {
		return // not believable: Apply rejects it too
	}
	if d.Generation < n.gen || d.Generation == n.gen && d.MaxVersion() <= n.self().MaxVersion() {
		return
	}
	addr := deltaValue(d, endpointstate.KeyAddress)
	switch {
	case deltaValue(d, endpointstate.KeyStatus) == endpointstate.StatusLeft:
		n.takeGeneration(now, d.Generation, "a peer announced that this node left", out)
	case addr == "" || addr == n.addr:
		n.takeGeneration(now, d.Generation, "peers hold a previous incarnation's state", out)
	default:
		n.probeSelf(now, addr, d.Generation, out)
	}
}

// takeGeneration moves the node to a generation above seen (and not below
// the clock), keeping its application states.
//
// A generation above seen that would be beyond the acceptance window
// (more than MaxGenerationDrift ahead of the clock, where every peer
// refuses it) is never taken, nor persisted: the node keeps its own,
// warns and counts (Counters.GenerationsRefused).
func (n *Node) takeGeneration(now time.Time, seen int64, why string, out *Output) {
	n.probe.nonce = 0 // any probe is moot; lastAt still paces the next
	if !n.generationBelievable(now, seen, why, out) {
		return
	}
	gen := max(seen+1, now.Unix())
	out.Warnings = append(out.Warnings, fmt.Errorf("%s (generation %d, ours %d): taking generation %d", why, seen, n.gen, gen))
	n.adoptGeneration(gen, out)
}

// adoptGeneration makes gen the node's generation, rebuilding its local
// state (the application states kept) and telling the caller to persist
// gen.
func (n *Node) adoptGeneration(gen int64, out *Output) {
	n.gen = gen
	n.resetLocalState()
	out.NewGeneration = gen
}

// generationLimit is the highest generation peers accept at now.
func generationLimit(now time.Time) int64 {
	return now.Unix() + endpointstate.MaxGenerationDrift
}

// generationBelievable reports whether the node may take a generation
// above seen (seen+1 within the acceptance window, computed without
// overflow); if not it warns and counts.
func (n *Node) generationBelievable(now time.Time, seen int64, why string, out *Output) bool {
	if seen < generationLimit(now) {
		return true
	}
	n.counters.GenerationsRefused++
	out.Warnings = append(out.Warnings, fmt.Errorf("%s (generation %d, ours %d), but a generation above it would be "+
		"more than %d s ahead of the clock (%d), where every peer refuses it: keeping generation %d: %w",
		why, seen, n.gen, endpointstate.MaxGenerationDrift, now.Unix(), n.gen, endpointstate.ErrGenerationTooFar))
	return false
}

// GenerationLimit is the highest generation peers accept at now,
// endpointstate.MaxGenerationDrift seconds ahead of the clock: a node
// starting above it, or a persisted generation at it (the next one would
// be above), is refused with [GenerationTooFar].
func GenerationLimit(now time.Time) int64 { return generationLimit(now) }

// GenerationTooFar is the error for generation gen, from source (named in
// the text), being beyond [GenerationLimit] at now: it wraps
// endpointstate.ErrGenerationTooFar.
func GenerationTooFar(gen int64, now time.Time, source string) error {
	return farGeneration(gen, now, source)
}

// checkGeneration is the error for a starting generation beyond the
// acceptance window: peers would refuse every message of the node.
func checkGeneration(gen int64, now time.Time, source string) error {
	if gen <= generationLimit(now) {
		return nil
	}
	return farGeneration(gen, now, source)
}

// farGeneration describes a generation too far ahead of now.
func farGeneration(gen int64, now time.Time, source string) error {
	return fmt.Errorf("%s: generation %d is %d s ahead of the clock (%d), and every peer refuses a node more than %d s "+
		"(a year) ahead: %w", source, gen, gen-now.Unix(), now.Unix(), endpointstate.MaxGenerationDrift, endpointstate.ErrGenerationTooFar)
}

// outrunShadowed takes, in the shadow round, the generation after seen,
// the generation a seed holds for a previous incarnation of this node, if
// seen is not below ours (the clock went back), so that the restart wins.
func (n *Node) outrunShadowed(now time.Time, seen int64, out *Output) {
	if seen >= n.gen && n.generationBelievable(now, seen, "a seed holds a previous incarnation", out) {
		n.adoptGeneration(seen+1, out)
	}
}
