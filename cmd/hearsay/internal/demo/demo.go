// Package demo is "hearsay demo": a small cluster of gossipers in this
// process, on real TCP sockets on 127.0.0.1, that converges, spreads
// application state, loses a node to a crash, convicts it with the phi
// failure detector and takes it back after a restart, while a live table
// shows what the nodes see, and ends with a graceful shutdown and a summary
// of what it measured.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging"
)

// Options configure a demo run.
type Options struct {
	// Nodes is the cluster size, at least 3. Default 5.
	Nodes int
	// Interval is the gossip interval. Default 200ms.
	Interval time.Duration
	// Duration is roughly how long the whole demo takes. Default 1m.
	Duration time.Duration
	// FailureDetector configures phi accrual. Default
	// failuredetector.DefaultConfigFor(Interval).
	FailureDetector failuredetector.Config
	// Out receives the screen and the summary.
	Out io.Writer
	// Live redraws a table in place (Out is a terminal); otherwise a
	// snapshot is printed after each phase.
	Live bool
	// Secure encrypts gossip with a keyring (AES-256-GCM) generated in a
	// temporary directory, and shows a node without the key refused.
	Secure bool
}

// DefaultOptions returns the options of "hearsay demo" without flags.
func DefaultOptions() Options {
	return Options{Nodes: 5, Interval: 200 * time.Millisecond, Duration: time.Minute,
		FailureDetector: failuredetector.DefaultConfigFor(200 * time.Millisecond)}
}

// Summary is what a demo run measured. A zero duration was not measured
// (the run was interrupted before).
type Summary struct {
	// Nodes and Interval are the run's settings.
	Nodes    int
	Interval time.Duration
	// Threshold and Model are the failure detector's.
	Threshold float64
	Model     failuredetector.Model
	// Convergence is the time from the first node's start until every
	// node saw every node up.
	Convergence time.Duration
	// Propagation is the time from one SetState until every node saw the
	// new value.
	Propagation time.Duration
	// Crashed is the node that was crashed.
	Crashed string
	// Convictions are, per observer, the time from the crash to its
	// conviction and the phi at that moment.
	Convictions map[string]Conviction
	// AllConvicted is the time from the crash until every other node saw
	// it down.
	AllConvicted time.Duration
	// OldGeneration and NewGeneration are the crashed node's generations
	// before and after its restart.
	OldGeneration, NewGeneration int64
	// Recovery is the time from the restart until every node saw the node
	// up in its new generation.
	Recovery time.Duration
	// Rounds, Messages and Bytes are what the nodes did during the
	// steady-state window (sums over nodes); ByType splits Messages.
	Rounds, Messages, Bytes uint64
	ByType                  map[string]uint64
	// Stopped is the node shut down gracefully at the end, and
	// ShutdownSeen the time until every peer saw it down.
	Stopped      string
	ShutdownSeen time.Duration
	// Interrupted is set when the run was cut short.
	Interrupted bool
	// Keyring is the keyring file of a --secure run ("" otherwise);
	// IntruderRefused counts the connections of a node without the key
	// that were refused, and IntruderListed is set if any node listed it.
	Keyring         string
	IntruderRefused uint64
	IntruderListed  bool
}

// demo is one run.
type demo struct {
	o       Options
	c       *cluster
	rec     *recorder
	scr     *screen
	start   time.Time
	sum     Summary
	phase   string
	phaseNo int
	// churning is set once state has spread; churned and churns count
	// the load changes since.
	churning bool
	churned  time.Time
	churns   int
}

// phases is the number of phases the screen counts.
const phases = 6

// Run runs the demo until it ends or ctx is cancelled (the summary then
// holds what was measured so far, and Interrupted). It returns an error
// when the cluster cannot start or does not behave within generous
// deadlines.
func Run(ctx context.Context, o Options) (Summary, error) {
	rec := &recorder{}
	d := &demo{
		o:   o,
		rec: rec,
		c:   &cluster{interval: o.Interval, fd: o.FailureDetector, rec: rec},
		sum: Summary{Nodes: o.Nodes, Interval: o.Interval, Threshold: o.FailureDetector.PhiConvictThreshold,
			Model: o.FailureDetector.Model},
	}
	if o.Secure {
		dir, ring, err := newKeyring()
		if err != nil {
			return d.sum, err
		}
		defer os.RemoveAll(dir)
		d.sum.Keyring = ring
		d.c.security = messaging.Security{KeyringFile: ring}
	}
	d.scr = newScreen(o.Out, o.Live, d)
	d.start = time.Now()
	d.scr.begin()
	err := d.run(ctx)
	d.scr.end()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.c.stop(stopCtx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		d.sum.Interrupted, err = true, nil
	}
	return d.sum, err
}

func (d *demo) run(ctx context.Context) error {
	hold := d.o.Duration / 10
	for _, step := range []func(context.Context) error{d.converge, d.spread, d.crash, d.recover} {
		if err := step(ctx); err != nil {
			return err
		}
		if err := d.wait(ctx, hold, nil); err != nil {
			return err
		}
	}
	if err := d.steady(ctx, d.o.Duration-time.Since(d.start)-hold/2); err != nil {
		return err
	}
	if err := d.shutdown(ctx); err != nil {
		return err
	}
	return d.wait(ctx, hold/2, nil)
}

// enter starts a phase: the screen shows its title.
func (d *demo) enter(title string) {
	d.phaseNo++
	d.phase = title
	d.scr.phase(d.phaseNo, title)
}

// converge starts the nodes, node-1 first as everyone's seed, and waits
// until each sees all up.
func (d *demo) converge(ctx context.Context) error {
	d.enter(fmt.Sprintf("starting %d nodes; node-1 is the seed of the others", d.o.Nodes))
	seed, err := d.c.add(ctx, "node-1", "")
	if err != nil {
		return err
	}
	for i := 2; i <= d.o.Nodes; i++ {
		if _, err := d.c.add(ctx, fmt.Sprintf("node-%d", i), seed.addr); err != nil {
			return err
		}
	}
	if err := d.wait(ctx, d.deadline(), d.c.converged); err != nil {
		return fmt.Errorf("convergence: %w", err)
	}
	d.sum.Convergence = time.Since(d.start)
	d.scr.result(fmt.Sprintf("every node sees all %d up after %s (%s)", d.o.Nodes, seconds(d.sum.Convergence), d.rounds(d.sum.Convergence)))
	if d.o.Secure {
		return d.intrude(ctx)
	}
	return nil
}

// spread publishes application states on every node, then changes one and
// measures how long the change takes to reach everyone.
func (d *demo) spread(ctx context.Context) error {
	d.enter("publishing application state: role and load on every node")
	nodes := d.c.running()
	for i, n := range nodes {
		role := "worker"
		if i == 0 {
			role = "seed"
		}
		if err := n.g.SetState("role", role); err != nil {
			return err
		}
		if err := n.g.SetState("load", fmt.Sprintf("0.%d", 10+7*i)); err != nil {
			return err
		}
	}
	if err := d.wait(ctx, d.deadline(), func() bool { return d.allSee(nodes, "role", "") }); err != nil {
		return fmt.Errorf("state spread: %w", err)
	}
	n := nodes[1%len(nodes)]
	at := time.Now()
	if err := n.g.SetState("load", "0.97"); err != nil {
		return err
	}
	seen := func() bool { return d.allSee([]*node{n}, "load", "0.97") }
	if err := d.wait(ctx, d.deadline(), seen); err != nil {
		return fmt.Errorf("state change: %w", err)
	}
	d.sum.Propagation = time.Since(at)
	d.scr.result(fmt.Sprintf("%s set load=0.97; every node had it %s later (%s)", n.id, seconds(d.sum.Propagation), d.rounds(d.sum.Propagation)))
	d.churning = true
	return nil
}

// allSee reports whether every running node sees key (with value want,
// unless want is "") on each of owners.
func (d *demo) allSee(owners []*node, key, want string) bool {
	for _, obs := range d.c.running() {
		for _, o := range owners {
			m, ok := obs.g.Member(o.id)
			v, has := m.States.Lookup(key)
			if !ok || !has || (want != "" && v.Value != want) {
				return false
			}
		}
	}
	return true
}

// crash kills the last node without a word and waits until every other
// node has convicted it.
func (d *demo) crash(ctx context.Context) error {
	all := d.c.all()
	victim := all[len(all)-1]
	d.sum.Crashed, d.sum.OldGeneration = victim.id, victim.gen
	d.enter(fmt.Sprintf("%s crashes (no goodbye): watch its phi climb to %g", victim.id, d.o.FailureDetector.PhiConvictThreshold))
	d.scr.follow = victim.id
	at := time.Now()
	d.rec.watch(victim.id, at)
	d.c.crash(ctx, victim)
	down := func() bool { up, _ := d.c.seenUp(victim.id, 0); return up == 0 }
	if err := d.wait(ctx, d.deadline(), down); err != nil {
		return fmt.Errorf("conviction: %w", err)
	}
	d.sum.AllConvicted = time.Since(at)
	d.sum.Convictions = d.rec.convictions()
	lo, hi, phiLo, phiHi := spanOf(d.sum.Convictions)
	d.scr.result(fmt.Sprintf("all %d peers convicted %s after %s to %s, at phi %.2f to %.2f",
		len(d.sum.Convictions), victim.id, seconds(lo), seconds(hi), phiLo, phiHi))
	return nil
}

// recover restarts the crashed node in a higher generation and waits until
// everyone sees it up again.
func (d *demo) recover(ctx context.Context) error {
	victim := d.c.all()[len(d.c.all())-1]
	seed := d.c.all()[0]
	d.enter(fmt.Sprintf("%s restarts in a new generation", victim.id))
	at := time.Now()
	n, err := d.c.restart(ctx, victim, seed.addr)
	if err != nil {
		return err
	}
	d.sum.NewGeneration = n.gen
	if err := n.g.SetState("role", "worker"); err != nil {
		return err
	}
	if err := n.g.SetState("load", "0.01"); err != nil {
		return err
	}
	up := func() bool { up, of := d.c.seenUp(n.id, n.gen); return up == of }
	if err := d.wait(ctx, d.deadline(), up); err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	d.sum.Recovery = time.Since(at)
	d.scr.result(fmt.Sprintf("every node sees %s up in generation %d (was %d) %s after the restart",
		n.id, n.gen, d.sum.OldGeneration, seconds(d.sum.Recovery)))
	return nil
}

// steady measures the traffic of the healthy cluster for window (at least
// 20 rounds).
func (d *demo) steady(ctx context.Context, window time.Duration) error {
	d.enter(fmt.Sprintf("steady state, one state change every %s: measuring traffic", churnEvery))
	window = max(window, 20*d.o.Interval)
	before := d.c.traffic()
	err := d.wait(ctx, window, nil)
	after := d.c.traffic()
	d.sum.Rounds = after.rounds - before.rounds
	d.sum.Messages = after.messages - before.messages
	d.sum.Bytes = after.bytes - before.bytes
	d.sum.ByType = map[string]uint64{}
	for t, v := range after.byType {
		if dv := v - before.byType[t]; dv > 0 {
			d.sum.ByType[t] = dv
		}
	}
	if err == nil && d.sum.Rounds > 0 {
		d.scr.result(fmt.Sprintf("%.2f messages, %.0f bytes sent per node per round",
			float64(d.sum.Messages)/float64(d.sum.Rounds), float64(d.sum.Bytes)/float64(d.sum.Rounds)))
	}
	return err
}

// shutdown stops the second-to-last node gracefully: it announces its
// shutdown, and its peers mark it down at once instead of waiting for the
// failure detector.
func (d *demo) shutdown(ctx context.Context) error {
	all := d.c.all()
	n := all[len(all)-2]
	d.sum.Stopped = n.id
	d.enter(fmt.Sprintf("%s shuts down gracefully: it tells its peers, no need to wait for phi", n.id))
	at := time.Now()
	stopped := make(chan struct{})
	d.c.markDown(n)
	go func() {
		defer close(stopped)
		_ = n.g.Stop(ctx)
	}()
	down := func() bool { up, _ := d.c.seenUp(n.id, 0); return up == 0 }
	err := d.wait(ctx, d.deadline(), down)
	seen := time.Since(at)
	<-stopped
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	d.sum.ShutdownSeen = seen
	d.scr.result(fmt.Sprintf("every peer saw %s down %s after it announced its shutdown", n.id, seconds(d.sum.ShutdownSeen)))
	return nil
}

// deadline bounds every phase that waits for the cluster.
func (d *demo) deadline() time.Duration { return max(30*time.Second, 200*d.o.Interval) }

// poll is how often wait checks its condition.
const poll = 5 * time.Millisecond

// wait refreshes the screen until done reports true (nil: until the time
// is up, which is then no error) or ctx ends.
func (d *demo) wait(ctx context.Context, limit time.Duration, done func() bool) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	end := time.Now().Add(limit)
	for {
		d.scr.tick()
		d.churn()
		if done != nil && done() {
			return nil
		}
		if time.Now().After(end) {
			if done == nil {
				return nil
			}
			return fmt.Errorf("not done after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// churnEvery is how often a node changes its load once state is spread.
const churnEvery = 2 * time.Second

// churn makes the next running node publish a new load every churnEvery,
// so that the screen shows state changes spreading.
func (d *demo) churn() {
	if !d.churning || time.Since(d.churned) < churnEvery {
		return
	}
	d.churned = time.Now()
	nodes := d.c.running()
	if len(nodes) == 0 {
		return
	}
	d.churns++
	n := nodes[d.churns%len(nodes)]
	_ = n.g.SetState("load", fmt.Sprintf("0.%02d", d.churns*37%100))
}

// rounds formats a duration as a number of gossip rounds.
func (d *demo) rounds(t time.Duration) string {
	return fmt.Sprintf("%.1f rounds", float64(t)/float64(d.o.Interval))
}

// seconds formats a measured duration: milliseconds below a second,
// seconds with two decimals above.
func seconds(t time.Duration) string {
	if t < time.Second {
		return t.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%.2fs", t.Seconds())
}

// spanOf returns the smallest and largest time and phi of convictions.
func spanOf(cs map[string]Conviction) (lo, hi time.Duration, phiLo, phiHi float64) {
	first := true
	for _, c := range cs {
		if first {
			lo, hi, phiLo, phiHi, first = c.After, c.After, c.Phi, c.Phi, false
			continue
		}
		lo, hi = min(lo, c.After), max(hi, c.After)
		phiLo, phiHi = min(phiLo, c.Phi), max(phiHi, c.Phi)
	}
	return lo, hi, phiLo, phiHi
}
