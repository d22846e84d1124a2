package gossiper

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging/transporttest"
)

// tcpConfig is a test configuration on 127.0.0.1 with a short interval.
func tcpConfig(id string, seeds []string, interval time.Duration) Config {
	cfg := DefaultConfig()
	cfg.ID = id
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Interval = interval
	cfg.FailureDetector = failuredetector.DefaultConfigFor(interval)
	cfg.Seeds = seeds
	cfg.ShadowTimeout = 10 * interval
	return cfg
}

func startTCP(t *testing.T, cfg Config) *Gossiper {
	t.Helper()
	g, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Start(ctx))
	t.Cleanup(func() { _ = g.Stop(context.Background()) })
	return g
}

// statusOf returns id's status as seen by g ("" if unknown).
func statusOf(g *Gossiper, id string) Status {
	m, ok := g.Member(id)
	if !ok {
		return ""
	}
	return m.Status
}

// everyone reports whether every live gossiper in gs sees id with status
// want.
func everyone(gs []*Gossiper, skip int, id string, want Status) bool {
	for i, g := range gs {
		if i == skip || g == nil {
			continue
		}
		if statusOf(g, id) != want {
			return false
		}
	}
	return true
}

// TestTenNodesOverTCP is the end-to-end scenario in one process:
// ten gossipers on 127.0.0.1 with real TCP.
func TestTenNodesOverTCP(t *testing.T) {
	const interval = 50 * time.Millisecond
	const n = 10
	gs := make([]*Gossiper, n)
	gs[0] = startTCP(t, tcpConfig("node-0", nil, interval))
	seed := gs[0].Addr()
	// node-7 is restarted on its address: a port below the ephemeral
	// range, which no outgoing connection takes while it is down.
	victimAddr := transporttest.FreeAddrs(t, 1)[0]
	for i := 1; i < n; i++ {
		cfg := tcpConfig(fmt.Sprintf("node-%d", i), []string{seed}, interval)
		if i == 7 {
			cfg.BindAddr = victimAddr
		}
		gs[i] = startTCP(t, cfg)
	}

	// All see each other, up.
	joined := time.Now()
	require.Eventually(t, func() bool {
		for i := range gs {
			if !everyone(gs, -1, fmt.Sprintf("node-%d", i), StatusUp) {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "all ten must see each other up")
	t.Logf("ten nodes over TCP: everyone up everywhere %v (%.1f rounds) after the last start",
		time.Since(joined).Round(time.Millisecond), float64(time.Since(joined))/float64(interval))

	// SetState on one is visible on all.
	require.NoError(t, gs[3].SetState("role", "db"))
	require.Eventually(t, func() bool {
		for _, g := range gs {
			m, ok := g.Member("node-3")
			if !ok || m.States.Get("role").Value != "db" {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond)

	// Kill one without a shutdown message: the phi detector convicts it.
	restarts := gs[1].Subscribe(EventRestart)
	victim := gs[7]
	require.Equal(t, victimAddr, victim.Addr())
	victim.halt(true)
	gs[7] = nil
	require.Eventually(t, func() bool { return everyone(gs, 7, "node-7", StatusDown) }, 20*time.Second, 20*time.Millisecond,
		"a killed node must be convicted everywhere")

	// Restart it (same address, higher generation): OnRestart, then up.
	cfg := tcpConfig("node-7", []string{seed}, interval)
	cfg.BindAddr = victimAddr
	gs[7] = startTCP(t, cfg)
	// Everyone up everywhere, the restarted node's own view included: with
	// push the others see it up before it has seen them all.
	require.Eventually(t, func() bool {
		for i := range gs {
			if !everyone(gs, -1, fmt.Sprintf("node-%d", i), StatusUp) {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)
	select {
	case e := <-restarts.C:
		assert.Equal(t, "node-7", e.Endpoint)
		assert.Greater(t, e.Generation, e.OldGeneration)
	case <-time.After(5 * time.Second):
		t.Fatal("no restart event")
	}

	// A graceful Stop is seen as down at once: every peer gets the
	// Shutdown announcement itself (reason "shutdown"), none waits for the
	// failure detector (reason "convicted").
	var deaths []*Subscription
	for i, g := range gs {
		if i != 5 {
			deaths = append(deaths, g.Subscribe(EventDead))
		}
	}
	require.NoError(t, gs[5].Stop(context.Background()))
	gs[5] = nil
	// Only node-5's death is checked: on a loaded machine a node's loop
	// can stall long enough for a peer to convict it for a moment, and
	// that event may come first.
	deadline := time.After(10 * time.Second)
	for _, sub := range deaths {
		var e Event
		for e.Endpoint != "node-5" {
			select {
			case e = <-sub.C:
			case <-deadline:
				t.Fatal("no dead event for node-5 after its graceful stop")
			}
		}
		assert.Equal(t, "shutdown", e.Reason)
	}
	assert.True(t, everyone(gs, 5, "node-5", StatusDown))
}
