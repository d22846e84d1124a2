package sim

import (
	"runtime"
	"sync/atomic"
)

// The goroutines of the windowed stepping (parallel.go): the simulator's
// only concurrency. Goroutines 1..procs-1 each live for the run; Run's
// goroutine is the first. A window wakes the goroutines it needs, and
// every goroutine, Run's included, takes the window's shares with items
// one at a time until none is left (a share, with its nodes and tables,
// is stepped by one goroutine in a window, whichever comes free first:
// the result does not depend on which). The channel operations order
// every share's writes before the serial pass reads them, and the serial
// pass's writes before the next window.

// pool is the workers' goroutines.
type pool struct {
	start []chan struct{} // per goroutine; closed to end the goroutine
	done  chan struct{}
	// next is the index in busy of the next share to take: each share is
	// taken by one goroutine.
	next atomic.Int64
}

// defaultWorkers is Options.Workers' 0: one goroutine per CPU the Go
// runtime uses.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// start starts goroutines 1..procs-1 and returns the function that ends
// them.
func (p *parallel) start(e *engine) (stop func()) {
	if p.procs < 2 || p.look <= 0 {
		return func() {}
	}
	p.pool.done = make(chan struct{}, p.procs)
	p.pool.start = make([]chan struct{}, p.procs)
	for g := 1; g < p.procs; g++ {
		ch := make(chan struct{}, 1)
		p.pool.start[g] = ch
		go func() {
			for range ch {
				p.take(e.work)
				p.pool.done <- struct{}{}
			}
		}()
	}
	return func() {
		for g := 1; g < p.procs; g++ {
			close(p.pool.start[g])
		}
	}
}

// take runs f on the shares of busy not yet taken, one at a time, until
// none is left.
func (p *parallel) take(f func(w int)) {
	for {
		i := p.pool.next.Add(1) - 1
		if i >= int64(len(p.busy)) {
			return
		}
		f(p.busy[i])
	}
}

// run has the goroutines step the window's shares and waits until all
// are done. A share may run on any goroutine, as long as no two run it
// at once: Run's goroutine takes shares too, so a window with one
// share's items costs no hand-over, and steps all of a window of fewer
// than minShared items, whose hand-over (waking a goroutine, tens of
// microseconds) would cost more than it saves.
func (p *parallel) run(e *engine) {
	p.busy = p.busy[:0]
	for w := range p.workers {
		if len(p.parts[w]) > 0 {
			p.busy = append(p.busy, w)
		}
	}
	if len(p.win) < p.minShared || len(p.busy) < 2 || p.pool.start == nil {
		for _, w := range p.busy {
			e.work(w)
		}
		return
	}
	p.stats.shared++
	p.pool.next.Store(0)
	started := min(p.procs, len(p.busy)) - 1
	for g := 1; g <= started; g++ {
		p.pool.start[g] <- struct{}{}
	}
	p.take(e.work)
	for range started {
		<-p.pool.done
	}
}

// each runs f(w) for every share w, the shares spread over procs
// goroutines (Run's among them), and returns when all are done (the
// channel orders every f's writes before the caller's next read). f(w)
// must touch only share w's nodes and tables, as a window's share does.
func (p *parallel) each(f func(w int)) {
	p.busy = p.busy[:0]
	for w := range p.workers {
		p.busy = append(p.busy, w)
	}
	p.pool.next.Store(0)
	done := make(chan struct{}, p.procs)
	for range p.procs - 1 {
		go func() {
			p.take(f)
			done <- struct{}{}
		}()
	}
	p.take(f)
	for range p.procs - 1 {
		<-done
	}
	p.busy = p.busy[:0]
}
