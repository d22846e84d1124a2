package gossiper

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/seeds"
)

// Gossiper runs a [Node] over a real clock and a [messaging.Transport]:
// one goroutine owns the node and is the only one to touch it; transport
// goroutines only hand it frames; readers get immutable snapshots; events
// go to subscribers through buffered channels. All methods are safe for
// concurrent use.
type Gossiper struct {
	cfg   Config
	log   zerolog.Logger
	codec *messaging.Codec

	// mu guards the lifecycle fields below.
	mu        sync.Mutex
	started   bool
	stopped   bool
	halting   bool // halt has begun; halted closes when it is done
	transport messaging.Transport
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the loop and the seed watcher

	// core is the protocol state; set by Start before the loop starts,
	// then touched only by the loop goroutine.
	core   *Node
	cmds   chan command
	done   chan struct{} // closed when the loop exits
	halted chan struct{} // closed when the first halt finished

	fatal atomic.Pointer[error] // why the loop gave up, if it did
	snap  atomic.Pointer[snapshot]
	subs  subscribers
	stats counters
	logs  runtimeLogs // rate limits of warnings about network input

	// cbMu guards cb, the callbacks' dispatcher (nil when none is
	// registered), and its handler list.
	cbMu sync.Mutex
	cb   *dispatcher

	// joins are the outstanding join echoes, by nonce; only the loop
	// touches it.
	joins map[uint64]joinTarget
}

// command is work run on the loop goroutine.
type command struct {
	fn    func(now time.Time) (Output, error)
	reply chan error
}

// New checks cfg and returns a Gossiper ready to Start.
func New(cfg Config) (*Gossiper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	codec, err := messaging.NewCodec(cfg.MaxFrameSize, cfg.Limits)
	if err != nil {
		return nil, err
	}
	g := &Gossiper{
		cfg: cfg, log: cfg.Logger.With().Str("node", cfg.ID).Logger(), codec: codec,
		cmds: make(chan command), done: make(chan struct{}), halted: make(chan struct{}),
	}
	g.snap.Store(&snapshot{})
	return g, nil
}

// Done returns a channel closed when the gossip loop has exited: after
// Stop or Leave, or on its own when the node cannot go on (see Err). It is
// never closed if Start did not run the loop.
func (g *Gossiper) Done() <-chan struct{} { return g.done }

// Err returns why the loop exited on its own (ErrIDInUse), or nil.
func (g *Gossiper) Err() error {
	if e := g.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// LocalID returns the node ID.
func (g *Gossiper) LocalID() string { return g.cfg.ID }

// Addr returns the gossip address the node advertises ("" before Start).
func (g *Gossiper) Addr() string { return g.snap.Load().addr }

// Start binds the transport, runs the shadow round against the seeds and
// starts gossiping. It returns once the node gossips, or with an error:
// ErrIDInUse if another live node has this ID, ctx's error if ctx ends
// first (the Gossiper is then stopped). The Gossiper keeps running after
// ctx ends; stop it with Stop.
func (g *Gossiper) Start(ctx context.Context) error {
	initial := g.initialSeeds(ctx)
	g.mu.Lock()
	if g.started || g.stopped {
		g.mu.Unlock()
		return errors.New("gossiper: Start called twice")
	}
	g.started = true
	node, err := g.prepare()
	if err != nil {
		g.stopped = true
		g.mu.Unlock()
		return err
	}
	node.SetSeeds(initial)
	g.core = node
	loopCtx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	ready := make(chan error, 1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.run(loopCtx, ready)
	}()
	if g.cfg.SeedProvider != nil {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.watchSeeds(loopCtx)
		}()
	}
	g.mu.Unlock()

	select {
	case err = <-ready:
	case <-g.done:
		err = ErrStopped // stopped while still in its shadow round
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		g.halt(false)
		return fmt.Errorf("gossiper %s: start: %w", g.cfg.ID, err)
	}
	g.log.Info().Str("addr", node.Addr()).Int64("generation", node.Generation()).Msg("gossiper started")
	return nil
}

// prepare binds the transport and builds the core. Called with mu held.
func (g *Gossiper) prepare() (*Node, error) {
	tr := g.cfg.Transport
	if tr == nil {
		tcfg := g.cfg.tcpConfig()
		tcfg.Logger = g.log
		if err := checkCertNames(tcfg.Security, g.cfg.ID); err != nil {
			g.log.Warn().Err(err).Msg("this node's certificate does not name it")
		}
		// The transport encodes and decodes envelopes per connection (the
		// lean encoding) and reports their sizes for the metrics.
		tcfg.Codec, tcfg.Encoded = g.codec, g.stats.sent
		t, err := messaging.NewTCP(tcfg)
		if err != nil {
			return nil, fmt.Errorf("gossiper %s: %w", g.cfg.ID, err)
		}
		tr = t
	}
	g.transport = tr
	addr := g.cfg.AdvertiseAddr
	if addr == "" {
		addr = tr.LocalAddr()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				tr.Close()
				return nil, fmt.Errorf("gossiper %s: bound to %s: set AdvertiseAddr to an address peers can reach", g.cfg.ID, addr)
			}
		}
	}
	gen, err := g.generation()
	if err != nil {
		tr.Close()
		return nil, err
	}
	node, err := NewNode(echoPacing(g.cfg.NodeConfig, tr), addr, gen, newRand(g.cfg.RandSeed))
	if err != nil {
		tr.Close()
		return nil, err
	}
	return node, nil
}

// initialSeeds returns the seeds for the shadow round: Config.Seeds, or
// the provider's first answer (asked here, before the loop exists, within
// ShadowTimeout). A provider that fails leaves the node to start alone; the
// background watcher keeps asking.
func (g *Gossiper) initialSeeds(ctx context.Context) []string {
	if g.cfg.SeedProvider == nil {
		return g.cfg.Seeds
	}
	ctx, cancel := context.WithTimeout(ctx, max(g.cfg.ShadowTimeout, g.cfg.Interval))
	defer cancel()
	list, err := g.cfg.SeedProvider.Seeds(ctx)
	if err != nil || len(list) == 0 {
		g.log.Warn().Err(err).Msg("seed provider gave no seeds at start; starting alone and retrying in the background")
		return g.cfg.Seeds
	}
	return seeds.Exclude(list, g.cfg.AdvertiseAddr, g.cfg.BindAddr)
}

func (g *Gossiper) generation() (int64, error) {
	switch {
	case g.cfg.Generation > 0:
		if now := time.Now(); g.cfg.Generation > core.GenerationLimit(now) {
			return g.cfg.Generation, core.GenerationTooFar(g.cfg.Generation, now, "gossiper "+g.cfg.ID+": Config.Generation")
		}
		return g.cfg.Generation, nil
	case g.cfg.GenerationFile != "":
		return NextGeneration(g.cfg.GenerationFile, time.Now())
	}
	return processGeneration(g.cfg.ID, time.Now()), nil
}

func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Stop announces a graceful shutdown to every live peer (they mark this
// node down at once), waits until the announcement is written (at most
// min(2·Interval, 1 s); a transport that is not a [messaging.Flusher]
// waits that long), then
// stops every goroutine and closes the transport. It is idempotent; ctx
// bounds the wait for the announcement.
func (g *Gossiper) Stop(ctx context.Context) error {
	return g.exit(ctx, (*Node).Shutdown)
}

// Leave announces that this node leaves the cluster for good (peers show
// it as left and forget it after LeftExpiry), then stops like Stop.
func (g *Gossiper) Leave(ctx context.Context) error {
	return g.exit(ctx, (*Node).Leave)
}

func (g *Gossiper) exit(ctx context.Context, announce func(*Node, time.Time) Output) error {
	g.mu.Lock()
	running := g.started && !g.stopped
	g.mu.Unlock()
	if running {
		if err := g.do(func(now time.Time) (Output, error) { return announce(g.node(), now), nil }); err == nil {
			g.log.Info().Msg("announced shutdown")
			g.awaitSent(ctx)
		}
	}
	g.halt(true)
	return nil
}

// awaitSent gives the frames just queued (the shutdown announcement) time
// to leave, at most min(2·Interval, 1 s) or until ctx ends: with a
// [messaging.Flusher] transport it returns as soon as they are written,
// otherwise it waits the whole bound.
func (g *Gossiper) awaitSent(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, min(2*g.cfg.Interval, time.Second))
	defer cancel()
	g.mu.Lock()
	tr := g.transport
	g.mu.Unlock()
	if f, ok := tr.(messaging.Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			g.log.Debug().Err(err).Msg("shutdown announcement not flushed in time")
		}
		return
	}
	<-ctx.Done()
}

// Halt stops the gossiper at once, announcing nothing: the loop and the
// transport stop and subscriptions close, and to its peers the node simply
// falls silent, as a crashed process would, so they convict it by phi
// after a few intervals (they never see a "shutdown"). It is for tests
// and failure drills; use Stop or Leave otherwise. Halt is idempotent and
// may follow or precede Stop.
func (g *Gossiper) Halt() {
	g.halt(true)
}

// halt stops the loop and the transport without announcing anything (to
// peers it looks like a crash); closeSubs also closes the subscriptions.
//
// Only the first call does the work; later calls wait until it is done, so
// that every Stop returns with the gossiper stopped.
func (g *Gossiper) halt(closeSubs bool) {
	g.mu.Lock()
	first := !g.halting
	g.halting = true
	cancel, tr := g.cancel, g.transport
	g.cancel = nil
	g.stopped = true
	g.mu.Unlock()
	if first {
		if cancel != nil {
			cancel()
		}
		g.wg.Wait()
		if tr != nil {
			tr.Close()
		}
		close(g.halted)
	}
	<-g.halted
	if closeSubs {
		g.subs.closeAll()
	}
}

// node returns the core; only the loop goroutine may call it.
func (g *Gossiper) node() *Node { return g.core }

// do runs fn on the loop and waits for it.
func (g *Gossiper) do(fn func(now time.Time) (Output, error)) error {
	g.mu.Lock()
	started, stopped := g.started, g.stopped
	g.mu.Unlock()
	switch {
	case stopped:
		return ErrStopped
	case !started:
		return ErrNotStarted
	}
	c := command{fn: fn, reply: make(chan error, 1)}
	select {
	case g.cmds <- c:
	case <-g.done:
		return ErrStopped
	}
	select {
	case err := <-c.reply:
		return err
	case <-g.done:
		return ErrStopped
	}
}

// SetState publishes key=value as a local application state. It fails for
// a reserved or invalid key, a value over the limits (errors wrap
// endpointstate's ErrKeyTooLong, ErrValueTooLarge, ErrTooManyKeys,
// ErrStateTooLarge or ErrInvalidKey), or when the gossiper is not running.
func (g *Gossiper) SetState(key, value string) error {
	return g.do(func(now time.Time) (Output, error) { return g.node().SetState(now, key, value) })
}

// DeleteState deletes a local application state.
func (g *Gossiper) DeleteState(key string) error {
	return g.do(func(now time.Time) (Output, error) { return g.node().DeleteState(now, key) })
}

// Remove announces a down member as left (Cassandra's removenode); see
// [Node.Remove].
func (g *Gossiper) Remove(id string) error {
	return g.do(func(now time.Time) (Output, error) { return g.node().Remove(now, id) })
}

// Assassinate forces a member out, alive or not (Cassandra's assassinate);
// see [Node.Assassinate].
func (g *Gossiper) Assassinate(id string) error {
	return g.do(func(now time.Time) (Output, error) { return g.node().Assassinate(now, id) })
}

// Members returns every known endpoint, the local node included, sorted by
// ID, as of the last round or membership change. It never blocks the loop
// and copies no application state: the slice is the caller's, and each
// Member's States is an immutable value shared with the published
// snapshot (see [States]).
func (g *Gossiper) Members() []Member {
	return slices.Clone(g.snap.Load().members)
}

// Member returns the member with the given ID.
func (g *Gossiper) Member(id string) (Member, bool) {
	for _, m := range g.snap.Load().members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// FailureDetector returns per-peer detector statistics as of the last
// round.
func (g *Gossiper) FailureDetector() []failuredetector.EndpointStats {
	return append([]failuredetector.EndpointStats(nil), g.snap.Load().fd...)
}

// Seeds returns the seed addresses in use.
func (g *Gossiper) Seeds() []string { return append([]string(nil), g.snap.Load().seeds...) }

func (g *Gossiper) watchSeeds(ctx context.Context) {
	wcfg := seeds.DefaultWatcherConfig()
	wcfg.Interval, wcfg.Logger = g.cfg.SeedRefreshInterval, g.log
	w, err := seeds.NewWatcher(g.cfg.SeedProvider, wcfg, func(list []string) {
		g.stats.seedUpdates.Add(1)
		list = seeds.Exclude(list, g.Addr())
		err := g.do(func(time.Time) (Output, error) {
			g.node().SetSeeds(list)
			return Output{}, nil
		})
		if err == nil {
			g.log.Debug().Strs("seeds", list).Msg("seed list updated")
		}
	})
	if err != nil {
		g.log.Error().Err(err).Msg("cannot watch seeds")
		return
	}
	_ = w.Run(ctx)
}
