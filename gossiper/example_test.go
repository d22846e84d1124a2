package gossiper_test

import (
	"context"
	"fmt"
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
		if m, ok := a.Member("b"); ok && m.Status == gossiper.StatusUp && m.States["role"].Value == "cache" {
			fmt.Printf("a sees %s %s with role=%s\n", m.ID, m.Status, m.States["role"].Value)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("not converged")
	// Output: a sees b up with role=cache
}
