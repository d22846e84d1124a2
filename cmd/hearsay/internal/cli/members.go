package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
	return strings.ToUpper(string(s))
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
		rows = append(rows, []string{StatusLabel(m.Status), m.ID, m.Address,
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
		fmt.Fprintf(&b, "%s%s\n", m.ID, self)
		fmt.Fprintf(&b, "  address: %s\n  status: %s\n  generation: %d\n  heartbeat: %d\n  phi: %.2f\n",
			m.Address, m.Status, m.Generation, m.HeartBeat, m.Phi)
		for _, k := range slices.Sorted(maps.Keys(m.States)) {
			v := m.States[k]
			fmt.Fprintf(&b, "  %s: %s (version %d)\n", k, showValue(v.Value), v.Version)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// showValue returns a value as it is when it is printable on one line, and
// quoted otherwise (empty, control characters, leading or trailing space).
func showValue(s string) string {
	if s == "" || strings.TrimSpace(s) != s || strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsPrint(r) && r != ' '
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
