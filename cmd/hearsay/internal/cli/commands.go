package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
	"github.com/hearsay-io/hearsay/gossiper"
)

// Env is what the client subcommands read and write.
type Env struct {
	// Stdout receives results; Stderr errors and usage.
	Stdout, Stderr io.Writer
	// Color enables ANSI colours on Stdout.
	Color bool
	// Getenv reads environment variables ($HEARSAY_HTTP_TOKEN).
	Getenv func(string) string
}

// command is one client subcommand.
type command struct {
	name    string
	args    string // usage of the positional arguments
	summary string
	nargs   int
	more    bool // nargs is a minimum
	json    bool // takes --json
	kinds   bool // takes --kinds
	confirm bool // refuses to run without --yes
	run     func(ctx context.Context, c *Client, args []string, o options, env Env) error
}

// options are the parsed flags that change a command's output.
type options struct {
	json  bool
	kinds string
	yes   bool
}

// commands lists the client subcommands.
func commands() []command {
	return []command{
		{name: "members", summary: "list the members and their status (like nodetool status)", json: true, run: runMembers},
		{name: "info", summary: "show every endpoint's state (like nodetool gossipinfo)", json: true, run: runInfo},
		{name: "set", args: "KEY VALUE", nargs: 2, summary: "set an application state on the agent's node", run: runSet},
		{name: "delete", args: "KEY", nargs: 1, summary: "delete an application state of the agent's node", run: runDelete},
		{name: "watch", summary: "follow membership events, one line each, until interrupted", json: true, kinds: true, run: runWatch},
		{name: "join", args: "ADDR...", nargs: 1, more: true, summary: "make the agent's node contact these gossip addresses now and merge what they know", run: runJoin},
		{name: "leave", summary: "make the agent's node leave the cluster for good; the agent exits", run: runLeave},
		{name: "remove", args: "ID", nargs: 1, summary: "announce a down member as left for good (like nodetool removenode)", run: runRemove},
		{name: "assassinate", args: "ID", nargs: 1, confirm: true,
			summary: "force a member out as left, even if it is alive or unknown (like nodetool assassinate); needs --yes", run: runAssassinate},
	}
}

// Names returns the client subcommands with a one-line summary each.
func Names() [][2]string {
	var out [][2]string
	for _, c := range commands() {
		out = append(out, [2]string{c.name, c.summary})
	}
	return out
}

// Main runs client subcommand name with args and returns the exit status:
// 0 on success, 1 when the agent cannot be reached or answers an error,
// 2 for bad usage. It reports false when name is not a client subcommand.
func Main(ctx context.Context, name string, args []string, env Env) (int, bool) {
	i := slices.IndexFunc(commands(), func(c command) bool { return c.name == name })
	if i < 0 {
		return 0, false
	}
	cmd := commands()[i]
	fs := flag.NewFlagSet("hearsay "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("http", "127.0.0.1:7080", "agent admin API `address` (host:port or URL)")
	token := fs.String("http-token", "", "bearer `token` for the API (default $HEARSAY_HTTP_TOKEN)")
	ca := fs.String("http-ca", "", "trust an https:// agent only if the CA certificates in this PEM `file` signed its certificate (default: the system's roots); a bare host:port then means https")
	timeout := fs.Duration("timeout", 10*time.Second, "request `timeout` (not for watch)")
	var o options
	if cmd.json {
		fs.BoolVar(&o.json, "json", false, "print the API's JSON instead of text")
	}
	if cmd.kinds {
		fs.StringVar(&o.kinds, "kinds", "", "only these event `kinds` (comma list of join, alive, dead, change, restart, remove, overflow)")
	}
	if cmd.confirm {
		fs.BoolVar(&o.yes, "yes", false, "confirm the action")
	}
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: hearsay %s [flags] %s\n\nhearsay %s: %s.\n\nFlags:\n", name, cmd.args, name, cmd.summary)
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if len(pos) != cmd.nargs && !(cmd.more && len(pos) > cmd.nargs) {
		fmt.Fprintf(env.Stderr, "hearsay %s: want %d argument(s) %s, got %d\n", name, cmd.nargs, cmd.args, len(pos))
		fmt.Fprintf(env.Stderr, "Run 'hearsay %s -h' for usage.\n", name)
		return 2, true
	}
	if cmd.confirm && !o.yes {
		fmt.Fprintf(env.Stderr, "hearsay %s: this announces %s as left even if it is alive (if it is running, it refutes this and comes back); run again with --yes to confirm\n",
			name, showValue(pos[0]))
		return 2, true
	}
	if *token == "" && env.Getenv != nil {
		*token = env.Getenv("HEARSAY_HTTP_TOKEN")
	}
	c, err := NewClient(*addr, *token, *timeout, *ca)
	if err != nil {
		fmt.Fprintf(env.Stderr, "hearsay %s: %v\n", name, err)
		return 2, true
	}
	if err := cmd.run(ctx, c, pos, o, env); err != nil {
		fmt.Fprintf(env.Stderr, "hearsay %s: %v\n", name, err)
		return 1, true
	}
	return 0, true
}

// parseInterleaved parses args with fs, accepting flags before, between and
// after the positional arguments (the flag package alone stops at the first
// positional one), and returns the positional arguments in order. Everything
// after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		consumed := len(rest) - fs.NArg()
		rest = fs.Args()
		if consumed > 0 && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
}

func runSet(ctx context.Context, c *Client, args []string, _ options, env Env) error {
	s, err := c.Set(ctx, args[0], args[1])
	if err == nil {
		fmt.Fprintf(env.Stdout, "%s = %s (version %d)\n", showValue(s.Key), showValue(s.Value), s.Version)
	}
	return err
}

func runDelete(ctx context.Context, c *Client, args []string, _ options, env Env) error {
	err := c.Delete(ctx, args[0])
	if err == nil {
		fmt.Fprintf(env.Stdout, "deleted %s\n", showValue(args[0]))
	}
	return err
}

func runWatch(ctx context.Context, c *Client, _ []string, o options, env Env) error {
	return c.Events(ctx, o.kinds, func(e api.Event) { printEvent(env.Stdout, e, o.json, env.Color) })
}

func runLeave(ctx context.Context, c *Client, _ []string, _ options, env Env) error {
	l, err := c.Leave(ctx)
	if err == nil {
		fmt.Fprintf(env.Stdout, "%s left the cluster; its agent exits\n", showValue(l.ID))
	}
	return err
}

func runRemove(ctx context.Context, c *Client, args []string, _ options, env Env) error {
	l, err := c.Remove(ctx, args[0])
	if err == nil {
		fmt.Fprintf(env.Stdout, "%s is announced as left; every node forgets it after the left expiry (72 h)\n", showValue(l.ID))
	}
	return err
}

func runAssassinate(ctx context.Context, c *Client, args []string, _ options, env Env) error {
	l, err := c.Assassinate(ctx, args[0])
	if err == nil {
		fmt.Fprintf(env.Stdout, "%s is assassinated: announced as left; if it is running it refutes this and comes back\n", showValue(l.ID))
	}
	return err
}

// printEvent writes one event as a line: JSON, or time, kind, endpoint and
// details.
func printEvent(w io.Writer, e api.Event, asJSON, color bool) {
	if asJSON {
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "%s\n", escapeJSONControls(b))
		return
	}
	kind := fmt.Sprintf("%-7s", e.Kind)
	switch e.Kind {
	case gossiper.EventAlive:
		kind = term.Paint(kind, term.Green, color)
	case gossiper.EventDead, gossiper.EventRemove:
		kind = term.Paint(kind, term.Red, color)
	case gossiper.EventRestart, gossiper.EventJoin:
		kind = term.Paint(kind, term.Yellow, color)
	}
	fmt.Fprintf(w, "%s  %s  %s  %s\n", e.Time.Local().Format("15:04:05.000"), kind, showValue(e.Endpoint), eventDetail(e))
}

func eventDetail(e api.Event) string {
	switch e.Kind {
	case gossiper.EventJoin:
		return fmt.Sprintf("generation %d", e.Generation)
	case gossiper.EventRestart:
		return fmt.Sprintf("generation %d -> %d", e.OldGeneration, e.Generation)
	case gossiper.EventChange:
		if e.Deleted {
			return fmt.Sprintf("deleted %s (was %s)", showValue(e.Key), showValue(e.Old))
		}
		return fmt.Sprintf("%s = %s (was %s)", showValue(e.Key), showValue(e.New), showValue(e.Old))
	case gossiper.EventDead:
		if e.Reason == "convicted" {
			return fmt.Sprintf("reason=%s phi=%.2f", e.Reason, e.Phi)
		}
		return "reason=" + showValue(e.Reason)
	case gossiper.EventRemove:
		return "reason=" + showValue(e.Reason)
	case gossiper.EventOverflow:
		return fmt.Sprintf("%d events lost (this client fell behind); run 'hearsay members' to resync", e.Lost)
	}
	return ""
}
