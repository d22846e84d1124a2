package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// options are the settings of one case (one system at one size).
type options struct {
	steady  time.Duration // steady byte and CPU measurement
	settle  time.Duration // quiet time before it
	updates int           // key/value updates to time
	timeout time.Duration // bound of every wait
	crash   bool          // run the crash and restart phases
	fast    bool          // hearsay in its documented fast setting
	jitter  time.Duration // random pause before each update
}

// dist summarises durations: Count of Want observations completed within
// the timeout. Min and Max are over the completed ones; P50 is over all
// Want, the missing ones counted as slowest (-1 when half or more are
// missing).
type dist struct {
	Count int     `json:"count"`
	Want  int     `json:"want"`
	MinMS float64 `json:"min_ms"`
	P50MS float64 `json:"p50_ms"`
	MaxMS float64 `json:"max_ms"`
}

// result is what one case measured; JSON field names are the --json
// output's.
type result struct {
	System string `json:"system"`
	N      int    `json:"n"`
	// Join: per node, from the first node's start until it sees all N up.
	Join dist `json:"join"`
	// Update: per update and observer, from the change until seen.
	Update dist `json:"update"`
	// SteadyBytesPerNodeSec: payload bytes sent plus received per node
	// per second in the steady phase.
	SteadyBytesPerNodeSec float64 `json:"steady_bytes_per_node_sec"`
	// CPUMillisPerNodeSec: process CPU time (user + system) per node per
	// second of the steady phase, in milliseconds (1000 = one core).
	CPUMillisPerNodeSec float64 `json:"cpu_ms_per_node_sec"`
	// HeapBytesPerNode: live heap after a GC at the end of the steady
	// phase, divided by N.
	HeapBytesPerNode float64 `json:"heap_bytes_per_node"`
	// Crash: per survivor, from the crash until it sees the node down.
	Crash *dist `json:"crash,omitempty"`
	// Restart: per survivor, from the restart until it sees the node up.
	Restart *dist `json:"restart,omitempty"`
	// FalseConvictions counts live nodes declared dead, per phase.
	FalseConvictions map[string]int `json:"false_convictions"`
	// JoinSlowest names the last pairs of the join: "o saw s up at d".
	JoinSlowest []string `json:"join_slowest,omitempty"`
	// TransportJoin and TransportRun are the transport's counters summed
	// over all nodes (hearsay only; those not zero): dialled and evicted
	// connections, drops and refusals by reason, after the join and at
	// the end of the run.
	TransportJoin map[string]uint64 `json:"transport_join,omitempty"`
	TransportRun  map[string]uint64 `json:"transport_run,omitempty"`
	// Seconds is the case's wall time.
	Seconds float64  `json:"seconds"`
	Notes   []string `json:"notes,omitempty"`
}

// runCase starts n nodes of sys and measures every phase. Every wait is
// bounded by opts.timeout; what did not complete is counted in the dists
// and explained in Notes.
func runCase(sysName string, n int, opts options, progress func(string)) (res result, err error) {
	sys, err := newSystem(sysName)
	if err != nil {
		return result{}, err
	}
	if n < 2 {
		return result{}, fmt.Errorf("size %d: want at least 2 nodes", n)
	}
	began := time.Now()
	res = result{System: sysName, N: n}
	updater, victim := 1, n-1
	rec := newRecorder(n, updater)
	nodes := make([]node, n)
	var nodesMu sync.Mutex
	defer func() {
		rec.close()
		progress("stopping")
		stopAll(nodes, &nodesMu, opts.timeout)
		rec.read(func() {
			res.FalseConvictions = maps.Clone(rec.convictions)
			res.Notes = append(res.Notes, rec.details...)
		})
		res.Seconds = time.Since(began).Seconds()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()

	// Join: node 0 first, then all others at once through it.
	progress("join")
	t0 := time.Now()
	ports := newPortPicker()
	first, err := startNode(ctx, sys, ports, nodeSpec{name: nodeName(0), fast: opts.fast}, rec.instance(0))
	if err != nil {
		return res, fmt.Errorf("start %s: %w", nodeName(0), err)
	}
	nodes[0] = first
	seed := first.addr()
	var wg sync.WaitGroup
	var startErrs []string
	for i := 1; i < n; i++ {
		wg.Go(func() {
			nd, err := startNode(ctx, sys, ports, nodeSpec{name: nodeName(i), seed: seed, fast: opts.fast}, rec.instance(i))
			nodesMu.Lock()
			defer nodesMu.Unlock()
			if err != nil {
				rec.crashed(i)
				startErrs = append(startErrs, fmt.Sprintf("start %s: %v", nodeName(i), err))
				return
			}
			nodes[i] = nd
		})
	}
	wg.Wait()
	if len(startErrs) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d nodes failed to start; first: %s", len(startErrs), n, startErrs[0]))
	}
	joined := func() (done, want int) {
		rec.read(func() {
			for o := range n {
				if rec.current[o] != 0 {
					want++
					if !rec.fullAt[o].IsZero() {
						done++
					}
				}
			}
		})
		return done, want
	}
	waitFor(t0.Add(opts.timeout), progress, "nodes see all up", joined)
	var joinTimes []time.Duration
	rec.read(func() {
		for o := range n {
			if !rec.fullAt[o].IsZero() {
				joinTimes = append(joinTimes, rec.fullAt[o].Sub(t0))
			}
		}
	})
	res.Join = summarize(joinTimes, n)
	res.JoinSlowest = slowestPairs(rec, t0, 5)
	res.TransportJoin = sumLosses(liveNodes(nodes, &nodesMu))
	if res.Join.Count < n {
		res.Notes = append(res.Notes, fmt.Sprintf("join: %d of %d nodes saw all %d up within %v%s", res.Join.Count, n, n, opts.timeout, missing(rec)))
	}

	// Updates: node 1 changes its value; every other node must see it.
	rec.setPhase("updates")
	progress("updates")
	var lat []time.Duration
	want := 0
	for k := 1; k <= opts.updates; k++ {
		if opts.jitter > 0 {
			time.Sleep(rand.N(opts.jitter))
		}
		v := fmt.Sprintf("v%d", k)
		ts := time.Now()
		setErr := make(chan error, 1)
		go func() { setErr <- nodes[updater].set(v) }()
		seen := func() (done, want int) {
			rec.read(func() {
				for o := range n {
					if o != updater && rec.current[o] != 0 {
						want++
						if _, ok := rec.values[o][v]; ok {
							done++
						}
					}
				}
			})
			return done, want
		}
		complete := waitFor(ts.Add(opts.timeout), progress, fmt.Sprintf("update %d/%d seen", k, opts.updates), seen)
		select {
		case err := <-setErr:
			if err != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("update %d: set: %v", k, err))
			}
		case <-time.After(opts.timeout):
			res.Notes = append(res.Notes, fmt.Sprintf("update %d: set did not return within %v", k, opts.timeout))
		}
		rec.read(func() {
			for o := range n {
				if o != updater && rec.current[o] != 0 {
					want++
					if t, ok := rec.values[o][v]; ok {
						lat = append(lat, t.Sub(ts))
					}
				}
			}
		})
		if !complete {
			done, want := seen()
			if done*2 < want {
				res.Notes = append(res.Notes, fmt.Sprintf("update %d seen by only %d of %d nodes within %v; later updates skipped", k, done, want, opts.timeout))
				break
			}
			res.Notes = append(res.Notes, fmt.Sprintf("update %d seen by %d of %d nodes within %v", k, done, want, opts.timeout))
		}
	}
	res.Update = summarize(lat, want)

	// Steady: no changes; bytes and CPU over opts.steady.
	progress(fmt.Sprintf("settle %v", opts.settle))
	time.Sleep(opts.settle)
	rec.setPhase("steady")
	progress(fmt.Sprintf("steady %v", opts.steady))
	live := liveNodes(nodes, &nodesMu)
	bytes0, cpu0, s0 := sumBytes(live), cpuTime(), time.Now()
	time.Sleep(opts.steady)
	bytes1, cpu1, elapsed := sumBytes(live), cpuTime(), time.Since(s0)
	res.SteadyBytesPerNodeSec = float64(bytes1-bytes0) / float64(len(live)) / elapsed.Seconds()
	res.CPUMillisPerNodeSec = float64((cpu1 - cpu0).Milliseconds()) / float64(len(live)) / elapsed.Seconds()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBytesPerNode = float64(ms.HeapAlloc) / float64(n)
	if len(live) < n {
		res.Notes = append(res.Notes, fmt.Sprintf("steady: %d of %d nodes running", len(live), n))
	}

	if !opts.crash {
		return res, nil
	}
	if res.Join.Count*2 < n || nodes[victim] == nil {
		res.Notes = append(res.Notes, "crash and restart skipped: the cluster never joined")
		return res, nil
	}

	// Crash: the last node closes its sockets without a word.
	rec.setPhase("crash")
	progress("crash")
	port := nodes[victim].port()
	rec.crashed(victim)
	tc := time.Now()
	nodes[victim].crash()
	survivorsSee := func(check func(o int) bool) func() (done, want int) {
		return func() (done, want int) {
			rec.read(func() {
				for o := range n {
					if o != victim && rec.current[o] != 0 {
						want++
						if check(o) {
							done++
						}
					}
				}
			})
			return done, want
		}
	}
	down := func(o int) bool { return !rec.up[o][victim] && rec.downAt[o][victim].After(tc) }
	waitFor(tc.Add(opts.timeout), progress, "survivors see the crash", survivorsSee(down))
	res.Crash = collect(rec, n, victim, tc, down, func(o int) time.Time { return rec.downAt[o][victim] })
	nodes[victim].stop()

	// Restart: the same node, on the same port, joins again.
	rec.setPhase("restart")
	progress("restart")
	tr := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), opts.timeout)
	defer rcancel()
	again, retries, err := restartNode(rctx, sys, nodeSpec{name: nodeName(victim), port: port, seed: seed, fast: opts.fast}, rec.instance(victim))
	if retries > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("restart: port %d was still taken; bound after %d retries", port, retries))
	}
	if err != nil {
		rec.crashed(victim)
		res.Notes = append(res.Notes, fmt.Sprintf("restart: %v", err))
		return res, nil
	}
	nodesMu.Lock()
	nodes[victim] = again
	nodesMu.Unlock()
	upAgain := func(o int) bool { return rec.up[o][victim] && rec.upAt[o][victim].After(tr) }
	waitFor(tr.Add(opts.timeout), progress, "survivors see the restarted node", survivorsSee(upAgain))
	res.Restart = collect(rec, n, victim, tr, upAgain, func(o int) time.Time { return rec.upAt[o][victim] })
	rec.setPhase("end")
	res.TransportRun = sumLosses(liveNodes(nodes, &nodesMu))
	return res, nil
}

// startNode starts a node on a port from ports, and on another one if
// that was taken in between.
func startNode(ctx context.Context, sys system, ports *portPicker, spec nodeSpec, ob observer) (node, error) {
	var err error
	for range 5 {
		spec.port = ports.pick()
		var nd node
		if nd, err = sys.start(ctx, spec, ob); err == nil || !addrInUse(err) {
			return nd, err
		}
	}
	return nil, err
}

// restartNode starts a node again on its old port (spec.port), retrying
// while that port is still taken, until ctx ends; it returns the number
// of retries.
func restartNode(ctx context.Context, sys system, spec nodeSpec, ob observer) (node, int, error) {
	for retries := 0; ; retries++ {
		nd, err := sys.start(ctx, spec, ob)
		if err == nil || !addrInUse(err) {
			return nd, retries, err
		}
		select {
		case <-ctx.Done():
			return nil, retries, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// missing says, for the first few nodes that do not see everyone up,
// whom they miss.
func missing(rec *recorder) string {
	var parts []string
	rec.read(func() {
		for o := range rec.n {
			if rec.current[o] == 0 || !rec.fullAt[o].IsZero() {
				continue
			}
			if len(parts) == 3 {
				parts = append(parts, "…")
				return
			}
			var miss []string
			for s := range rec.n {
				if s != o && !rec.up[o][s] {
					miss = append(miss, nodeName(s))
				}
			}
			if len(miss) > 4 {
				miss = append(miss[:4], fmt.Sprintf("%d more", len(miss)-4))
			}
			parts = append(parts, fmt.Sprintf("%s misses %s", nodeName(o), strings.Join(miss, ", ")))
		}
	})
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// collect summarises, over the survivors (every running node but
// victim), the time from t0 to when(o) for those where ok(o).
func collect(rec *recorder, n, victim int, t0 time.Time, ok func(o int) bool, when func(o int) time.Time) *dist {
	var ds []time.Duration
	want := 0
	rec.read(func() {
		for o := range n {
			if o != victim && rec.current[o] != 0 {
				want++
				if ok(o) {
					ds = append(ds, when(o).Sub(t0))
				}
			}
		}
	})
	d := summarize(ds, want)
	return &d
}

// waitFor polls cond until done == want or the deadline; it reports
// progress about once a second and returns whether it completed.
func waitFor(deadline time.Time, progress func(string), what string, cond func() (done, want int)) bool {
	last := time.Now()
	for {
		done, want := cond()
		if done >= want {
			return true
		}
		now := time.Now()
		if now.After(deadline) {
			progress(fmt.Sprintf("~ %s: %d/%d, gave up", what, done, want))
			return false
		}
		if now.Sub(last) >= time.Second {
			progress(fmt.Sprintf("~ %s: %d/%d", what, done, want))
			last = now
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func liveNodes(nodes []node, mu *sync.Mutex) []node {
	mu.Lock()
	defer mu.Unlock()
	var out []node
	for _, nd := range nodes {
		if nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// slowestPairs returns the k latest (observer, subject) pairs of the
// join, "n003 saw n017 up at 2.0 s", latest first.
func slowestPairs(rec *recorder, t0 time.Time, k int) []string {
	type pair struct {
		o, s int
		at   time.Duration
	}
	var ps []pair
	rec.read(func() {
		for o := range rec.n {
			for s := range rec.n {
				if o != s && rec.up[o][s] {
					ps = append(ps, pair{o, s, rec.upAt[o][s].Sub(t0)})
				}
			}
		}
	})
	slices.SortFunc(ps, func(a, b pair) int { return int(b.at - a.at) })
	var out []string
	for _, p := range ps[:min(k, len(ps))] {
		out = append(out, fmt.Sprintf("%s saw %s up at %s", nodeName(p.o), nodeName(p.s), p.at.Round(time.Millisecond)))
	}
	return out
}

// sumLosses sums the transport counters of the nodes that report them,
// keeping those that are not zero; nil if none report.
func sumLosses(nodes []node) map[string]uint64 {
	var sums map[string]uint64
	for _, nd := range nodes {
		if lr, ok := nd.(lossReporter); ok {
			for k, v := range lr.losses() {
				if v != 0 {
					if sums == nil {
						sums = map[string]uint64{}
					}
					sums[k] += v
				}
			}
		}
	}
	return sums
}

// lossLine renders counters from sumLosses, sorted by name.
func lossLine(sums map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, sums[k]))
	}
	return strings.Join(parts, ", ")
}

func sumBytes(nodes []node) uint64 {
	var total uint64
	for _, nd := range nodes {
		total += nd.bytes()
	}
	return total
}

// stopAll stops every node, several at a time, within about timeout.
func stopAll(nodes []node, mu *sync.Mutex, timeout time.Duration) {
	live := liveNodes(nodes, mu)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for _, nd := range live {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				nd.stop()
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
