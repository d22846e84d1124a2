package gossiper

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// TestJoinThroughLiveAddress: a node started with no seeds joins a running
// node over real TCP sockets through Join, given a host name to resolve,
// and both then see each other up with their states.
func TestJoinThroughLiveAddress(t *testing.T) {
	a := startTCP(t, tcpConfig("a", nil, 50*time.Millisecond))
	bcfg := tcpConfig("b", nil, 50*time.Millisecond)
	bcfg.InitialStates = map[string]string{"role": "web"}
	b := startTCP(t, bcfg)
	require.Len(t, b.Members(), 1, "b starts alone")

	_, port, err := net.SplitHostPort(a.Addr())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := b.Join(ctx, net.JoinHostPort("localhost", port))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1, "localhost resolves to at least one address that answered")
	assert.Empty(t, b.Seeds(), "join addresses are not kept as seeds")

	ok := false
	for range 200 {
		if statusOf(a, "b") == StatusUp && statusOf(b, "a") == StatusUp {
			ok = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.True(t, ok, "a and b see each other up")
	for range 200 {
		if m, _ := a.Member("b"); m.States.Get("role").Value == "web" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	m, _ := a.Member("b")
	assert.Equal(t, "web", m.States.Get("role").Value)
}

// TestJoinDeadAddresses: Join with only addresses nobody answers at fails
// with ErrJoinFailed, and says which address did not parse.
func TestJoinDeadAddresses(t *testing.T) {
	g := startTCP(t, tcpConfig("a", nil, 50*time.Millisecond))
	l, err := net.Listen("tcp", "127.0.0.1:0") // after g: not g's port
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	n, err := g.Join(ctx, dead, "no-port")
	assert.Equal(t, 0, n)
	require.ErrorIs(t, err, ErrJoinFailed)
	assert.ErrorContains(t, err, `"no-port"`)
	assert.NotErrorIs(t, err, ErrBadAddress, "one address was fine, it just did not answer")
	assert.Len(t, g.Members(), 1)

	n, err = g.Join(ctx, "no-port", "[::1")
	assert.Equal(t, 0, n)
	require.ErrorIs(t, err, ErrBadAddress, "nothing could be contacted: bad input")
	assert.ErrorIs(t, err, ErrJoinFailed)
	assert.ErrorContains(t, err, `"[::1"`)
	_, err = g.Join(ctx, g.Addr())
	assert.ErrorIs(t, err, ErrJoinFailed)
	assert.NotErrorIs(t, err, ErrBadAddress, "its own address is no bad input")

	_, err = g.Join(context.Background())
	assert.Error(t, err, "no address")
	unstarted, err := New(tcpConfig("c", nil, 50*time.Millisecond))
	require.NoError(t, err)
	_, err = unstarted.Join(context.Background(), dead)
	assert.ErrorIs(t, err, ErrNotStarted)
}

// TestJoinCountsAnswers: in a bubble, Join counts the addresses that
// answered, not those that did not, and the joining node learns the whole
// cluster through one of them.
func TestJoinCountsAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		gs := memCluster(t, mem, 3)
		tr, err := mem.Listen("mem-9:7000", 1024)
		require.NoError(t, err)
		cfg := DefaultConfig()
		cfg.ID, cfg.Transport = "loner", tr
		g, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, g.Start(context.Background()))
		n, err := g.Join(context.Background(), gs[1].Addr(), "mem-7:7000", gs[2].Addr())
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		for range 30 {
			if len(g.Members()) == 4 && everyone(append(gs, g), -1, "loner", StatusUp) {
				break
			}
			time.Sleep(time.Second)
		}
		assert.Len(t, g.Members(), 4)
		assert.True(t, everyone(append(gs, g), -1, "loner", StatusUp))
		for _, x := range append(gs, g) {
			x.Halt()
		}
	})
}

// TestHaltLooksLikeACrash: after Halt the peers convict the node by phi;
// none ever sees a shutdown.
func TestHaltLooksLikeACrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		gs := memCluster(t, mem, 3)
		for range 10 {
			if allUp(gs) {
				break
			}
			time.Sleep(time.Second)
		}
		require.True(t, allUp(gs))
		subs := []*Subscription{gs[0].Subscribe(EventDead), gs[1].Subscribe(EventDead)}
		gs[2].Halt()
		gs[2].Halt() // idempotent
		assert.ErrorIs(t, gs[2].SetState("k", "v"), ErrStopped)
		_, open := <-gs[2].Subscribe().C
		assert.False(t, open, "Halt closes subscriptions")

		for i, sub := range subs {
			select {
			case e := <-sub.C:
				assert.Equal(t, "node-2", e.Endpoint)
				assert.Equal(t, "convicted", e.Reason, "peer %d convicts by phi", i)
				assert.Greater(t, e.Phi, 1.0)
			case <-time.After(2 * time.Minute):
				t.Fatalf("peer %d never convicted node-2", i)
			}
		}
		time.Sleep(time.Minute)
		for _, sub := range subs {
			assert.Empty(t, sub.C, "no other dead event (no shutdown) ever comes")
		}
		for _, g := range gs {
			require.NoError(t, g.Stop(context.Background()))
		}
	})
}

// TestRestartWithinOneSecondTakesHigherGeneration: without a
// GenerationFile, seeds or shadow round, a node restarted again and again
// within one second (the bubble's clock does not move) gets a strictly
// higher generation each time.
func TestRestartWithinOneSecondTakesHigherGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		var last int64
		start := time.Now()
		for i := range 5 {
			tr, err := mem.Listen("mem-0:7000", 16)
			require.NoError(t, err)
			cfg := DefaultConfig()
			cfg.ID, cfg.Transport = "restarter", tr
			g, err := New(cfg)
			require.NoError(t, err)
			require.NoError(t, g.Start(context.Background()))
			m, _ := g.Member("restarter")
			if i == 0 {
				assert.GreaterOrEqual(t, m.Generation, start.Unix(), "never below the clock")
			} else {
				assert.Greater(t, m.Generation, last, "start %d above the previous one", i)
			}
			last = m.Generation
			g.Halt()
		}
		assert.Equal(t, start, time.Now(), "all within one (virtual) instant")
	})
}

// TestProcessGenerationKeepsClocksApart: starts in one testing/synctest
// bubble do not push up the generations of the next bubble (whose clock
// starts at 2000-01-01 again), a generation remembered from a bubble does
// not push the wall clock, entries expire once the clock passes them, and
// the table stays bounded.
func TestProcessGenerationKeepsClocksApart(t *testing.T) {
	id := fmt.Sprintf("clocks-%d", time.Now().UnixNano())
	bubble := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	a := bubble.Add(time.Minute) // a bubble whose clock moved on
	for i := range int64(5) {
		assert.Equal(t, a.Unix()+i, processGeneration(id, a), "restarts within one second")
	}
	assert.Equal(t, bubble.Unix(), processGeneration(id, bubble), "a new bubble: the entry recorded later is ignored")
	assert.Equal(t, bubble.Unix()+1, processGeneration(id, bubble))
	wall := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	assert.Equal(t, wall.Unix(), processGeneration(id, wall))
	assert.Equal(t, wall.Unix()+1, processGeneration(id, wall))
	assert.Equal(t, wall.Unix()+5, processGeneration(id, wall.Add(5*time.Second)), "the clock passed it")
	assert.Equal(t, wall.Unix()+10, processGeneration("other-"+id, wall.Add(10*time.Second)))
	later := wall.Add(20 * time.Second)
	assert.Equal(t, later.Unix()+7, rememberGeneration(id, later, later.Unix()+7), "a generation taken while running")
	assert.Equal(t, later.Unix()+8, processGeneration(id, later), "the next start goes above it")

	for i := range 2 * maxGenerationEntries {
		processGeneration(fmt.Sprintf("%s-%d", id, i), later)
	}
	lastGenerations.Lock()
	n := len(lastGenerations.byID)
	lastGenerations.Unlock()
	assert.Equal(t, maxGenerationEntries, n, "the table is bounded")
	lastGenerations.Lock()
	defer lastGenerations.Unlock()
	clear(lastGenerations.byID) // leave no entries to other tests
}

// TestCallbacksInEventOrderAcrossKinds: a crash then restart of node-2 is
// seen by OnDead, OnRestart and OnAlive callbacks in the order it happened,
// even when the dead callback is slow; meanwhile gossip goes on (node-0
// sees node-2 up again before the slow callback returns).
func TestCallbacksInEventOrderAcrossKinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		gs := memCluster(t, mem, 3)
		for range 10 {
			if allUp(gs) {
				break
			}
			time.Sleep(time.Second)
		}
		require.True(t, allUp(gs))
		var mu sync.Mutex
		var got []string
		record := func(e Event) {
			if e.Endpoint == "node-2" {
				mu.Lock()
				got = append(got, e.Kind.String())
				mu.Unlock()
			}
		}
		upDuringSlowCallback := false
		cancels := []func(){
			gs[0].OnDead(func(e Event) {
				time.Sleep(2 * time.Minute) // a slow callback
				upDuringSlowCallback = statusOf(gs[0], "node-2") == StatusUp
				record(e)
			}),
			gs[0].OnRestart(record),
			gs[0].OnAlive(record),
		}
		dead := gs[0].Subscribe(EventDead)
		gs[2].Halt()
		select {
		case <-dead.C:
		case <-time.After(time.Minute):
			t.Fatal("node-2 never convicted")
		}
		gs[2] = memGossiper(t, mem, 2, "mem-0:7000")
		time.Sleep(5 * time.Minute)
		mu.Lock()
		assert.Equal(t, []string{"dead", "restart", "alive"}, got)
		mu.Unlock()
		assert.True(t, upDuringSlowCallback, "gossip went on while the callback was slow")
		for _, c := range cancels {
			c()
		}
		for _, g := range gs {
			g.Halt()
		}
	})
}

// TestOnCancelAndStopFromCallback: cancel stops further calls, the last
// cancel ends the dispatcher, and a callback may stop its Gossiper.
func TestOnCancelAndStopFromCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		gs := memCluster(t, mem, 2)
		calls := 0
		cancel := gs[0].OnChange(func(Event) { calls++ })
		stopped := make(chan struct{})
		gs[0].OnChange(func(e Event) {
			if e.Key == "stop" {
				_ = gs[0].Stop(context.Background())
				close(stopped)
			}
		})
		require.NoError(t, gs[1].SetState("a", "1"))
		time.Sleep(10 * time.Second)
		cancel()
		n := calls
		assert.Positive(t, n)
		require.NoError(t, gs[1].SetState("a", "2"))
		time.Sleep(10 * time.Second)
		assert.Equal(t, n, calls, "no call after cancel")
		require.NoError(t, gs[1].SetState("stop", "now"))
		select {
		case <-stopped:
		case <-time.After(time.Minute):
			t.Fatal("the callback did not stop its gossiper")
		}
		<-gs[0].Done()
		gs[1].Halt()
	})
}

// TestSubscriptionOverflowInBand: events that do not fit are reported in
// the stream itself, as an overflow event carrying how many were lost, as
// soon as there is room, whatever kinds the subscription asked for.
func TestSubscriptionOverflowInBand(t *testing.T) {
	var s subscribers
	var dropped, overflowOnly = new(atomic.Uint64), s.add(1, []EventKind{EventDead})
	sub := s.add(2, []EventKind{EventChange})
	now := time.Unix(100, 0)
	ev := func(i int) Event { return Event{Kind: EventChange, Key: fmt.Sprint(i)} }
	s.publish(now, []Event{ev(1), ev(2), ev(3), ev(4), ev(5)}, dropped)
	read := func() (keys []string, lost uint64) {
		for len(sub.C) > 0 {
			e := <-sub.C
			if e.Kind == EventOverflow {
				keys = append(keys, fmt.Sprintf("overflow(%d)", e.Lost))
				lost += e.Lost
			} else {
				keys = append(keys, e.Key)
			}
		}
		return keys, lost
	}
	keys, lost := read()
	assert.Equal(t, []string{"1", "2", "overflow(1)"}, keys, "the first loss is reported at once")
	s.publish(now, nil, dropped) // a round with no event
	keys, lost2 := read()
	assert.Equal(t, []string{"overflow(2)"}, keys, "later losses as soon as there is room")
	s.publish(now, []Event{ev(6)}, dropped)
	keys, _ = read()
	assert.Equal(t, []string{"6"}, keys)
	assert.Equal(t, uint64(3), lost+lost2)
	assert.Equal(t, uint64(3), sub.Dropped())
	assert.Equal(t, uint64(3), dropped.Load())
	assert.Empty(t, overflowOnly.C, "a subscription that lost nothing hears nothing")
}

// TestOverflowReachesGossiperSubscribers: a subscriber of a real Gossiper
// that does not keep up gets an overflow event whose counts add up to
// Dropped.
func TestOverflowReachesGossiperSubscribers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		gs := memCluster(t, mem, 2)
		for range 10 {
			if allUp(gs) {
				break
			}
			time.Sleep(time.Second)
		}
		require.True(t, allUp(gs))
		gs[0].cfg.EventBuffer = 2 // before Subscribe: the buffer of later subscriptions
		sub := gs[0].Subscribe(EventChange)
		for i := range 10 {
			require.NoError(t, gs[1].SetState(fmt.Sprintf("k%d", i), "v"))
		}
		time.Sleep(10 * time.Second)
		var lost uint64
		var changes, overflows int
		for range 100 {
			select {
			case e := <-sub.C:
				if e.Kind == EventOverflow {
					overflows++
					lost += e.Lost
				} else {
					changes++
				}
				continue
			default:
			}
			// The next round reports what is pending. Half an interval off
			// the ticks: at the very instant of a tick, whether the loop has
			// published yet is up to the scheduler (the test was flaky).
			time.Sleep(1500 * time.Millisecond)
			if len(sub.C) == 0 {
				break
			}
		}
		assert.Positive(t, overflows)
		assert.Equal(t, sub.Dropped(), lost)
		assert.Equal(t, 10, changes+int(lost))
		for _, g := range gs {
			g.Halt()
		}
	})
}

// TestSubscriptionCloseReleasesIt: a closed subscription is not kept alive
// by the subscriber list's backing array (issue 11, item 3).
func TestSubscriptionCloseReleasesIt(t *testing.T) {
	var s subscribers
	keep := s.add(1, nil)
	wp := func() weak.Pointer[Subscription] {
		gone := s.add(1024, nil)
		gone.Close()
		return weak.Make(gone)
	}()
	runtime.GC()
	runtime.GC()
	assert.Nil(t, wp.Value(), "the closed subscription was collected")
	assert.Nil(t, s.list[:cap(s.list)][len(s.list)], "the vacated slot is cleared")
	keep.Close()
}

// TestConfigTCP: transport settings are validated with the rest of the
// configuration, unused with a Transport of one's own, and reach the
// built-in transport (here its cap on connections per source awaiting a
// handshake).
func TestConfigTCP(t *testing.T) {
	cfg := tcpConfig("a", nil, 50*time.Millisecond)
	cfg.TCP.QueueSize, cfg.TCP.IdleTimeout = -1, -time.Second
	err := cfg.Validate()
	require.Error(t, err)
	assert.ErrorContains(t, err, "TCP")
	assert.ErrorContains(t, err, "QueueSize")
	assert.ErrorContains(t, err, "IdleTimeout")
	tr, err := messaging.NewMemNetwork().Listen("", 1)
	require.NoError(t, err)
	cfg.Transport = tr
	assert.NoError(t, cfg.Validate(), "TCP is not used with a Transport")
	tr.Close()

	cfg = tcpConfig("a", nil, 50*time.Millisecond)
	cfg.TCP = messaging.TCPConfig{MaxConnsPerSource: 1} // zero fields take defaults
	require.NoError(t, cfg.Validate())
	g := startTCP(t, cfg)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", g.Addr())
		require.NoError(t, err)
		conns = append(conns, c)
	}
	refused := uint64(0)
	for range 1000 { // 10 s: a bound for a test that went wrong, not a speed
		if refused = g.Stats().Transport.RefusedPerSource; refused >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, uint64(2), refused, "only one connection awaiting its handshake per source")
	for _, c := range conns {
		c.Close()
	}
}

// TestCallbackSeesItsEventInMembers: when a callback runs, Members already
// reflects the event (events are delivered after the snapshot that shows
// them is published), so "on any event, re-read Members" is a sound way to
// follow the cluster.
func TestCallbackSeesItsEventInMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := messaging.NewMemNetwork()
		gs := memCluster(t, mem, 2)
		var mu sync.Mutex
		var stale []string
		cancel := gs[0].OnChange(func(e Event) {
			if e.Endpoint != "node-1" || e.Deleted {
				return
			}
			if m, _ := gs[0].Member("node-1"); m.States.Get(e.Key).Value != e.New {
				mu.Lock()
				stale = append(stale, e.Key)
				mu.Unlock()
			}
		})
		for i := range 200 {
			require.NoError(t, gs[1].SetState(fmt.Sprintf("k%d", i%50), fmt.Sprint(i)))
			time.Sleep(time.Duration(1+i%3) * time.Second)
		}
		time.Sleep(10 * time.Second)
		cancel()
		mu.Lock()
		assert.Empty(t, stale, "callbacks that saw an older snapshot")
		mu.Unlock()
		for _, g := range gs {
			g.Halt()
		}
	})
}
