package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// benchKey is the application key (hearsay state, serf tag) or the node
// metadata (memberlist) that the update phase changes.
const benchKey = "bench"

// system starts nodes of one gossip library with its default settings.
type system interface {
	// start starts one node named name, listening on 127.0.0.1:port (0:
	// any free port), joined through seed ("" for the first node), and
	// reports what it sees through ob.
	start(ctx context.Context, spec nodeSpec, ob observer) (node, error)
}

// nodeSpec says how to start a node.
type nodeSpec struct {
	name string
	port int
	seed string
	fast bool // hearsay: the documented fast setting instead of the defaults
}

// node is one running node of a system.
type node interface {
	// addr is the "host:port" other nodes join through.
	addr() string
	// port is the port it listens on (reused by a restart).
	port() int
	// set publishes benchKey = value.
	set(value string) error
	// bytes is the payload sent plus received so far.
	bytes() uint64
	// crash closes the node's sockets without announcing anything.
	crash()
	// stop shuts the node down.
	stop()
}

// lossReporter is a node that counts what its transport lost, by reason
// (hearsay only); peerbench notes the sums after the join and at the end.
type lossReporter interface {
	losses() map[string]uint64
}

// systems are the libraries compared, by flag name.
var systemNames = []string{"hearsay", "memberlist", "serf"}

func newSystem(name string) (system, error) {
	switch name {
	case "hearsay":
		return hearsaySystem{}, nil
	case "memberlist":
		return memberlistSystem{}, nil
	case "serf":
		return serfSystem{}, nil
	}
	return nil, fmt.Errorf("unknown system %q (want %s)", name, strings.Join(systemNames, ", "))
}

// nodeName is node i's name: "n000", "n001", …
func nodeName(i int) string { return fmt.Sprintf("n%03d", i) }

// nodeIndex parses a name made by nodeName; -1 if it is not one.
func nodeIndex(name string) int {
	if len(name) < 2 || name[0] != 'n' {
		return -1
	}
	i, err := strconv.Atoi(name[1:])
	if err != nil || i < 0 {
		return -1
	}
	return i
}
