package term

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ANSI colours for Paint.
const (
	Green  = "\x1b[32m"
	Red    = "\x1b[31m"
	Yellow = "\x1b[33m"
	Bold   = "\x1b[1m"
	Dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

// Paint wraps s in an ANSI colour when color is true.
func Paint(s, colour string, color bool) string {
	if !color || colour == "" {
		return s
	}
	return colour + s + reset
}

// Table writes rows as left-aligned columns separated by two spaces, the
// first row being the header. Empty trailing cells are left out. Column widths count runes of the plain text,
// so that colour (from paint, which may be nil) never breaks alignment.
// paint gets the row index (0 is the header), the column and the cell's
// text, and returns what to print in its place.
func Table(w io.Writer, rows [][]string, paint func(row, col int, cell string) string) error {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for ri, r := range rows {
		last := len(r) - 1
		for last > 0 && r[last] == "" {
			last--
		}
		for ci, c := range r[:last+1] {
			cell := c
			if paint != nil {
				cell = paint(ri, ci, c)
			}
			b.WriteString(cell)
			if ci < last {
				b.WriteString(strings.Repeat(" ", widths[ci]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := fmt.Fprint(w, b.String())
	return err
}
