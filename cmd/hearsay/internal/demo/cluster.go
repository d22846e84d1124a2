package demo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging"
)

// node is one in-process gossiper of the demo cluster.
type node struct {
	id   string
	g    *gossiper.Gossiper
	tr   *crashable
	addr string
	gen  int64
	down bool // crashed and not restarted
}

// cluster is the demo's nodes, started and crashed by the demo's goroutine
// and read by the screen; its lock guards the slice and each node's
// fields.
type cluster struct {
	interval time.Duration
	fd       failuredetector.Config
	rec      *recorder
	security messaging.Security // every node's transport security (--secure: a keyring)

	mu    sync.Mutex
	nodes []*node
	subs  sync.WaitGroup // event-forwarding goroutines
}

// config returns the gossiper configuration of node id, listening on
// bind, with seed as its only seed ("" for none).
func (c *cluster) config(id, bind, seed string) gossiper.Config {
	cfg := gossiper.DefaultConfig()
	cfg.ID = id
	cfg.BindAddr = bind
	cfg.Interval = c.interval
	cfg.FailureDetector = c.fd
	cfg.ShadowTimeout = 10 * c.interval
	if seed != "" {
		cfg.Seeds = []string{seed}
	}
	return cfg
}

// start starts a node on bind (a real TCP listener behind a crashable
// wrapper) in generation gen (0: the clock's), and follows its events.
func (c *cluster) start(ctx context.Context, id, bind, seed string, gen int64) (*node, error) {
	cfg := c.config(id, bind, seed)
	cfg.Generation = gen
	tcfg := messaging.DefaultTCPConfig()
	tcfg.BindAddr, tcfg.MaxFrameSize = bind, cfg.MaxFrameSize
	// Redial quickly, so a restarted node is reached again within a few
	// rounds rather than after the default 5 s backoff.
	tcfg.BackoffMax = max(tcfg.BackoffMin, 2*c.interval)
	tcfg.Security = c.security
	tcfg.Security.Cluster = cfg.ClusterName
	tcp, err := messaging.NewTCP(tcfg)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	tr := newCrashable(tcp)
	cfg.Transport = tr
	g, err := gossiper.New(cfg)
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	sub := g.Subscribe()
	if err := g.Start(ctx); err != nil {
		sub.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	c.subs.Add(1)
	go func() {
		defer c.subs.Done()
		for e := range sub.C {
			c.rec.event(id, e)
		}
	}()
	m, _ := g.Member(id)
	return &node{id: id, g: g, tr: tr, addr: g.Addr(), gen: m.Generation}, nil
}

// add starts a new node and appends it to the cluster.
func (c *cluster) add(ctx context.Context, id, seed string) (*node, error) {
	n, err := c.start(ctx, id, "127.0.0.1:0", seed, 0)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, nil
}

// crash cuts n off the network, then stops its goroutines; its peers hear
// nothing, not even the shutdown announcement, which is dropped.
func (c *cluster) crash(ctx context.Context, n *node) {
	n.tr.Cut()
	c.markDown(n)
	_ = n.g.Stop(ctx)
}

// markDown takes n out of the running nodes.
func (c *cluster) markDown(n *node) {
	c.mu.Lock()
	n.down = true
	c.mu.Unlock()
}

// restart starts a crashed node again at its address, in a higher
// generation, and puts it in place of the old one.
func (c *cluster) restart(ctx context.Context, old *node, seed string) (*node, error) {
	gen := max(time.Now().Unix(), old.gen+1)
	n, err := c.start(ctx, old.id, old.addr, seed, gen)
	if err != nil {
		// The port may have been taken meanwhile: any port will do.
		if n, err = c.start(ctx, old.id, "127.0.0.1:0", seed, gen); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.nodes[slices.Index(c.nodes, old)] = n
	c.mu.Unlock()
	return n, nil
}

// running returns the nodes that are not crashed.
func (c *cluster) running() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, n := range c.nodes {
		if !n.down {
			out = append(out, n)
		}
	}
	return out
}

// all returns every node, crashed ones included.
func (c *cluster) all() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// seenUp returns how many running nodes see id up (with at least
// generation minGen), and how many nodes run.
func (c *cluster) seenUp(id string, minGen int64) (up, of int) {
	for _, n := range c.running() {
		of++
		if m, ok := n.g.Member(id); ok && m.Status == gossiper.StatusUp && m.Generation >= minGen {
			up++
		}
	}
	return up, of
}

// converged reports whether every running node sees every running node
// up.
func (c *cluster) converged() bool {
	for _, n := range c.running() {
		if up, of := c.seenUp(n.id, n.gen); up != of {
			return false
		}
	}
	return true
}

// stop stops every running node gracefully, in parallel, and waits for
// the event goroutines.
func (c *cluster) stop(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range c.all() {
		wg.Go(func() { _ = n.g.Stop(ctx) })
	}
	wg.Wait()
	c.subs.Wait()
}

// traffic sums the messages and bytes sent, and rounds run, by the running
// nodes.
func (c *cluster) traffic() (t traffic) {
	t.byType = map[string]uint64{}
	for _, n := range c.running() {
		s := n.g.Stats()
		t.rounds += s.Core.Rounds
		for typ, m := range s.Messages {
			t.messages += m.Sent
			t.bytes += m.SentBytes
			t.byType[typ] += m.Sent
		}
	}
	return t
}

// traffic is a sum of counters over the cluster.
type traffic struct {
	rounds, messages, bytes uint64
	byType                  map[string]uint64
}
