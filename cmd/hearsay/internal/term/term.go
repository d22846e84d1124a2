// Package term tells whether output goes to a terminal, for the
// subcommands that colour or redraw their output only then.
package term

import (
	"io"
	"os"
)

// IsTerminal reports whether w is a file that is a character device, that
// is a terminal (or, harmlessly, /dev/null).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Color reports whether output to w may use ANSI colours: w is a terminal,
// $NO_COLOR is unset and $TERM is not "dumb".
func Color(w io.Writer) bool {
	return IsTerminal(w) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
