// Package gossipertest runs clusters of real [gossiper.Gossiper]s on an
// in-memory network, for the tests of code that embeds hearsay.
//
// The network ([messaging.MemNetwork]) starts no goroutine and reads no
// clock, so a cluster works inside a testing/synctest bubble: there a
// ten-node cluster converges, partitions, convicts a crashed node and sees
// it restart in virtual time, in milliseconds of real time. Outside a
// bubble it works too, in real time (a short WithInterval then helps).
//
//	func TestMyService(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			c := gossipertest.NewCluster(t, 5)
//			require.NoError(t, c.WaitConverged(t.Context()))
//			c.Crash(3)
//			// ... assert what your code does when n3 dies ...
//		})
//	}
//
// The package's example is a test, TestCachesFollowFailures in
// example_test.go, rather than an Example function, because NewCluster
// needs a testing.TB: it stops the cluster when the test ends and fails
// the test on an error. docs/embedding.md walks through it.
package gossipertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging"
)

// Option changes how NewCluster builds its nodes.
type Option func(*options)

type options struct {
	interval time.Duration
	config   []func(i int, c *gossiper.Config)
}

// WithInterval sets every node's gossip interval (default 1s, as
// gossiper.DefaultConfig) and sizes its failure detector for it.
func WithInterval(d time.Duration) Option {
	return func(o *options) { o.interval = d }
}

// WithConfig calls fn on node i's configuration before the node is built
// (and again before each restart of it). The cluster has set ID, Transport,
// Seeds, Interval, FailureDetector and ShadowTimeout; fn may change any of
// them but Transport and ID.
func WithConfig(fn func(i int, c *gossiper.Config)) Option {
	return func(o *options) { o.config = append(o.config, fn) }
}

// Cluster is n gossipers, "n0" to "n<n-1>", on one in-memory network; n0
// is everyone's seed. All methods are safe for concurrent use; those that
// fail call t.Fatal, so call them from the test's goroutine.
type Cluster struct {
	t    testing.TB
	net  *messaging.MemNetwork
	opts options

	mu      sync.Mutex
	nodes   []*gossiper.Gossiper
	running []bool
}

// NewCluster starts n gossipers with IDs "n0".."n<n-1>" at addresses
// "n0:7000".. on a new in-memory network, all seeded by n0, and returns
// once each has finished its start (they may not see each other up yet:
// see WaitConverged). Every node still running is halted when the test
// ends. Inside a testing/synctest bubble, call it inside the bubble.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("gossipertest: NewCluster with %d nodes: want at least 1", n)
	}
	c := &Cluster{t: t, net: messaging.NewMemNetwork(), opts: options{interval: time.Second},
		nodes: make([]*gossiper.Gossiper, n), running: make([]bool, n)}
	for _, o := range opts {
		o(&c.opts)
	}
	t.Cleanup(c.haltAll)
	for i := range n {
		c.start(i)
	}
	return c
}

// Network returns the cluster's network, for faults beyond Partition
// (loss, Block).
func (c *Cluster) Network() *messaging.MemNetwork { return c.net }

// Len returns the number of nodes, running or not.
func (c *Cluster) Len() int { return len(c.nodes) }

// Node returns node i: the running gossiper, or, after Crash, the halted
// one (whose methods return gossiper.ErrStopped).
func (c *Cluster) Node(i int) *gossiper.Gossiper {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check(i)
	return c.nodes[i]
}

// ID returns node i's ID, "n<i>".
func ID(i int) string { return fmt.Sprintf("n%d", i) }

// Addr returns node i's gossip address, "n<i>:7000".
func Addr(i int) string { return fmt.Sprintf("n%d:7000", i) }

// Partition splits the network: a node in one group cannot reach a node in
// another, either way. Nodes in no group still reach everyone. Partitions
// add up until Heal.
func (c *Cluster) Partition(groups ...[]int) {
	addrs := make([][]string, len(groups))
	for g, group := range groups {
		for _, i := range group {
			c.check(i)
			addrs[g] = append(addrs[g], Addr(i))
		}
	}
	for a := range addrs {
		for b := a + 1; b < len(addrs); b++ {
			c.net.Partition(addrs[a], addrs[b])
		}
	}
}

// Heal removes every partition.
func (c *Cluster) Heal() { c.net.Heal() }

// Crash halts node i as a crash would (gossiper.Halt): it announces
// nothing, and the others convict it by phi.
func (c *Cluster) Crash(i int) {
	c.mu.Lock()
	c.check(i)
	g := c.nodes[i]
	c.running[i] = false
	c.mu.Unlock()
	g.Halt()
}

// Restart starts node i again, with the same ID and address and a higher
// generation, halting it first if it runs, and returns the new gossiper.
func (c *Cluster) Restart(i int) *gossiper.Gossiper {
	c.t.Helper()
	c.Crash(i)
	return c.start(i)
}

// Running reports whether node i runs (it was not crashed, or was
// restarted since).
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check(i)
	return c.running[i]
}

func (c *Cluster) check(i int) {
	if i < 0 || i >= len(c.nodes) {
		c.t.Fatalf("gossipertest: node %d: the cluster has nodes 0..%d", i, len(c.nodes)-1)
	}
}

// start builds and starts node i.
func (c *Cluster) start(i int) *gossiper.Gossiper {
	c.t.Helper()
	tr, err := c.net.Listen(Addr(i), 1024)
	if err != nil {
		c.t.Fatalf("gossipertest: node %d: %v", i, err)
	}
	cfg := gossiper.DefaultConfig()
	cfg.ID = ID(i)
	cfg.Transport = tr
	cfg.Interval = c.opts.interval
	cfg.FailureDetector = failuredetector.DefaultConfigFor(c.opts.interval)
	cfg.ShadowTimeout = 5 * c.opts.interval
	cfg.Seeds = []string{Addr(0)}
	for _, fn := range c.opts.config {
		fn(i, &cfg)
	}
	cfg.ID, cfg.Transport = ID(i), tr
	g, err := gossiper.New(cfg)
	if err != nil {
		tr.Close()
		c.t.Fatalf("gossipertest: node %d: %v", i, err)
	}
	if err := g.Start(context.Background()); err != nil {
		c.t.Fatalf("gossipertest: node %d: %v", i, err)
	}
	c.mu.Lock()
	c.nodes[i], c.running[i] = g, true
	c.mu.Unlock()
	return g
}

func (c *Cluster) haltAll() {
	c.mu.Lock()
	nodes := append([]*gossiper.Gossiper(nil), c.nodes...)
	c.mu.Unlock()
	for _, g := range nodes {
		if g != nil {
			g.Halt()
		}
	}
}

// WaitConverged waits until every running node sees every running node up,
// in its current generation, with the states that node holds itself. It
// returns nil then, or, if ctx ends first, an error saying what was still
// missing. Without a deadline on ctx it waits at most a minute (of virtual
// time, in a synctest bubble). It polls every half interval.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	tick := time.NewTicker(max(c.opts.interval/2, time.Millisecond))
	defer tick.Stop()
	for {
		missing := c.diverged()
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gossipertest: not converged: %s: %w", missing, ctx.Err())
		case <-tick.C:
		}
	}
}

// diverged returns the first difference between the running nodes' views,
// or "".
func (c *Cluster) diverged() string {
	c.mu.Lock()
	var live []*gossiper.Gossiper
	for i, g := range c.nodes {
		if c.running[i] {
			live = append(live, g)
		}
	}
	c.mu.Unlock()
	selves := make(map[string]gossiper.Member, len(live))
	for _, g := range live {
		m, ok := g.Member(g.LocalID())
		if !ok {
			return fmt.Sprintf("%s does not know itself (not started?)", g.LocalID())
		}
		selves[m.ID] = m
	}
	for _, g := range live {
		for id, self := range selves {
			m, ok := g.Member(id)
			switch {
			case !ok:
				return fmt.Sprintf("%s does not know %s", g.LocalID(), id)
			case m.Status != gossiper.StatusUp:
				return fmt.Sprintf("%s sees %s %s", g.LocalID(), id, m.Status)
			case m.Generation != self.Generation:
				return fmt.Sprintf("%s sees %s in generation %d, not %d", g.LocalID(), id, m.Generation, self.Generation)
			case !m.States.Equal(self.States):
				return fmt.Sprintf("%s sees states %v of %s, not %v", g.LocalID(), m.States, id, self.States)
			}
		}
	}
	return ""
}
