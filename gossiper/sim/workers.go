package sim

import "runtime"

// The goroutines of the windowed stepping (parallel.go): the simulator's
// only concurrency. Worker 0 runs on Run's goroutine; workers 1..W-1 each
// on a goroutine of its own that lives for the run. A window hands each
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

// run has every worker with items step its share of the window, worker 0
// here, and waits until all are done.
func (p *parallel) run(e *engine) {
	started := 0
	for w := 1; w < p.workers; w++ {
		if len(p.parts[w]) > 0 {
			p.pool.start[w] <- struct{}{}
			started++
		}
	}
	if started > 1 || started == 1 && len(p.parts[0]) > 0 {
		p.stats.shared++
	}
	e.work(0)
	for range started {
		<-p.pool.done
	}
}
