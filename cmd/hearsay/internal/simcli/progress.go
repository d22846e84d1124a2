package simcli

import (
	"fmt"
	"io"
	"time"

	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// progressLine shows a run's progress on one terminal line, rewritten in
// place at most ten times a second.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	last  time.Time
	shown bool
}

func newProgressLine(w io.Writer, now func() time.Time) *progressLine {
	return &progressLine{w: w, now: now}
}

// update redraws the line for p, unless it was drawn less than 100 ms ago
// and the run is not finished.
func (l *progressLine) update(p sim.Progress) {
	t := l.now()
	if l.shown && t.Sub(l.last) < 100*time.Millisecond && p.Round < p.Rounds {
		return
	}
	l.last, l.shown = t, true
	fmt.Fprintf(l.w, "\r\x1b[K%s", progressText(p))
}

// clear erases the line, if one was drawn.
func (l *progressLine) clear() {
	if l.shown {
		fmt.Fprint(l.w, "\r\x1b[K")
		l.shown = false
	}
}

// progressText is the text of the progress line: rounds done, nodes
// converged and the estimated time left, from the pace so far.
func progressText(p sim.Progress) string {
	eta := "?"
	if p.Round > 0 && p.Rounds >= p.Round {
		left := time.Duration(float64(p.Elapsed) / float64(p.Round) * float64(p.Rounds-p.Round))
		eta = left.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("round %d/%d  converged %d/%d nodes  elapsed %s  ETA %s",
		p.Round, p.Rounds, p.Converged, p.Nodes, p.Elapsed.Round(100*time.Millisecond), eta)
}
