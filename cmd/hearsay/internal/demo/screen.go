package demo

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/cli"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper"
)

// ANSI sequences of the live screen.
const (
	home       = "\x1b[H"
	clearAll   = "\x1b[2J"
	clearLine  = "\x1b[K"
	clearBelow = "\x1b[J"
	hideCursor = "\x1b[?25l"
	showCursor = "\x1b[?25h"
)

// redrawEvery is how often the live screen is redrawn; followEvery how
// often a snapshot prints the crashed node's phi.
const (
	redrawEvery = 100 * time.Millisecond
	followEvery = time.Second
)

// screen shows the demo: a live, redrawn table on a terminal, or
// snapshots and results as plain lines otherwise. Only the demo's
// goroutine uses it.
type screen struct {
	w       io.Writer
	live    bool
	d       *demo
	title   string
	results []string
	drawn   time.Time
	// follow is the crashed node whose phi is printed every second in
	// snapshot mode, "" when none.
	follow   string
	followed time.Time
}

func newScreen(w io.Writer, live bool, d *demo) *screen {
	return &screen{w: w, live: live, d: d}
}

func (s *screen) begin() {
	if s.live {
		fmt.Fprint(s.w, hideCursor+clearAll)
		return
	}
	fmt.Fprintln(s.w, s.header())
}

func (s *screen) end() {
	if s.live {
		s.draw()
		fmt.Fprint(s.w, showCursor)
	}
}

func (s *screen) header() string {
	o := s.d.o
	return fmt.Sprintf("hearsay demo: %d nodes on 127.0.0.1 (real TCP), gossip every %s, phi threshold %g (%s model)",
		o.Nodes, o.Interval, o.FailureDetector.PhiConvictThreshold, o.FailureDetector.Model)
}

func (s *screen) elapsed() string {
	return fmt.Sprintf("%5.1fs", time.Since(s.d.start).Seconds())
}

// phase shows that phase no begins.
func (s *screen) phase(no int, title string) {
	s.title = fmt.Sprintf("Phase %d/%d: %s", no, phases, title)
	s.follow = ""
	if !s.live {
		fmt.Fprintf(s.w, "\n[%s] %s\n", s.elapsed(), s.title)
	}
	s.drawn = time.Time{}
}

// result shows what a phase measured.
func (s *screen) result(line string) {
	s.results = append(s.results, line)
	s.follow = ""
	if !s.live {
		fmt.Fprintf(s.w, "[%s]   => %s\n\n", s.elapsed(), line)
		fmt.Fprint(s.w, s.table())
	}
}

// tick redraws the live screen, or prints the phi of a crashed node.
func (s *screen) tick() {
	now := time.Now()
	switch {
	case s.live && now.Sub(s.drawn) >= redrawEvery:
		s.drawn = now
		s.draw()
	case !s.live && s.follow != "" && now.Sub(s.followed) >= followEvery:
		s.followed = now
		s.printPhi()
	}
}

func (s *screen) printPhi() {
	var parts []string
	for _, n := range s.d.c.running() {
		if m, ok := n.g.Member(s.follow); ok {
			parts = append(parts, fmt.Sprintf("%s %s %.2f", n.id, cli.StatusLabel(m.Status), m.Phi))
		}
	}
	fmt.Fprintf(s.w, "[%s]   phi of %s as seen by %s\n", s.elapsed(), s.follow, strings.Join(parts, ", "))
}

// draw writes one frame in place.
func (s *screen) draw() {
	var b strings.Builder
	fmt.Fprintf(&b, "%s   %s\n", term.Paint(s.header(), term.Bold, true), s.elapsed())
	fmt.Fprintf(&b, "%s\n", term.Paint(s.title, term.Yellow, true))
	for _, r := range s.results {
		fmt.Fprintf(&b, "  %s %s\n", term.Paint("*", term.Green, true), r)
	}
	b.WriteString("\n")
	b.WriteString(s.table())
	fmt.Fprintf(&b, "\n%s\n", term.Paint("Recent events (observer sees endpoint)", term.Bold, true))
	for _, l := range s.d.rec.recent() {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	frame := strings.ReplaceAll(b.String(), "\n", clearLine+"\n")
	fmt.Fprint(s.w, home+frame+clearBelow)
}

// table renders the membership as node-1 sees it, with how many running
// nodes see each member up.
func (s *screen) table() string {
	nodes := s.d.c.all()
	if len(nodes) == 0 {
		return ""
	}
	obs := nodes[0]
	ms := obs.g.Members()
	rows := [][]string{{"Status", "ID", "Address", "Generation", "Heartbeat", "Phi", "Seen up by", "States"}}
	for _, m := range ms {
		up, of := s.d.c.seenUp(m.ID, m.Generation)
		rows = append(rows, []string{cli.StatusLabel(m.Status), m.ID, m.Address,
			strconv.FormatInt(m.Generation, 10), strconv.FormatInt(m.HeartBeat, 10),
			strconv.FormatFloat(m.Phi, 'f', 2, 64), fmt.Sprintf("%d/%d", up, of), userStates(m)})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Membership as seen by %s\n", obs.id)
	_ = term.Table(&b, rows, func(row, col int, cell string) string {
		switch {
		case row == 0:
			return term.Paint(cell, term.Bold, s.live)
		case col == 0:
			return term.Paint(cell, cli.StatusColour(ms[row-1].Status), s.live)
		}
		return cell
	})
	return b.String()
}

// userStates formats the application states that are not hearsay's own.
func userStates(m gossiper.Member) string {
	var parts []string
	for _, k := range m.States.Keys() {
		if !strings.HasPrefix(k, endpointstate.ReservedPrefix) {
			parts = append(parts, k+"="+m.States.Get(k).Value)
		}
	}
	return strings.Join(parts, " ")
}
