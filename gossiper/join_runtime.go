package gossiper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/messaging"
)

var (
	// ErrJoinFailed is returned by Join when no address answered.
	ErrJoinFailed = errors.New("no address answered")
	// ErrBadAddress is returned by Join, with ErrJoinFailed, when nothing
	// could even be contacted because the addresses given did not parse
	// as host:port or their names did not resolve: bad input, not an
	// unreachable cluster.
	ErrBadAddress = errors.New("bad join address")
)

// joinWait is one Join call waiting for answers. The loop marks addresses
// answered; the caller reads the count.
type joinWait struct {
	mu       sync.Mutex
	answered map[string]bool
	pending  int
	all      chan struct{} // closed when every address answered
}

// Join contacts the given addresses ("host:port"; a host name is resolved
// and every address it resolves to is contacted) at once, merges what they
// know into this node's view, and returns how many of the contacted
// addresses answered. It returns an error wrapping ErrJoinFailed only when
// none did; that error also says which addresses did not parse or resolve
// (the others are still contacted), and wraps ErrBadAddress too when those
// left nothing to contact. It waits until every address answered, or
// ctx ends, or, if ctx has no deadline, five gossip intervals (at least a
// second) passed; unanswered addresses are asked again every interval.
//
// A node started without seeds joins a cluster this way. The addresses are
// not added to the seeds (as in memberlist): to be contacted again after a
// restart or a total partition, an address belongs in Config.Seeds or a
// SeedProvider. Names are resolved only for the built-in TCP transport;
// with Config.Transport set they are passed to it as given.
func (g *Gossiper) Join(ctx context.Context, addrs ...string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("gossiper %s: join: no address given", g.cfg.ID)
	}
	targets, resolveErr := g.resolve(ctx, addrs)
	targets = slices.DeleteFunc(targets, func(a string) bool { return a == g.Addr() })
	if len(targets) == 0 {
		failed := ErrJoinFailed
		if resolveErr != nil {
			failed = fmt.Errorf("%w: %w", ErrJoinFailed, ErrBadAddress)
		}
		return 0, fmt.Errorf("gossiper %s: join %v: nothing to contact: %w", g.cfg.ID, addrs, errors.Join(failed, resolveErr))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, max(5*g.cfg.Interval, time.Second))
		defer cancel()
	}
	w := &joinWait{answered: map[string]bool{}, pending: len(targets), all: make(chan struct{})}
	var nonces []uint64
	send := func(to []string) error {
		return g.do(func(now time.Time) (Output, error) {
			out, ns := g.node().Join(now, to)
			if g.joins == nil {
				g.joins = map[uint64]joinTarget{}
			}
			for i, n := range ns {
				g.joins[n] = joinTarget{wait: w, addr: to[i]}
			}
			nonces = append(nonces, ns...)
			return out, nil
		})
	}
	defer func() {
		_ = g.do(func(time.Time) (Output, error) {
			for _, n := range nonces {
				delete(g.joins, n)
			}
			return Output{}, nil
		})
	}()
	if err := send(targets); err != nil {
		return 0, fmt.Errorf("gossiper %s: join: %w", g.cfg.ID, err)
	}
	ticker := time.NewTicker(g.cfg.Interval)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-w.all:
			done = true
		case <-ctx.Done():
			done = true
		case <-g.done:
			return w.count(), fmt.Errorf("gossiper %s: join: %w", g.cfg.ID, ErrStopped)
		case <-ticker.C:
			if err := send(w.unanswered(targets)); err != nil {
				return w.count(), fmt.Errorf("gossiper %s: join: %w", g.cfg.ID, err)
			}
		}
	}
	n := w.count()
	if n == 0 {
		return 0, fmt.Errorf("gossiper %s: join %v: %w (%v)", g.cfg.ID, addrs, errors.Join(ErrJoinFailed, resolveErr), ctx.Err())
	}
	g.log.Info().Int("answered", n).Strs("addrs", addrs).AnErr("unresolved", resolveErr).Msg("joined")
	return n, nil
}

// joinTarget is what an outstanding join echo is waiting for.
type joinTarget struct {
	wait *joinWait
	addr string
}

// joinReply marks a join target answered when env is the reply to its
// echo. Called by the loop for every decoded frame.
func (g *Gossiper) joinReply(env *messaging.Envelope) {
	r, ok := env.Message.(*messaging.EchoReply)
	if !ok || len(g.joins) == 0 || env.From == g.cfg.ID {
		return
	}
	t, ok := g.joins[r.Nonce]
	if !ok {
		return
	}
	delete(g.joins, r.Nonce)
	t.wait.mark(t.addr)
}

func (w *joinWait) mark(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.answered[addr] {
		return
	}
	w.answered[addr] = true
	if w.pending--; w.pending == 0 {
		close(w.all)
	}
}

func (w *joinWait) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.answered)
}

func (w *joinWait) unanswered(targets []string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, t := range targets {
		if !w.answered[t] {
			out = append(out, t)
		}
	}
	return out
}

// resolve turns addrs into the addresses to contact, without duplicates.
// With the built-in TCP transport a host name is looked up and each of its
// addresses kept; other transports get the addresses as given.
func (g *Gossiper) resolve(ctx context.Context, addrs []string) ([]string, error) {
	var out []string
	var errs []error
	add := func(a string) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("join address %q: %w", a, err))
			continue
		}
		if g.cfg.Transport != nil || net.ParseIP(host) != nil {
			add(a)
			continue
		}
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			errs = append(errs, fmt.Errorf("join address %q: %w", a, err))
			continue
		}
		for _, ip := range ips {
			add(net.JoinHostPort(ip, port))
		}
	}
	return out, errors.Join(errs...)
}
