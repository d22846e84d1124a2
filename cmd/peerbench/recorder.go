package main

import (
	"sync"
	"time"
)

// recorder collects what every node sees of every other node, as the
// systems report it through their event APIs. Nodes are numbered 0..n-1;
// each started instance of a node gets a fresh incarnation token, and
// events from an instance that is no longer current (a crashed node's
// leftovers) are ignored. All methods are safe for concurrent use.
type recorder struct {
	mu      sync.Mutex
	n       int
	closed  bool
	current []uint64 // token of each node's running instance; 0: none
	tokens  uint64

	up      [][]bool      // up[o][s]: observer o sees subject s up
	upCount []int         // subjects o sees up, itself excluded
	fullAt  []time.Time   // first time o saw all n-1 others up
	upAt    [][]time.Time // last transition to up
	downAt  [][]time.Time // last transition to down

	watch  int                    // subject whose values are recorded
	values []map[string]time.Time // per observer: value of watch -> first seen

	live        []bool // node is running (a conviction of it is false)
	phase       string
	convictions map[string]int // false convictions per phase
	details     []string       // the first few false convictions, for notes
}

func newRecorder(n, watch int) *recorder {
	r := &recorder{
		n: n, current: make([]uint64, n), watch: watch,
		up: make([][]bool, n), upCount: make([]int, n), fullAt: make([]time.Time, n),
		upAt: make([][]time.Time, n), downAt: make([][]time.Time, n),
		values: make([]map[string]time.Time, n), live: make([]bool, n),
		phase: "join", convictions: map[string]int{},
	}
	for i := range n {
		r.up[i] = make([]bool, n)
		r.upAt[i] = make([]time.Time, n)
		r.downAt[i] = make([]time.Time, n)
		r.values[i] = map[string]time.Time{}
	}
	return r
}

// instance registers a new running instance of node o (a start or a
// restart) and returns the observer handle its adapter reports through.
// The node's view of the others starts empty.
func (r *recorder) instance(o int) observer {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens++
	r.current[o] = r.tokens
	r.live[o] = true
	clear(r.up[o])
	r.upCount[o] = 0
	r.fullAt[o] = time.Time{}
	return observer{r: r, o: o, token: r.tokens}
}

// crashed marks node o as no longer running: later reports from its old
// instance are ignored, and others declaring it dead is not a false
// conviction.
func (r *recorder) crashed(o int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current[o] = 0
	r.live[o] = false
}

// setPhase names the phase that false convictions are counted under.
func (r *recorder) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

// close stops recording (before the nodes are shut down).
func (r *recorder) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// read runs fn with the recorder locked, for the phases' wait conditions.
func (r *recorder) read(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

func (r *recorder) falseConvictions(phase string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.convictions[phase]
}

func (r *recorder) totalFalseConvictions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, c := range r.convictions {
		total += c
	}
	return total
}

// observer is one node instance's handle on the recorder.
type observer struct {
	r     *recorder
	o     int
	token uint64
}

// accept reports whether an event from this instance about subject s
// counts; called with r.mu held.
func (ob observer) accept(s int) bool {
	r := ob.r
	return !r.closed && s >= 0 && s < r.n && s != ob.o && r.current[ob.o] == ob.token
}

// up records that the observer saw subject s (a node name) come up at t.
func (ob observer) up(subject string, t time.Time) {
	s := nodeIndex(subject)
	r := ob.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ob.accept(s) || r.up[ob.o][s] {
		return
	}
	r.up[ob.o][s] = true
	r.upAt[ob.o][s] = t
	r.upCount[ob.o]++
	if r.upCount[ob.o] == r.n-1 && r.fullAt[ob.o].IsZero() {
		r.fullAt[ob.o] = t
	}
}

// down records that the observer saw subject s go down at t; conviction
// says the system declared it dead (failed), as opposed to a restart
// being noticed, and counts as false when s is running.
func (ob observer) down(subject string, t time.Time, conviction bool) {
	s := nodeIndex(subject)
	r := ob.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ob.accept(s) {
		return
	}
	if conviction && r.live[s] {
		r.convictions[r.phase]++
		if len(r.details) < 5 {
			r.details = append(r.details, r.phase+": "+nodeName(ob.o)+" declared "+subject+" dead")
		}
	}
	if !r.up[ob.o][s] {
		return
	}
	r.up[ob.o][s] = false
	r.downAt[ob.o][s] = t
	r.upCount[ob.o]--
}

// value records that the observer saw subject's benchmark value v at t.
func (ob observer) value(subject, v string, t time.Time) {
	s := nodeIndex(subject)
	r := ob.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ob.accept(s) || s != r.watch || v == "" {
		return
	}
	if _, seen := r.values[ob.o][v]; !seen {
		r.values[ob.o][v] = t
	}
}
