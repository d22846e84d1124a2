package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
)

// Main runs "hearsay demo" with args and returns the exit status: 0 when
// the demo ran (or was interrupted) and printed its summary, 1 when the
// cluster misbehaved, 2 for bad flags. live redraws the screen in place.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, live bool) int {
	o := DefaultOptions()
	fs := flag.NewFlagSet("hearsay demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Nodes, "nodes", o.Nodes, "number of nodes, 3 to 50")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "gossip interval, 10ms to 5s")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "rough length of the whole demo")
	fs.BoolVar(&o.Secure, "secure", false, "encrypt gossip with a keyring (AES-256-GCM) generated in a temporary directory, and show a node without the key refused")
	phi := fs.Float64("phi", 8, "failure detector conviction threshold")
	model := fs.String("fd-model", "exponential", "failure detector model: exponential, normal or akka")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: hearsay demo [flags]\n\nRuns a cluster of gossipers in this process on 127.0.0.1, crashes one and brings\nit back, and prints what it measured. Ctrl-C ends it early.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	m, err := failuredetector.ParseModel(*model)
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case err != nil:
		err = fmt.Errorf("invalid value %q for --fd-model: want exponential, normal or akka", *model)
	case o.Nodes < 3 || o.Nodes > 50:
		err = fmt.Errorf("invalid value %d for --nodes: want 3 to 50", o.Nodes)
	case o.Interval < 10*time.Millisecond || o.Interval > 5*time.Second:
		err = fmt.Errorf("invalid value %s for --interval: want 10ms to 5s", o.Interval)
	case o.Duration <= 0:
		err = fmt.Errorf("invalid value %s for --duration: want > 0", o.Duration)
	}
	if err == nil {
		o.FailureDetector = failuredetector.DefaultConfigFor(o.Interval)
		o.FailureDetector.Model, o.FailureDetector.PhiConvictThreshold = m, *phi
		if err = o.FailureDetector.Validate(); err != nil {
			err = fmt.Errorf("invalid value %g for --phi: %w", *phi, err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "hearsay demo: %v\n", err)
		return 2
	}
	o.Out, o.Live = stdout, live
	sum, err := Run(ctx, o)
	sum.Write(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "hearsay demo: %v\n", err)
		return 1
	}
	return 0
}
