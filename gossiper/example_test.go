package gossiper_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
)

// Two nodes on loopback: b joins through a, publishes a state, and a sees
// it.
func Example() {
	ctx := context.Background()
	newNode := func(id string, seeds ...string) *gossiper.Gossiper {
		cfg := gossiper.DefaultConfig()
		cfg.ID = id
		cfg.BindAddr = "127.0.0.1:0" // any free port
		cfg.Seeds = seeds
		cfg.Interval = 100 * time.Millisecond
		cfg.FailureDetector = failuredetector.DefaultConfigFor(cfg.Interval)
		g, err := gossiper.New(cfg)
		if err != nil {
			panic(err)
		}
		if err := g.Start(ctx); err != nil {
			panic(err)
		}
		return g
	}
	a := newNode("a")
	defer a.Stop(ctx)
	b := newNode("b", a.Addr())
	defer b.Stop(ctx)

	if err := b.SetState("role", "cache"); err != nil {
		panic(err)
	}
	for range 100 {
		if m, ok := a.Member("b"); ok && m.Status == gossiper.StatusUp && m.States.Get("role").Value == "cache" {
			fmt.Printf("a sees %s %s with role=%s\n", m.ID, m.Status, m.States.Get("role").Value)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("not converged")
	// Output: a sees b up with role=cache
}

// startNode starts a gossiper on a free loopback port with a short
// interval, for the examples.
func startNode(id string, states map[string]string, seeds ...string) *gossiper.Gossiper {
	cfg := gossiper.DefaultConfig()
	cfg.ID = id
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Seeds = seeds
	cfg.InitialStates = states
	cfg.Interval = 50 * time.Millisecond
	cfg.FailureDetector = failuredetector.DefaultConfigFor(cfg.Interval)
	g, err := gossiper.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := g.Start(context.Background()); err != nil {
		panic(err)
	}
	return g
}

// waitUntil polls cond every 20ms for at most 10s.
func waitUntil(cond func() bool) bool {
	for range 500 {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Service discovery: every node publishes its role; a client of the
// cluster finds the caches among the members that are up.
func Example_serviceDiscovery() {
	web := startNode("web-1", map[string]string{"role": "web"})
	defer web.Halt()
	for _, id := range []string{"cache-1", "cache-2"} {
		g := startNode(id, map[string]string{"role": "cache"}, web.Addr())
		defer g.Halt()
	}
	caches := func() []string {
		var out []string
		for _, m := range web.Members() { // sorted by ID
			if m.Status == gossiper.StatusUp && m.States.Get("role").Value == "cache" {
				out = append(out, m.ID)
			}
		}
		return out
	}
	var found []string
	waitUntil(func() bool { found = caches(); return len(found) == 2 })
	fmt.Println("caches:", found)
	// Output: caches: [cache-1 cache-2]
}

// Reacting to a dead node: OnDead runs when the failure detector convicts
// a peer (here one that crashed, as Halt simulates) or when it announces
// its shutdown. Callbacks run one at a time, in event order, off the
// gossip loop.
func Example_reactToDeadNode() {
	a := startNode("a", nil)
	defer a.Halt()
	b := startNode("b", nil, a.Addr())
	waitUntil(func() bool { m, _ := a.Member("b"); return m.Status == gossiper.StatusUp })

	dead := make(chan gossiper.Event, 1)
	cancel := a.OnDead(func(e gossiper.Event) {
		if e.Endpoint == "b" {
			dead <- e
		}
	})
	defer cancel()
	b.Halt() // a crash: b announces nothing
	select {
	case e := <-dead:
		fmt.Printf("%s is down: %s\n", e.Endpoint, e.Reason)
	case <-time.After(30 * time.Second):
		fmt.Println("not convicted")
	}
	// Output: b is down: convicted
}

// Sharing a load figure: each node publishes its load with SetState as it
// changes; any node picks the least loaded peer from its own view.
func Example_sharingLoad() {
	loads := map[string]string{"n1": "0.70", "n2": "0.15", "n3": "0.40"}
	first := startNode("n1", nil)
	defer first.Halt()
	nodes := []*gossiper.Gossiper{first}
	for _, id := range []string{"n2", "n3"} {
		g := startNode(id, nil, first.Addr())
		defer g.Halt()
		nodes = append(nodes, g)
	}
	for _, g := range nodes {
		if err := g.SetState("load", loads[g.LocalID()]); err != nil {
			panic(err)
		}
	}
	leastLoaded := func(g *gossiper.Gossiper) (string, float64, int) {
		best, lowest, seen := "", 2.0, 0
		for _, m := range g.Members() {
			v, ok := m.States.Lookup("load")
			if m.Status != gossiper.StatusUp || !ok {
				continue
			}
			seen++
			if f, err := strconv.ParseFloat(v.Value, 64); err == nil && f < lowest {
				best, lowest = m.ID, f
			}
		}
		return best, lowest, seen
	}
	var id string
	var load float64
	waitUntil(func() bool {
		var seen int
		id, load, seen = leastLoaded(first)
		return seen == 3
	})
	fmt.Printf("least loaded: %s (%.2f)\n", id, load)
	// Output: least loaded: n2 (0.15)
}
