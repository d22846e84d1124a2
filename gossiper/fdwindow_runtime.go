package gossiper

import (
	"fmt"
	"time"
)

// DetectorWindow returns the failure-detector window of peer id, read on
// the loop (it costs one command round trip and copies up to the window
// size of intervals). It fails with ErrUnknownMember when the detector
// does not know id, and when the gossiper is not running.
func (g *Gossiper) DetectorWindow(id string) (DetectorWindow, error) {
	var w DetectorWindow
	var ok bool
	err := g.do(func(now time.Time) (Output, error) {
		w, ok = g.node().DetectorWindow(id, now)
		return Output{}, nil
	})
	if err != nil {
		return DetectorWindow{}, err
	}
	if !ok {
		return DetectorWindow{}, fmt.Errorf("failure detector window of %q: %w", id, ErrUnknownMember)
	}
	return w, nil
}
