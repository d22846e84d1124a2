package sim

import "runtime"

// The goroutines of the windowed stepping (parallel.go): the simulator's
// only concurrency. Workers 1..W-1 each have a goroutine of their own
// that lives for the run; Run's goroutine steps one share itself. A window hands each
// worker with items its share and waits for all of them: the channel
// operations order every worker's writes before the serial pass reads
// them, and the serial pass's writes before the next window.

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

// run has every worker with items step its share of the window and
// waits until all are done. A share may run on any goroutine, as long as
// no two run it at once: Run's goroutine steps the first share itself,
// so a window with one worker's items costs no hand-over, and all of a
// window of fewer than minShared items, whose hand-over (waking a
// goroutine, tens of microseconds) would cost more than it saves.
func (p *parallel) run(e *engine) {
	if len(p.win) < p.minShared {
		for w := range p.workers {
			if len(p.parts[w]) > 0 {
				e.work(w)
			}
		}
		return
	}
	first, started := -1, 0
	for w := range p.workers {
		if len(p.parts[w]) == 0 {
			continue
		}
		if first < 0 {
			first = w
			continue
		}
		p.pool.start[w] <- struct{}{}
		started++
	}
	if started > 0 {
		p.stats.shared++
	}
	if first >= 0 {
		e.work(first)
	}
	for range started {
		<-p.pool.done
	}
}
