package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// pushSim drives Node values in virtual time like the harness, but as an
// event queue: every message takes latency to arrive, nodes tick every
// interval (offset per node, plus jitter), and after each step a node
// flushes its pushes, as the runtime does once its queue is drained. It
// counts messages per type and remembers every Push sent.
type pushSim struct {
	t        testing.TB
	now      time.Time
	codec    *messaging.Codec
	rng      *rand.Rand
	nodes    []*Node
	byAddr   map[string]*Node
	down     map[string]bool
	queue    []simMsg
	nextTick []time.Time
	wakeAt   map[*Node]time.Time // when a node's held-back pushes may go
	interval time.Duration
	latency  time.Duration
	spread   time.Duration // extra latency, uniform in [0, spread)
	jitter   time.Duration // tick jitter, uniform in [-jitter, jitter)
	drop     func(m messaging.Message) bool
	sent     map[messaging.Type]int
	pushes   []pushSent
	events   map[string][]Event
	seq      int
}

// simMsg is a message in flight.
type simMsg struct {
	at   time.Time
	seq  int
	from *Node
	to   string
	msg  messaging.Message
	hop  int // Push messages: how many pushes led to this one
}

// pushSent is one Push message as sent: by whom, to whom, at which hop.
type pushSent struct {
	from, to string
	push     *messaging.Push
	hop      int
}

func newPushSim(t testing.TB, n int, interval time.Duration, cfg func(*NodeConfig)) *pushSim {
	t.Helper()
	c, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	s := &pushSim{t: t, now: epoch, codec: c, rng: rand.New(rand.NewPCG(7, 11)), byAddr: map[string]*Node{},
		down: map[string]bool{}, interval: interval, latency: time.Millisecond,
		sent: map[messaging.Type]int{}, events: map[string][]Event{}, wakeAt: map[*Node]time.Time{}}
	for i := range n {
		conf := DefaultNodeConfig()
		conf.ID, conf.Interval = fmt.Sprintf("n%d", i), interval
		if i > 0 {
			conf.Seeds = []string{addrFor(1)}
		}
		if cfg != nil {
			cfg(&conf)
		}
		node, err := NewNode(conf, addrFor(i+1), epoch.Unix(), rand.New(rand.NewPCG(uint64(i+1), 99)))
		require.NoError(t, err)
		s.nodes = append(s.nodes, node)
		s.byAddr[node.Addr()] = node
		s.nextTick = append(s.nextTick, epoch.Add(time.Duration(i)*interval/time.Duration(n)))
	}
	for _, node := range s.nodes {
		s.emit(node, node.Start(s.now), 0)
	}
	return s
}

// emit queues a node's output; its Push messages are at hop hop.
func (s *pushSim) emit(from *Node, out Output, hop int) {
	s.events[from.ID()] = append(s.events[from.ID()], out.Events...)
	for _, m := range out.Messages {
		s.sent[m.Message.Type()]++
		if p, ok := m.Message.(*messaging.Push); ok {
			s.pushes = append(s.pushes, pushSent{from: from.ID(), to: m.To, push: p, hop: hop})
		}
		if s.drop != nil && s.drop(m.Message) {
			continue
		}
		s.seq++
		lat := s.latency
		if s.spread > 0 {
			lat += time.Duration(s.rng.Int64N(int64(s.spread)))
		}
		s.queue = append(s.queue, simMsg{at: s.now.Add(lat), seq: s.seq, from: from, to: m.To, msg: m.Message, hop: hop})
	}
}

// flush is what the runtime does after draining its queue: push, and set
// a timer for what the rate limit held back.
func (s *pushSim) flush(n *Node, hop int) {
	s.emit(n, n.Flush(s.now), hop+1)
	delete(s.wakeAt, n)
	if wait, pending := n.PushPending(s.now); pending && wait > 0 {
		s.wakeAt[n] = s.now.Add(wait)
	}
}

// step runs the next event (a message or a tick) at or before until; it
// reports false when there is none.
func (s *pushSim) step(until time.Time, ticks bool) bool {
	mi := -1
	for i, m := range s.queue {
		if mi < 0 || m.at.Before(s.queue[mi].at) || m.at.Equal(s.queue[mi].at) && m.seq < s.queue[mi].seq {
			mi = i
		}
	}
	ti := -1
	if ticks {
		for i, at := range s.nextTick {
			if !s.down[s.nodes[i].Addr()] && (ti < 0 || at.Before(s.nextTick[ti])) {
				ti = i
			}
		}
	}
	var wn *Node
	for _, n := range s.nodes {
		if at, ok := s.wakeAt[n]; ok && !s.down[n.Addr()] && (wn == nil || at.Before(s.wakeAt[wn])) {
			wn = n
		}
	}
	if wn != nil && !s.wakeAt[wn].After(until) && (mi < 0 || s.wakeAt[wn].Before(s.queue[mi].at)) &&
		(ti < 0 || s.wakeAt[wn].Before(s.nextTick[ti])) {
		s.now = s.wakeAt[wn]
		s.flush(wn, 0)
		return true
	}
	switch {
	case mi >= 0 && (ti < 0 || !s.nextTick[ti].Before(s.queue[mi].at)) && !s.queue[mi].at.After(until):
		m := s.queue[mi]
		s.queue = slices.Delete(s.queue, mi, mi+1)
		s.now = m.at
		to := s.byAddr[m.to]
		if to == nil || s.down[m.to] || s.down[m.from.Addr()] {
			return true
		}
		b, err := s.codec.Encode(&messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: m.from.cfg.ClusterName,
			From: m.from.ID(), Addr: m.from.Addr(), Message: m.msg})
		require.NoError(s.t, err)
		env, err := s.codec.Decode(b)
		require.NoError(s.t, err)
		s.emit(to, to.Step(s.now, env), m.hop)
		s.flush(to, m.hop)
		return true
	case ti >= 0 && !s.nextTick[ti].After(until):
		s.now = s.nextTick[ti]
		n := s.nodes[ti]
		s.emit(n, n.Tick(s.now), 0)
		s.flush(n, -1)
		next := s.interval
		if s.jitter > 0 {
			next += time.Duration(s.rng.Int64N(int64(2*s.jitter))) - s.jitter
		}
		s.nextTick[ti] = s.now.Add(next)
		return true
	}
	return false
}

// runFor runs every event (ticks included) for d of virtual time.
func (s *pushSim) runFor(d time.Duration) {
	until := s.now.Add(d)
	for s.step(until, true) {
	}
	s.now = until
}

// drain delivers the messages in flight and those they cause, without
// ticking, and returns how much virtual time that took.
func (s *pushSim) drain() time.Duration {
	start := s.now
	for i := 0; s.step(start.Add(time.Hour), false); i++ {
		require.Less(s.t, i, 1_000_000, "drain terminates")
	}
	return s.now.Sub(start)
}

// converge runs until every node sees every other up.
func (s *pushSim) converge() {
	s.t.Helper()
	for r := 0; r < 60; r++ {
		s.runFor(s.interval)
		if s.allUp() {
			return
		}
	}
	require.Fail(s.t, "cluster did not converge")
}

func (s *pushSim) allUp() bool {
	for _, a := range s.nodes {
		if s.down[a.Addr()] {
			continue
		}
		for _, b := range s.nodes {
			if a != b && !s.down[b.Addr()] && (a.states.Get(b.ID()) == nil || a.member(b.ID(), s.now).Status != StatusUp) {
				return false
			}
		}
	}
	return true
}

// holding returns how many live nodes hold key=value for endpoint ep.
func (s *pushSim) holding(ep, key, value string) int {
	n := 0
	for _, node := range s.nodes {
		if st := node.states.Get(ep); !s.down[node.Addr()] && st != nil {
			if v, ok := st.Get(key); ok && v == value {
				n++
			}
		}
	}
	return n
}

func (s *pushSim) setState(n *Node, key, value string) {
	out, err := n.SetState(s.now, key, value)
	require.NoError(s.t, err)
	s.emit(n, out, 0)
	s.flush(n, -1)
}

// TestPushReachesAllWithoutRounds: at N = 64 with 1 s rounds, an update
// reaches the nodes through pushes alone, in a few hops of 1 ms each,
// before any round would have run. Each node forwards a change once to
// ceil(ln 64) + 3 = 8 peers, so an update reaches all 64 with probability
// about exp(-exp(-3)) = 95% (Kermarrec et al. 2003) in about log_8 64 = 2
// hops plus a tail: the test asserts at most 8 hops (O(log N)), every
// update reaching at least 60 nodes by push, and at least 8 of 10 updates
// reaching all 64 (the rounds bring it to the rest).
func TestPushReachesAllWithoutRounds(t *testing.T) {
	s := newPushSim(t, 64, time.Second, nil)
	s.converge()
	s.runFor(s.interval) // join pushes are done
	all, worst, maxHop := 0, 64, 0
	var longest time.Duration
	for u := range 10 {
		before := len(s.pushes)
		origin := s.nodes[u*6+1]
		value := fmt.Sprint("blue-", u)
		s.setState(origin, "color", value)
		longest = max(longest, s.drain())
		s.now = s.now.Add(100 * time.Millisecond) // the next update, from another node
		got := s.holding(origin.ID(), "color", value)
		worst = min(worst, got)
		t.Logf("update %d from %s: %d nodes, %d pushes", u, origin.ID(), got, len(s.pushes)-before)
		if got == 64 {
			all++
		}
		for _, p := range s.pushes[before:] {
			maxHop = max(maxHop, p.hop+1)
		}
	}
	assert.GreaterOrEqual(t, all, 8, "updates that reached all 64 nodes by push alone")
	assert.GreaterOrEqual(t, worst, 60, "nodes the worst update reached by push alone")
	assert.LessOrEqual(t, maxHop, 8, "hops")
	assert.Less(t, longest, 20*time.Millisecond, "virtual time: %d hops of 1 ms", maxHop)
	t.Logf("N=64, 10 updates: %d reached all 64 by push alone, the worst %d; at most %d hops, %v of virtual time",
		all, worst, maxHop, longest)
}

// TestNoPushNeedsRounds is the control: with push disabled the same
// update has reached almost nobody after the messages in flight drained.
func TestNoPushNeedsRounds(t *testing.T) {
	s := newPushSim(t, 64, time.Second, func(c *NodeConfig) { c.PushFanout = 0 })
	s.converge()
	s.setState(s.nodes[17], "color", "blue")
	s.drain()
	assert.Equal(t, 1, s.holding("n17", "color", "blue"))
	assert.Zero(t, s.sent[messaging.TypePush])
}

// TestLostPushRepairedByDigests: with every Push lost, the digest rounds
// still bring the update to every node.
func TestLostPushRepairedByDigests(t *testing.T) {
	s := newPushSim(t, 16, time.Second, nil)
	s.drop = func(m messaging.Message) bool { return m.Type() == messaging.TypePush }
	s.converge()
	s.setState(s.nodes[3], "color", "blue")
	s.drain()
	require.Equal(t, 1, s.holding("n3", "color", "blue"), "no push arrived")
	require.Positive(t, s.sent[messaging.TypePush], "pushes were sent, and lost")
	for r := 0; r < 30 && s.holding("n3", "color", "blue") < 16; r++ {
		s.runFor(s.interval)
	}
	assert.Equal(t, 16, s.holding("n3", "color", "blue"))
}

// TestPushFloodWithinRateLimit: 10,000 SetState calls over 10 s of
// virtual time send no more Push messages than the token bucket allows
// (PushBurst + PushRate × time), and the last value still reaches
// everyone within the next quarter of a round.
func TestPushFloodWithinRateLimit(t *testing.T) {
	s := newPushSim(t, 16, time.Second, nil)
	s.converge()
	s.runFor(s.interval)
	origin := s.nodes[5]
	before := 0
	for _, p := range s.pushes {
		if p.from == origin.ID() {
			before++
		}
	}
	start := s.now
	for i := range 10_000 {
		s.setState(origin, "k", fmt.Sprint(i))
		s.runFor(time.Millisecond)
	}
	require.Equal(t, start.Add(10*time.Second), s.now)
	s.flush(origin, -1)
	sent := -before
	for _, p := range s.pushes {
		if p.from == origin.ID() {
			sent++
		}
	}
	cfg := origin.cfg
	limit := cfg.PushBurst + int(cfg.PushRate*10)
	assert.LessOrEqual(t, sent, limit, "Push messages sent by the origin")
	assert.Greater(t, sent, limit/2, "pushes kept flowing at the rate")
	assert.Positive(t, origin.Counters().PushesDeferred)
	s.runFor(time.Second / 4) // the last push may wait for its tokens
	assert.Equal(t, 16, s.holding("n5", "k", "9999"), "the last value, coalesced, reached everyone")
}

// TestPushForwardedOncePerNode: each node forwards a change at most once
// (one flush carrying it), however many copies it receives; duplicates
// change nothing and are not forwarded, so the epidemic ends.
func TestPushForwardedOncePerNode(t *testing.T) {
	s := newPushSim(t, 32, time.Second, nil)
	s.converge()
	s.runFor(s.interval)
	before := len(s.pushes)
	s.setState(s.nodes[9], "color", "blue")
	s.drain()
	flushes := map[string]map[*messaging.Push]bool{} // per node: distinct pushes carrying the change
	received := map[string]int{}
	for _, p := range s.pushes[before:] {
		for _, d := range p.push.Deltas {
			for _, kv := range d.States {
				if d.Endpoint == "n9" && kv.Key == "color" {
					if flushes[p.from] == nil {
						flushes[p.from] = map[*messaging.Push]bool{}
					}
					flushes[p.from][p.push] = true
					received[s.byAddr[p.to].ID()]++
				}
			}
		}
	}
	require.GreaterOrEqual(t, len(flushes), 30, "nodes that pushed or forwarded it (those the push missed wait for a round)")
	for id, f := range flushes {
		assert.Len(t, f, 1, "node %s forwarded it once", id)
	}
	dup := 0
	for _, n := range received {
		dup += max(n-1, 0)
	}
	assert.Positive(t, dup, "some nodes got copies they did not forward again")
	assert.Empty(t, s.queue)
}

// TestPushHeartbeatOnlyNotPushed: rounds alone (heartbeats) push nothing.
func TestPushHeartbeatOnlyNotPushed(t *testing.T) {
	s := newPushSim(t, 8, time.Second, nil)
	s.converge()
	s.runFor(3 * s.interval)
	before := s.sent[messaging.TypePush]
	s.runFor(20 * s.interval)
	assert.Equal(t, before, s.sent[messaging.TypePush])
}

// TestPushRestartPushesNewGeneration: a node that restarts pushes its new
// generation when it starts, and the others forward it, so everyone learns
// of the restart without waiting for a round.
func TestPushRestartPushesNewGeneration(t *testing.T) {
	s := newPushSim(t, 16, time.Second, func(c *NodeConfig) { c.ShadowTimeout = 0 })
	s.converge()
	s.runFor(s.interval)
	old := s.nodes[4]
	conf := old.cfg
	s.now = s.now.Add(2 * time.Second)
	restarted, err := NewNode(conf, old.Addr(), s.now.Unix(), rand.New(rand.NewPCG(1234, 5)))
	require.NoError(t, err)
	s.nodes[4], s.byAddr[old.Addr()] = restarted, restarted
	before := len(s.pushes)
	s.emit(restarted, restarted.Start(s.now), 0)
	s.flush(restarted, -1)
	s.drain()
	require.Greater(t, len(s.pushes), before, "the restarted node pushed")
	assert.Equal(t, "n4", s.pushes[before].from)
	assert.True(t, s.pushes[before].push.Deltas[0].Reset)
	knowing := 0
	for _, n := range s.nodes {
		if st := n.states.Get("n4"); st != nil && st.HeartBeat.Generation == restarted.Generation() {
			knowing++
		}
	}
	assert.Equal(t, 16, knowing, "every node knows the new generation before any round")
}

// TestPushNeverAnswered: a Push from a live peer gets no message back,
// whether it brings news or not.
func TestPushNeverAnswered(t *testing.T) {
	s := newPushSim(t, 4, time.Second, nil)
	s.converge()
	a, b := s.nodes[0], s.nodes[1]
	out, err := a.SetState(s.now, "color", "blue")
	require.NoError(t, err)
	require.Empty(t, out.Messages)
	flushed := a.Flush(s.now)
	require.NotEmpty(t, flushed.Messages)
	push := flushed.Messages[0].Message
	env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: a.cfg.ClusterName, From: a.ID(), Addr: a.Addr(), Message: push}
	for range 2 { // news, then a duplicate
		got := b.Step(s.now, env)
		for _, m := range got.Messages {
			assert.NotEqual(t, a.Addr(), m.To, "no answer to the pusher: %s", m.Message.Type())
		}
		assert.Empty(t, got.Messages)
		for _, m := range b.Flush(s.now).Messages {
			assert.NotEqual(t, a.Addr(), m.To, "not forwarded back to the pusher")
		}
	}
}

// TestPushConfigValidation: the knobs are checked with clear errors.
func TestPushConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		set  func(*NodeConfig)
		want string
	}{
		{"fanout 0", func(c *NodeConfig) { c.Fanout = 0 }, "Fanout 0: want 1..64"},
		{"push fanout -2", func(c *NodeConfig) { c.PushFanout = -2 }, "PushFanout -2"},
		{"push fanout 65", func(c *NodeConfig) { c.PushFanout = 65 }, "PushFanout 65"},
		{"push rate 0", func(c *NodeConfig) { c.PushRate = 0 }, "PushRate 0"},
		{"burst below fanout", func(c *NodeConfig) { c.PushFanout, c.PushBurst = 8, 4 }, "PushBurst 4: want 8..100000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := coreConfig("a")
			tc.set(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	c := coreConfig("a")
	c.PushFanout, c.PushRate, c.PushBurst = 0, 0, 0
	assert.NoError(t, c.Validate(), "push disabled needs no rate")
}

// TestFanoutSendsToDistinctPeers: Fanout 3 sends each round's Syn to three
// distinct live peers.
func TestFanoutSendsToDistinctPeers(t *testing.T) {
	s := newPushSim(t, 8, time.Second, func(c *NodeConfig) { c.Fanout = 3 })
	s.converge()
	out := s.nodes[2].Tick(s.now.Add(s.interval))
	var to []string
	for _, m := range out.Messages {
		if m.Message.Type() == messaging.TypeSyn {
			to = append(to, m.To)
		}
	}
	require.GreaterOrEqual(t, len(to), 3)
	live := slices.Compact(slices.Sorted(slices.Values(to[:3])))
	assert.Len(t, live, 3, "distinct: %s", strings.Join(to, " "))
}

// TestPushAppliedLikeAck2: a Push goes through the same apply path as an
// Ack2: deltas about new endpoints beyond MaxEndpoints are refused and
// counted, a quarantined endpoint's old generation is ignored, an invalid
// delta is refused for its endpoint alone, and nothing refused is
// forwarded.
func TestPushAppliedLikeAck2(t *testing.T) {
	s := newPushSim(t, 3, time.Second, func(c *NodeConfig) { c.MaxEndpoints = 4 })
	s.converge()
	s.runFor(s.interval)
	a := s.nodes[0]
	reset := func(ep string, gen int64) endpointstate.Delta {
		return endpointstate.Delta{Endpoint: ep, Generation: gen, HeartBeat: 3, Reset: true, States: []endpointstate.KeyValue{
			{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: "10.9.9.9:7000", Version: 1}},
			{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusNormal, Version: 2}}}}
	}
	a.removed["gone"] = removal{generation: 50, until: s.now.Add(time.Minute)}
	bad := reset("bad", 7)
	bad.States[0].Version = -1
	push := &messaging.Push{Deltas: []endpointstate.Delta{reset("new-1", 7), reset("new-2", 7), reset("gone", 50), bad}}
	// new-1 announces itself (a join is forwarded first-hand only, see
	// TestPushJoinForwardedFirstHandOnly).
	env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: a.cfg.ClusterName, From: "new-1", Addr: "10.9.9.9:7000", Message: push}
	out := a.Step(s.now, env)
	assert.NotNil(t, a.states.Get("new-1"), "the fourth endpoint fits")
	assert.Nil(t, a.states.Get("new-2"), "the fifth does not")
	assert.Nil(t, a.states.Get("gone"), "quarantined")
	assert.Nil(t, a.states.Get("bad"))
	c := a.Counters()
	assert.EqualValues(t, 1, c.EndpointsRefused)
	assert.EqualValues(t, 1, c.DeltasRefused)
	assert.NotEmpty(t, out.Warnings)
	forwarded := map[string]bool{}
	for _, m := range a.Flush(s.now).Messages {
		for _, d := range m.Message.(*messaging.Push).Deltas {
			forwarded[d.Endpoint] = true
		}
	}
	assert.Equal(t, map[string]bool{"new-1": true}, forwarded, "only what was applied is forwarded")
}

// TestPushNewGenerationLearnedByDigestsForwarded: a node that learns a
// peer's new generation from a round (not from a push) pushes it on, so
// the rest of the cluster need not wait for rounds of its own.
func TestPushNewGenerationLearnedByDigestsForwarded(t *testing.T) {
	s := newPushSim(t, 16, time.Second, func(c *NodeConfig) { c.ShadowTimeout = 0 })
	s.converge()
	s.runFor(s.interval)
	old := s.nodes[4]
	s.now = s.now.Add(2 * time.Second)
	restarted, err := NewNode(old.cfg, old.Addr(), s.now.Unix(), rand.New(rand.NewPCG(1234, 5)))
	require.NoError(t, err)
	s.nodes[4], s.byAddr[old.Addr()] = restarted, restarted
	// The restarted node's own pushes are lost: the others learn of it
	// through its rounds.
	s.drop = func(m messaging.Message) bool {
		p, ok := m.(*messaging.Push)
		return ok && len(p.Deltas) > 0 && p.Deltas[0].Endpoint == "n4" && s.pushes[len(s.pushes)-1].from == "n4"
	}
	before := len(s.pushes)
	s.emit(restarted, restarted.Start(s.now), 0)
	s.flush(restarted, -1)
	for r := 0; r < 10; r++ {
		s.runFor(s.interval)
		forwarded := false
		for _, p := range s.pushes[before:] {
			for _, d := range p.push.Deltas {
				forwarded = forwarded || p.from != "n4" && d.Endpoint == "n4" && d.Reset && d.Generation == restarted.Generation()
			}
		}
		if forwarded {
			return
		}
	}
	assert.Fail(t, "nobody forwarded the new generation it learned by digests")
}

// TestPushSetReleasedAfterLargeFlush: after a flush of many dirty
// endpoints (a join learns the whole cluster at once) the push set is
// dropped, not cleared, since a cleared Go map keeps a slot per endpoint
// for good; a small set is cleared and kept.
func TestPushSetReleasedAfterLargeFlush(t *testing.T) {
	n, err := NewNode(coreConfig("me"), addrFor(1), epoch.Unix(), nil)
	require.NoError(t, err)
	n.Start(epoch)
	require.NotZero(t, n.cfg.PushFanout)
	n.Flush(epoch) // the node's own announcement
	for i := range 1000 {
		n.markDirty(fmt.Sprintf("p%04d", i), 1, 0, "")
	}
	n.Flush(epoch) // nobody to push to: the rounds will
	assert.Nil(t, n.push.dirty, "a large set is dropped")
	for i := range 3 {
		n.markDirty(fmt.Sprintf("p%04d", i), 1, 0, "")
	}
	n.Flush(epoch)
	assert.NotNil(t, n.push.dirty, "a small set is kept")
	assert.Empty(t, n.push.dirty)
}

// TestPushJoinForwardedFirstHandOnly (issue 10): a node forwards the news
// of a new endpoint when it came from that endpoint itself, and not when
// it came second-hand (a push from another node, or a round): a join
// announcement travels two hops by push and the digest rounds carry it
// the rest of the way. Before, every node forwarded every announcement
// new to it, and a cluster starting at once sent N² × fanout pushes,
// each a connection to open: at N = 128, 35,000 pushes in a join.
func TestPushJoinForwardedFirstHandOnly(t *testing.T) {
	s := newPushSim(t, 3, time.Second, nil)
	s.converge()
	s.runFor(s.interval)
	a, b := s.nodes[0], s.nodes[1]
	announce := func(ep string) *messaging.Push {
		return &messaging.Push{Deltas: []endpointstate.Delta{{Endpoint: ep, Generation: 7, HeartBeat: 3, Reset: true, States: []endpointstate.KeyValue{
			{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: "10.9.9.9:7000", Version: 1}},
			{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusNormal, Version: 2}}}}}}
	}
	forwarded := func() map[string]bool {
		got := map[string]bool{}
		for _, m := range a.Flush(s.now).Messages {
			if p, ok := m.Message.(*messaging.Push); ok {
				for _, d := range p.Deltas {
					got[d.Endpoint] = true
				}
			}
		}
		return got
	}
	env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: a.cfg.ClusterName, From: b.ID(), Addr: b.Addr(), Message: announce("second-hand")}
	a.Step(s.now, env)
	require.NotNil(t, a.states.Get("second-hand"), "applied")
	assert.Empty(t, forwarded(), "news of a join from another node is not forwarded")

	env = &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: a.cfg.ClusterName, From: "first-hand", Addr: "10.9.9.8:7000", Message: announce("first-hand")}
	a.Step(s.now, env)
	require.NotNil(t, a.states.Get("first-hand"), "applied")
	assert.Equal(t, map[string]bool{"first-hand": true}, forwarded(), "a node's own announcement is forwarded once")
}

// TestPickRandomSkipping: picking among a list less some positions, without
// copying it, draws the same random numbers and picks the same elements as
// picking among a filtered copy (what pushTargets did before), for every
// size, skip set and fanout tried.
func TestPickRandomSkipping(t *testing.T) {
	for size := 0; size <= 12; size++ {
		list := make([]string, size)
		for i := range list {
			list[i] = fmt.Sprintf("n%02d", i)
		}
		for mask := 0; mask < 1<<min(size, 6); mask += 3 {
			var skip []int
			var filtered []string
			for i, ep := range list {
				if i < 6 && mask&(1<<i) != 0 {
					skip = append(skip, i)
				} else {
					filtered = append(filtered, ep)
				}
			}
			for _, k := range []int{0, 1, 3, 5, 20} {
				seed := uint64(size*1000 + mask*10 + k)
				a := &Node{rng: rand.New(rand.NewPCG(seed, 1))}
				b := &Node{rng: rand.New(rand.NewPCG(seed, 1))}
				want := slices.Clone(pickRandom(a, slices.Clone(filtered), k))
				got := pickRandomSkipping(b, targetList{names: list}, skip, k)
				require.Equal(t, append([]string{}, want...), append([]string{}, got...), "size %d, skip %v, k %d", size, skip, k)
				assert.Equal(t, a.rng.Uint64(), b.rng.Uint64(), "the same draws: size %d, skip %v, k %d", size, skip, k)
			}
		}
	}
}
