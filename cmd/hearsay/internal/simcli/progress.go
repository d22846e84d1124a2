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

// update redraws the line for a run's progress p.
func (l *progressLine) update(p sim.Progress) {
	l.show(p.Round >= p.Rounds, func() string { return progressText(p) })
}

// show redraws the line with text(), unless it was drawn less than 100 ms
// ago and this is not the last update.
func (l *progressLine) show(last bool, text func() string) {
	t := l.now()
	if l.shown && t.Sub(l.last) < 100*time.Millisecond && !last {
		return
	}
	l.last, l.shown = t, true
	fmt.Fprintf(l.w, "\r\x1b[K%s", text())
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

// sweepText is the progress line of tune-phi: runs done of all, and the
// estimated time left.
func sweepText(done, total int, elapsed time.Duration) string {
	eta := "?"
	if done > 0 && total >= done {
		eta = time.Duration(float64(elapsed) / float64(done) * float64(total-done)).Round(time.Second).String()
	}
	return fmt.Sprintf("run %d/%d  elapsed %s  ETA %s", done, total, elapsed.Round(time.Second), eta)
}
