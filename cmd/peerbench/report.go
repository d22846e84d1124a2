package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress shows what runs on stderr: one rewritten line on a terminal,
// plain lines (phase changes only) otherwise.
type progress struct {
	w    io.Writer
	tty  bool
	open bool // a rewritten line is showing
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty}
}

func (p *progress) line(label string, elapsed time.Duration, msg string) {
	tick := strings.HasPrefix(msg, "~ ")
	msg = strings.TrimPrefix(msg, "~ ")
	text := fmt.Sprintf("[%s %3.0fs] %s", label, elapsed.Seconds(), msg)
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", text)
		p.open = true
	case !tick || strings.HasSuffix(msg, "gave up"):
		fmt.Fprintln(p.w, text)
	}
}

func (p *progress) finished(label string, elapsed time.Duration, r result) {
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
	fmt.Fprintf(p.w, "[%s] done in %.0fs: join p50 %s, update p50 %s, %s B/node/s\n",
		label, elapsed.Seconds(), ms(r.Join.P50MS, r.Join.Count), ms(r.Update.P50MS, r.Update.Count), thousands(r.SteadyBytesPerNodeSec))
}

func (p *progress) done() {
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
}

// writeMarkdown prints one table per size, the systems as columns.
func writeMarkdown(w io.Writer, rep report, systems []string, sizes []int) {
	fmt.Fprintf(w, "`%s` · %s · %s · %d CPUs", rep.Command, rep.Date, rep.Go, rep.CPUs)
	if rep.Load != "" {
		fmt.Fprintf(w, " (load %s at start)", rep.Load)
	}
	fmt.Fprintf(w, " · steady %s, %d updates, timeout %s per phase", rep.Steady, rep.Updates, rep.Timeout)
	if rep.Fast {
		fmt.Fprint(w, " · hearsay in the fast setting (interval 200ms, Akka, phi 8)")
	}
	fmt.Fprintln(w)
	byKey := map[string]result{}
	for _, r := range rep.Results {
		byKey[fmt.Sprintf("%s/%d", r.System, r.N)] = r
	}
	rows := []struct {
		name string
		cell func(r result) string
	}{
		{"join: every node sees all N up, p50 / last node", func(r result) string { return pair(r.Join) }},
		{"an update reaches every node, p50 / max", func(r result) string { return pair(r.Update) }},
		{"steady bytes sent + received per node per second", func(r result) string {
			return fmt.Sprintf("%s (%.0f × N)", thousands(r.SteadyBytesPerNodeSec), r.SteadyBytesPerNodeSec/float64(r.N))
		}},
		{"CPU per node, steady (ms per s)", func(r result) string { return fmt.Sprintf("%.2f", r.CPUMillisPerNodeSec) }},
		{"heap per node", func(r result) string { return fmt.Sprintf("%s KiB", thousands(r.HeapBytesPerNode/1024)) }},
		{"crashed node seen down, first / last survivor", func(r result) string {
			if r.Crash == nil {
				return "not run"
			}
			return firstLast(*r.Crash)
		}},
		{"restarted node seen up by all, p50 / last", func(r result) string {
			if r.Restart == nil {
				return "not run"
			}
			return pair(*r.Restart)
		}},
		{"false convictions, steady / whole run", func(r result) string {
			total := 0
			for _, c := range r.FalseConvictions {
				total += c
			}
			return fmt.Sprintf("%d / %d", r.FalseConvictions["steady"], total)
		}},
	}
	var notes []string
	for _, n := range sizes {
		fmt.Fprintf(w, "\n| N = %d |", n)
		for _, s := range systems {
			fmt.Fprintf(w, " %s |", s)
		}
		fmt.Fprint(w, "\n|---|")
		for range systems {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		for _, row := range rows {
			fmt.Fprintf(w, "| %s |", row.name)
			for _, s := range systems {
				r, ok := byKey[fmt.Sprintf("%s/%d", s, n)]
				cell := "—"
				if ok {
					cell = row.cell(r)
				}
				fmt.Fprintf(w, " %s |", cell)
			}
			fmt.Fprintln(w)
		}
		for _, s := range systems {
			for _, note := range byKey[fmt.Sprintf("%s/%d", s, n)].Notes {
				notes = append(notes, fmt.Sprintf("%s, N = %d: %s", s, n, note))
			}
		}
	}
	for _, n := range sizes {
		for _, s := range systems {
			r := byKey[fmt.Sprintf("%s/%d", s, n)]
			if len(r.TransportJoin) > 0 {
				notes = append(notes, fmt.Sprintf("%s, N = %d: transport during the join (all nodes): %s", s, n, lossLine(r.TransportJoin)))
			}
			if len(r.TransportRun) > 0 {
				notes = append(notes, fmt.Sprintf("%s, N = %d: transport over the whole run (all nodes): %s", s, n, lossLine(r.TransportRun)))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range notes {
			fmt.Fprintf(w, "\n- %s", strings.ReplaceAll(n, "|", "\\|"))
		}
		fmt.Fprintln(w)
	}
}

// pair is "p50 / max", the max shown as "> timeout (k of want)" when not
// every observation completed.
func pair(d dist) string {
	if d.Count == 0 {
		return fmt.Sprintf("none of %d", d.Want)
	}
	last := ms(d.MaxMS, d.Count)
	if d.Count < d.Want {
		last = fmt.Sprintf("incomplete (%d of %d)", d.Count, d.Want)
	}
	p50 := ms(d.P50MS, d.Count)
	if d.P50MS < 0 {
		p50 = "over timeout"
	}
	return p50 + " / " + last
}

// firstLast is "min / max", like pair.
func firstLast(d dist) string {
	if d.Count == 0 {
		return fmt.Sprintf("none of %d", d.Want)
	}
	last := ms(d.MaxMS, d.Count)
	if d.Count < d.Want {
		last = fmt.Sprintf("incomplete (%d of %d)", d.Count, d.Want)
	}
	return ms(d.MinMS, d.Count) + " / " + last
}

// ms formats milliseconds readably: "85 ms", "1.2 s", "14 s".
func ms(v float64, count int) string {
	switch {
	case count == 0:
		return "—"
	case v < 1000:
		return fmt.Sprintf("%.0f ms", v)
	case v < 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f s", v/1000)
}

// thousands formats v rounded, with commas: 4698.2 → "4,698".
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
