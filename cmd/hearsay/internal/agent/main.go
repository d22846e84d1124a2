package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
)

// Main runs "hearsay agent" with args (the flags after the subcommand)
// until ctx ends, and returns the exit status: 0 after a graceful shutdown
// or leave, 1 when the agent fails, 2 for a bad flag or configuration.
func Main(ctx context.Context, args []string, env Env, stderr io.Writer) int {
	o, err := ParseOptions(args, env, stderr)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		return usageFailure(stderr, err)
	}
	log := NewLogger(stderr, o.LogFormat, o.LogLevel, term.Color(stderr))
	a, err := New(o, log)
	if err != nil {
		return usageFailure(stderr, err)
	}
	if err := a.Run(ctx); err != nil {
		log.Error().Err(err).Msg("agent failed")
		if o.LogFormat != "console" || o.LogLevel > zerolog.ErrorLevel {
			fmt.Fprintf(stderr, "hearsay agent: %v\n", err)
		}
		return 1
	}
	return 0
}

func usageFailure(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "hearsay agent: %v\n", err)
	fmt.Fprintln(stderr, "Run 'hearsay agent -h' for the flags.")
	return 2
}

// NewLogger returns the agent's logger on w: zerolog's console writer
// (coloured when w is a terminal) or JSON lines.
func NewLogger(w io.Writer, format string, level zerolog.Level, color bool) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, NoColor: !color, TimeFormat: time.TimeOnly + ".000"}
	}
	return zerolog.New(w).Level(level).Hook(timestamp{})
}

// timestamp adds the time to every log line, to the millisecond (zerolog's
// own Timestamp is to the second unless a global is changed).
type timestamp struct{}

// Run implements zerolog.Hook.
func (timestamp) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().Format("2006-01-02T15:04:05.000Z07:00"))
}
