package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
	"github.com/hearsay-io/hearsay/gossiper"
)

func runMembers(ctx context.Context, c *Client, _ []string, o options, env Env) error {
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(env.Stdout, ms)
	}
	return WriteMembers(env.Stdout, ms, env.Color)
}

func runInfo(ctx context.Context, c *Client, _ []string, o options, env Env) error {
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(env.Stdout, ms)
	}
	return WriteInfo(env.Stdout, ms)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", escapeJSONControls(b))
	return err
}

// escapeJSONControls escapes DEL and the C1 controls (U+007F to U+009F),
// which encoding/json leaves as they are, as \u00XX: U+009B is the CSI
// of 8-bit terminals. The result is the same JSON (they can only occur
// inside strings); the controls below U+0020 are escaped already.
func escapeJSONControls(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x7f && r <= 0x9f }) {
		return b
	}
	var out bytes.Buffer
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r >= 0x7f && r <= 0x9f {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:n])
		}
		b = b[n:]
	}
	return out.Bytes()
}

// StatusLabel returns the short status of nodetool status: UP, DN or LEFT.
func StatusLabel(s gossiper.Status) string {
	switch s {
	case gossiper.StatusUp:
		return "UP"
	case gossiper.StatusDown:
		return "DN"
	case gossiper.StatusLeft:
		return "LEFT"
	}
	return showValue(strings.ToUpper(string(s)))
}

// StatusColour returns the colour of a status: green up, red down, yellow
// left.
func StatusColour(s gossiper.Status) string {
	switch s {
	case gossiper.StatusUp:
		return term.Green
	case gossiper.StatusDown:
		return term.Red
	case gossiper.StatusLeft:
		return term.Yellow
	}
	return ""
}

// WriteMembers writes the members as a table like nodetool status: status,
// ID, address, generation, heartbeat and phi, the status coloured when
// color is set.
func WriteMembers(w io.Writer, ms []gossiper.Member, color bool) error {
	rows := [][]string{{"Status", "ID", "Address", "Generation", "Heartbeat", "Phi", ""}}
	up := 0
	for _, m := range ms {
		self := ""
		if m.Self {
			self = "(self)"
		}
		if m.Status == gossiper.StatusUp {
			up++
		}
		rows = append(rows, []string{StatusLabel(m.Status), showValue(m.ID), showValue(m.Address),
			strconv.FormatInt(m.Generation, 10), strconv.FormatInt(m.HeartBeat, 10),
			strconv.FormatFloat(m.Phi, 'f', 2, 64), self})
	}
	fmt.Fprintf(w, "%d members, %d up\n", len(ms), up)
	return term.Table(w, rows, func(row, col int, cell string) string {
		switch {
		case row == 0:
			return term.Paint(cell, term.Bold, color)
		case col == 0:
			return term.Paint(cell, StatusColour(ms[row-1].Status), color)
		}
		return cell
	})
}

// WriteInfo writes every endpoint's full state, like nodetool gossipinfo.
func WriteInfo(w io.Writer, ms []gossiper.Member) error {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte('\n')
		}
		self := ""
		if m.Self {
			self = " (self)"
		}
		fmt.Fprintf(&b, "%s%s\n", showValue(m.ID), self)
		fmt.Fprintf(&b, "  address: %s\n  status: %s\n  generation: %d\n  heartbeat: %d\n  phi: %.2f\n",
			showValue(m.Address), showValue(string(m.Status)), m.Generation, m.HeartBeat, m.Phi)
		for k, v := range m.States.All() {
			fmt.Fprintf(&b, "  %s: %s (version %d)\n", showValue(k), showValue(v.Value), v.Version)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// showValue returns a string as it is when it is printable on one line,
// and quoted with Go escapes otherwise (empty, not UTF-8, control or other
// non-printing characters, leading or trailing space). Every string that
// comes from the cluster (IDs, addresses, keys, values, reasons) is printed
// through it, so that no peer can send escape sequences to the operator's
// terminal.
func showValue(s string) string {
	if s == "" || !utf8.ValidString(s) || strings.TrimSpace(s) != s || strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsPrint(r) && r != ' '
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
