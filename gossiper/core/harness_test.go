package core

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// epoch is the fake clock's start.
var epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// coreConfig is a core configuration for harness tests: 1 s rounds.
func coreConfig(id string, seeds ...string) NodeConfig {
	cfg := DefaultNodeConfig()
	cfg.ID = id
	cfg.Seeds = seeds
	return cfg
}

// configWith returns a maker of core configurations with override
// applied, for tests that tune timeouts.
func configWith(override func(*NodeConfig)) func(id string, seeds ...string) NodeConfig {
	return func(id string, seeds ...string) NodeConfig {
		c := coreConfig(id, seeds...)
		override(&c)
		return c
	}
}

// harness drives Node values directly in virtual time: every message is
// encoded and decoded with the real codec and delivered at once, unless
// the link is cut. It is the smallest simulator that exercises the core.
type harness struct {
	t       testing.TB
	now     time.Time
	codec   *messaging.Codec
	nodes   map[string]*Node // by address
	addrs   []string         // in creation order
	down    map[string]bool  // crashed: neither sends nor receives
	cut     func(from, to string) bool
	events  map[string][]Event // by node ID
	warns   map[string][]error
	notices map[string][]error
	fatal   map[string]error
	bytes   int // bytes delivered
	maxSize int // largest message seen
	// onStep, when set, is called after every message a node handles.
	onStep func(n *Node)
}

func newHarness(t testing.TB) *harness {
	c, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	return &harness{t: t, now: epoch, codec: c, nodes: map[string]*Node{}, down: map[string]bool{},
		events: map[string][]Event{}, warns: map[string][]error{}, notices: map[string][]error{}, fatal: map[string]error{}}
}

func addrFor(i int) string { return fmt.Sprintf("10.0.0.%d:7000", i) }

// cluster starts n nodes "n0".."n<n-1>", made by cfg, all seeded by n0,
// and runs rounds until they converge.
func (h *harness) cluster(n int, cfg func(id string, seeds ...string) NodeConfig) {
	h.t.Helper()
	h.add(cfg("n0"))
	for i := 1; i < n; i++ {
		h.add(cfg(fmt.Sprintf("n%d", i), addrFor(1)))
	}
	require.Positive(h.t, h.until(30, h.converged), "%d nodes converge", n)
}

// add creates and starts a node at the next address.
func (h *harness) add(cfg NodeConfig) *Node {
	return h.addAt(addrFor(len(h.addrs)+1), cfg, h.now.Unix())
}

func (h *harness) addAt(addr string, cfg NodeConfig, gen int64) *Node {
	h.t.Helper()
	seed := uint64(len(h.addrs) + 1)
	n, err := NewNode(cfg, addr, gen, rand.New(rand.NewPCG(seed, seed*7)))
	require.NoError(h.t, err)
	if _, ok := h.nodes[addr]; !ok {
		h.addrs = append(h.addrs, addr)
	}
	h.nodes[addr] = n
	delete(h.down, addr)
	h.deliver(n, n.Start(h.now))
	return n
}

// deliver handles a node's output, delivering its messages recursively.
func (h *harness) deliver(from *Node, out Output) {
	h.events[from.ID()] = append(h.events[from.ID()], out.Events...)
	h.warns[from.ID()] = append(h.warns[from.ID()], out.Warnings...)
	h.notices[from.ID()] = append(h.notices[from.ID()], out.Notices...)
	if out.Fatal != nil {
		h.fatal[from.ID()] = out.Fatal
	}
	for _, m := range out.Messages {
		to := h.nodes[m.To]
		if to == nil || h.down[m.To] || h.down[from.Addr()] || (h.cut != nil && h.cut(from.Addr(), m.To)) {
			continue
		}
		b, err := h.codec.Encode(&messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: from.cfg.ClusterName,
			From: from.ID(), Addr: from.Addr(), Message: m.Message})
		require.NoError(h.t, err)
		h.bytes += len(b)
		h.maxSize = max(h.maxSize, len(b))
		env, err := h.codec.Decode(b)
		require.NoError(h.t, err)
		stepped := to.Step(h.now, env)
		if h.onStep != nil {
			h.onStep(to)
		}
		h.deliver(to, stepped)
	}
}

// round advances the clock by one interval and ticks every live node.
func (h *harness) round() {
	h.now = h.now.Add(time.Second)
	for _, a := range h.addrs {
		if !h.down[a] {
			h.deliver(h.nodes[a], h.nodes[a].Tick(h.now))
		}
	}
}

// rounds runs up to max rounds until cond holds; it returns the rounds
// run, or -1.
func (h *harness) until(max int, cond func() bool) int {
	for r := 1; r <= max; r++ {
		h.round()
		if cond() {
			return r
		}
	}
	return -1
}

// converged reports whether every live node sees every live node up and
// holds the same generation and application states for each of them
// (heartbeats move every round, so they are left out).
func (h *harness) converged() bool {
	want := ""
	for _, a := range h.addrs {
		if h.down[a] {
			continue
		}
		n := h.nodes[a]
		view := ""
		for _, b := range h.addrs {
			if h.down[b] {
				continue
			}
			id := h.nodes[b].ID()
			s := n.states.Get(id)
			if s == nil || (a != b && n.member(id, h.now).Status != StatusUp) {
				return false
			}
			view += fmt.Sprintf("%s/%d:", id, s.HeartBeat.Generation)
			for _, k := range s.SortedKeys() {
				if v, _ := s.States.Get(k); !v.Deleted {
					view += fmt.Sprintf("%s=%s@%d,", k, v.Value, v.Version)
				}
			}
		}
		if want == "" {
			want = view
		} else if view != want {
			return false
		}
	}
	return true
}

func (h *harness) addrOfID(id string) string {
	for _, a := range h.addrs {
		if h.nodes[a].ID() == id {
			return a
		}
	}
	return ""
}

func (h *harness) node(id string) *Node { return h.nodes[h.addrOfID(id)] }

// eventsOf returns the events node id saw of the given kind about about.
func (h *harness) eventsOf(id string, kind EventKind, about string) []Event {
	var out []Event
	for _, e := range h.events[id] {
		if e.Kind == kind && e.Endpoint == about {
			out = append(out, e)
		}
	}
	return out
}
