package sim

import (
	"runtime"
	"sync/atomic"
)

// The goroutines of the windowed stepping (parallel.go): the simulator's
// only concurrency. Workers 1..W-1 each have a goroutine of their own
// that lives for the run; Run's goroutine is worker 0. A window wakes
// the workers it needs, and each takes the window's groups one at a time
// (an atomic counter) until none is left; Run's goroutine waits for all
// of them: the channel operations order every worker's writes before the
// serial pass reads them, and the serial pass's writes before the next
// window.

// pool is the workers' goroutines.
type pool struct {
	start []chan struct{} // per worker; closed to end the goroutine
	done  chan struct{}
}

// defaultWorkers is Options.Workers' 0: one worker per CPU the Go
// runtime uses.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// start starts workers 1..W-1 and returns the function that ends them.
func (p *parallel) start(e *engine) (stop func()) {
	if p.workers < 2 || p.look <= 0 {
		return func() {}
	}
	p.pool.done = make(chan struct{}, p.workers)
	p.pool.start = make([]chan struct{}, p.workers)
	for w := 1; w < p.workers; w++ {
		ch := make(chan struct{}, 1)
		p.pool.start[w] = ch
		go func() {
			for range ch {
				e.work(w)
				p.pool.done <- struct{}{}
			}
		}()
	}
	return func() {
		for w := 1; w < p.workers; w++ {
			close(p.pool.start[w])
		}
	}
}

// run has the workers step the window's groups and waits until all are
// done. Run's goroutine is a worker too (worker 0), so a window of one
// group costs no hand-over; a window of fewer than minShared items, whose
// hand-over (waking a goroutine, tens of microseconds) would cost more
// than it saves, is stepped by Run's goroutine alone. The other workers
// are woken only for as many groups as there are beyond the first.
func (p *parallel) run(e *engine) {
	if len(p.win) < p.minShared || p.workers < 2 || len(p.groups) < 2 {
		p.running = 1
		e.work(0)
		return
	}
	started := min(p.workers-1, len(p.groups)-1)
	p.running = started + 1
	for w := 1; w <= started; w++ {
		p.pool.start[w] <- struct{}{}
	}
	p.stats.shared++
	e.work(0)
	for range started {
		<-p.pool.done
	}
}

// ticket hands out the window's groups to the workers, each number once.
type ticket struct{ n atomic.Int32 }

// reset starts the numbers again from 0, between windows.
func (t *ticket) reset() { t.n.Store(0) }

// take returns the next number.
func (t *ticket) take() int { return int(t.n.Add(1)) - 1 }
