package term

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTable(t *testing.T) {
	var b strings.Builder
	rows := [][]string{{"A", "Bee", ""}, {"ééé", "x", "last"}, {"1", "", ""}}
	require.NoError(t, Table(&b, rows, nil))
	assert.Equal(t, "A    Bee\nééé  x    last\n1\n", b.String(), "widths count runes; empty trailing cells are left out")

	b.Reset()
	require.NoError(t, Table(&b, rows, func(row, col int, cell string) string {
		if row == 1 && col == 0 {
			return Paint(cell, Red, true)
		}
		return cell
	}))
	assert.Equal(t, "A    Bee\n\x1b[31méé\u00e9\x1b[0m  x    last\n1\n", b.String(), "colour does not change the alignment")
}

func TestPaint(t *testing.T) {
	assert.Equal(t, "up", Paint("up", Green, false))
	assert.Equal(t, "up", Paint("up", "", true))
	assert.Equal(t, "\x1b[32mup\x1b[0m", Paint("up", Green, true))
}

func TestIsTerminal(t *testing.T) {
	assert.False(t, IsTerminal(&strings.Builder{}))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, IsTerminal(w), "a pipe")
	f, err := os.Create(t.TempDir() + "/out")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, IsTerminal(f), "a regular file")
	assert.False(t, Color(f))
}
