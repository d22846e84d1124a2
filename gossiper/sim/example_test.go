package sim_test

import (
	"context"
	"fmt"

	"github.com/hearsay-io/hearsay/gossiper/sim"
)

// A 20-node cluster loses one node at round 5 and runs 40 rounds: every
// other node convicts it, the updates reach every live node, and no
// invariant is broken.
func ExampleRun() {
	s := sim.DefaultScenario()
	s.Nodes, s.Rounds, s.Seed = 20, 40, 42
	s.Events = []sim.Event{{Round: 5, Kind: sim.KindCrash, Nodes: []int{3}}}
	r, err := sim.Run(context.Background(), s, sim.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("converged:", r.Converged)
	fmt.Println("violations:", len(r.Violations))
	fmt.Println("convictions:", r.Convictions, "false:", r.FalseConvictions)
	fmt.Println("updates:", r.Updates, "unconverged:", r.UpdatesUnconverged)
	// Output:
	// converged: true
	// violations: 0
	// convictions: 19 false: 0
	// updates: 5 unconverged: 0
}
