// Command hearsay runs hearsay gossip agents and talks to them.
//
// Usage:
//
//	hearsay agent [flags]          run a gossip node with its admin HTTP API
//	hearsay members|info [flags]   show the cluster as an agent sees it
//	hearsay set KEY VALUE          set application state on an agent's node
//	hearsay delete KEY             delete it
//	hearsay watch                  follow membership events
//	hearsay leave                  make an agent leave the cluster
//	hearsay remove ID              announce a down member as left
//	hearsay assassinate ID --yes   force a member out, alive or not
//	hearsay demo                   run a 5-node cluster in-process and show it
//	hearsay keygen                 print a new keyring key
//	hearsay sim [flags]            simulate a cluster in virtual time (docs/simulator.md)
//	hearsay sim tune-phi [flags]   sweep failure-detector settings (docs/tuning.md)
//
// docs/operations.md explains how to run a cluster, and docs/http-api.md
// the API the client subcommands use.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/agent"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/cli"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/demo"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/simcli"
	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the process as usual.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to the subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr *os.File) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "agent":
		return agent.Main(ctx, rest, agent.HostEnv(), stderr)
	case "demo":
		return demo.Main(ctx, rest, stdout, stderr, term.IsTerminal(stdout))
	case "keygen":
		return cli.Keygen(rest, stdout, stderr)
	case "sim":
		return simcli.Main(ctx, rest, simcli.Env{Stdout: stdout, Stderr: stderr, Live: term.IsTerminal(stderr), MemAvailable: simcli.AvailableMemory()})
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	env := cli.Env{Stdout: stdout, Stderr: stderr, Color: term.Color(stdout), Getenv: os.Getenv}
	if code, ok := cli.Main(ctx, name, rest, env); ok {
		return code
	}
	fmt.Fprintf(stderr, "hearsay: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: hearsay <command> [flags] [arguments]\n\nCommands:\n")
	fmt.Fprintf(w, "  %-8s %s\n", "agent", "run a gossip node with its admin HTTP API")
	for _, c := range cli.Names() {
		fmt.Fprintf(w, "  %-8s %s\n", c[0], c[1])
	}
	fmt.Fprintf(w, "  %-8s %s\n", "demo", "run a small cluster in this process and show it at work")
	fmt.Fprintf(w, "  %-8s %s\n", "keygen", "print a new key for a keyring file (agent --keyring)")
	fmt.Fprintf(w, "  %-8s %s\n", "sim", "simulate a cluster in virtual time; 'sim tune-phi' sweeps failure-detector settings")
	fmt.Fprint(w, "\nRun 'hearsay <command> -h' for the flags of a command.\n")
}
