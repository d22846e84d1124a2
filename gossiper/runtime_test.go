package gossiper

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// memCluster starts n gossipers on an in-memory network inside the
// current synctest bubble; node-0 is everyone's seed.
func memCluster(t *testing.T, net *messaging.MemNetwork, n int) []*Gossiper {
	t.Helper()
	gs := make([]*Gossiper, n)
	for i := range n {
		gs[i] = memGossiper(t, net, i, "mem-0:7000")
	}
	return gs
}

func memGossiper(t *testing.T, net *messaging.MemNetwork, i int, seed string) *Gossiper {
	t.Helper()
	addr := fmt.Sprintf("mem-%d:7000", i)
	tr, err := net.Listen(addr, 1024)
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.ID = fmt.Sprintf("node-%d", i)
	cfg.Transport = tr
	cfg.RandSeed = uint64(i + 1)
	if addr != seed {
		cfg.Seeds = []string{seed}
	}
	g, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	return g
}

func allUp(gs []*Gossiper) bool {
	for _, g := range gs {
		ms := g.Members()
		if len(ms) != len(gs) {
			return false
		}
		for _, m := range ms {
			if m.Status != StatusUp {
				return false
			}
		}
	}
	return true
}

// TestRuntimeInBubble runs real Gossipers (loop, ticker, subscriptions) in
// fake time: join, state change, crash and conviction, graceful stop. The
// bubble fails the test on deadlock or a leaked goroutine.
func TestRuntimeInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		gs := memCluster(t, net, 4)
		changes := gs[0].Subscribe(EventChange)
		dead := gs[0].Subscribe(EventDead)

		for range 10 {
			time.Sleep(time.Second)
			if allUp(gs) {
				break
			}
		}
		require.True(t, allUp(gs), "4 nodes up everywhere within 10 rounds")

		require.NoError(t, gs[2].SetState("load", "0.5"))
		time.Sleep(5 * time.Second)
		m, ok := gs[0].Member("node-2")
		require.True(t, ok)
		assert.Equal(t, Value{Value: "0.5", Version: m.States.Get("load").Version}, m.States.Get("load"))
		found := false
		for len(changes.C) > 0 {
			if e := <-changes.C; e.Endpoint == "node-2" && e.Key == "load" && e.New == "0.5" {
				found = true
			}
		}
		assert.True(t, found, "change event delivered")

		// Crash node-3: its address goes dark. Conviction takes about
		// 18.4 mean intervals at phi 8.
		net.Block("mem-3:7000")
		start := time.Now()
		e := <-dead.C
		assert.Equal(t, "node-3", e.Endpoint)
		assert.Equal(t, "convicted", e.Reason)
		took := time.Since(start)
		assert.Greater(t, took, 10*time.Second)
		assert.Less(t, took, 40*time.Second)
		gs[3].halt(true)

		// Graceful stop of node-1: node-0 hears it at once.
		require.NoError(t, gs[1].Stop(context.Background()))
		e = <-dead.C
		assert.Equal(t, "node-1", e.Endpoint)
		assert.Equal(t, "shutdown", e.Reason)
		assert.Equal(t, StatusDown, statusOf(gs[0], "node-1"))

		for _, g := range gs {
			require.NoError(t, g.Stop(context.Background()))
		}
		_, open := <-changes.C
		for open {
			_, open = <-changes.C
		}
		assert.ErrorIs(t, gs[0].SetState("k", "v"), ErrStopped)
	})
}

func TestRuntimeAPIErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		tr, err := net.Listen("", 16)
		require.NoError(t, err)
		cfg := DefaultConfig()
		cfg.ID = "solo"
		cfg.Transport = tr
		g, err := New(cfg)
		require.NoError(t, err)
		assert.ErrorIs(t, g.SetState("k", "v"), ErrNotStarted)
		assert.Empty(t, g.Members())
		require.NoError(t, g.Start(context.Background()))
		assert.Error(t, g.Start(context.Background()), "Start twice")

		assert.ErrorIs(t, g.SetState("hearsay.addr", "x"), endpointstate.ErrInvalidKey)
		assert.ErrorIs(t, g.SetState("k", string(make([]byte, 64<<10+1))), endpointstate.ErrValueTooLarge)
		require.NoError(t, g.SetState("k", "v"))
		time.Sleep(time.Second)
		m, ok := g.Member("solo")
		require.True(t, ok)
		assert.True(t, m.Self)
		assert.Equal(t, "v", m.States.Get("k").Value)
		require.NoError(t, g.DeleteState("k"))
		m, _ = g.Member("solo")
		assert.NotContains(t, m.States.Map(), "k")
		assert.ErrorIs(t, g.Remove("solo"), ErrSelf)
		assert.ErrorIs(t, g.Remove("ghost"), ErrUnknownMember)

		// A slow subscriber never stalls the loop: its events drop.
		slow := g.Subscribe()
		for i := range 3000 {
			require.NoError(t, g.SetState("k", fmt.Sprint(i)))
		}
		assert.Positive(t, slow.Dropped())
		assert.Positive(t, g.Stats().EventsDropped)

		require.NoError(t, g.Stop(context.Background()))
		require.NoError(t, g.Stop(context.Background()), "Stop is idempotent")
	})
}

func TestConfigValidate(t *testing.T) {
	assert.Error(t, DefaultConfig().Validate(), "ID is required")
	cfg := DefaultConfig()
	cfg.ID = "a"
	require.NoError(t, cfg.Validate())
	bad := cfg
	bad.Interval = 0
	bad.ClusterName = ""
	bad.Seeds = []string{"nope"}
	bad.MaxFrameSize = 100
	bad.InitialStates = map[string]string{"hearsay.x": "1"}
	err := bad.Validate()
	require.Error(t, err)
	for _, field := range []string{"Interval", "ClusterName", "seed", "MaxFrameSize", "InitialStates"} {
		assert.Contains(t, err.Error(), field)
	}
}

func TestNextGeneration(t *testing.T) {
	path := t.TempDir() + "/gen"
	now := time.Unix(1_000_000, 0)
	g1, err := NextGeneration(path, now)
	require.NoError(t, err)
	assert.EqualValues(t, 1_000_000, g1)
	g2, err := NextGeneration(path, now.Add(-time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 1_000_001, g2, "clock went back: still increases")
	g3, err := NextGeneration(path, now.Add(time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 1_003_600, g3)
}

func TestEventJSON(t *testing.T) {
	e := Event{Kind: EventDead, Endpoint: "n1", Time: time.Unix(0, 0).UTC(), Generation: 7, Reason: "shutdown"}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"dead","endpoint":"n1","time":"1970-01-01T00:00:00Z","generation":7,"reason":"shutdown"}`, string(b))
	var back Event
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e, back)
}

func TestDoneAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		g := memGossiper(t, net, 0, "mem-0:7000")
		select {
		case <-g.Done():
			t.Fatal("done before stop")
		default:
		}
		require.NoError(t, g.Stop(context.Background()))
		<-g.Done()
		assert.NoError(t, g.Err())
	})
}

// TestRuntimeRejectsBadInput: garbage frames and messages from another
// cluster are counted and change nothing.
func TestRuntimeRejectsBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		g := memGossiper(t, net, 0, "mem-0:7000")
		attacker, err := net.Listen("mem-9:7000", 16)
		require.NoError(t, err)
		before := g.Members()

		require.NoError(t, attacker.Send("mem-0:7000", []byte{0x96, 0x01, 0xff}))
		codec, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
		require.NoError(t, err)
		foreign, err := codec.Encode(&messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "other", From: "x", Addr: "mem-9:7000",
			Message: &messaging.Ack2{Deltas: []endpointstate.Delta{{Endpoint: "x", Generation: 1, Reset: true}}}})
		require.NoError(t, err)
		require.NoError(t, attacker.Send("mem-0:7000", foreign))
		time.Sleep(2 * time.Second)

		st := g.Stats()
		assert.EqualValues(t, 1, st.DecodeErrors)
		assert.EqualValues(t, 1, st.Core.ClusterMismatch)
		after := g.Members()
		require.Len(t, after, len(before))
		assert.Equal(t, before[0].States, after[0].States)
		_, known := g.Member("x")
		assert.False(t, known)
		require.NoError(t, attacker.Close())
		require.NoError(t, g.Stop(context.Background()))
	})
}

// TestOnCallbacks: On* callbacks run off the loop, may stop the gossiper,
// and end with it.
func TestOnCallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := messaging.NewMemNetwork()
		// The callbacks are registered before node-1 starts: its start push
		// makes the join known at once.
		gs := []*Gossiper{memGossiper(t, net, 0, "mem-0:7000")}
		joined := make(chan string, 4)
		cancelJoin := gs[0].OnJoin(func(e Event) { joined <- e.Endpoint })
		stopped := make(chan error, 1)
		gs[0].OnChange(func(e Event) {
			if e.Key == "stop" {
				stopped <- gs[0].Stop(context.Background()) // allowed from a callback
			}
		})
		gs = append(gs, memGossiper(t, net, 1, "mem-0:7000"))
		time.Sleep(5 * time.Second)
		assert.Equal(t, "node-1", <-joined)
		cancelJoin()
		require.NoError(t, gs[1].SetState("stop", "now"))
		time.Sleep(5 * time.Second)
		require.NoError(t, <-stopped)
		<-gs[0].Done()
		require.NoError(t, gs[1].Stop(context.Background()))
		synctest.Wait()
	})
}

func TestNewGenerationPersisted(t *testing.T) {
	path := t.TempDir() + "/gen"
	require.NoError(t, SaveGeneration(path, 42))
	g, err := NextGeneration(path, time.Unix(10, 0))
	require.NoError(t, err)
	assert.EqualValues(t, 43, g)
}
