package gossiper

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkSteadyBytesTCP runs n nodes with the default configuration on
// 127.0.0.1 in one process, real TCP with the lean encoding, waits until
// every node sees every other alive, lets the connections settle for a
// few rounds, and then measures the transport payload bytes sent plus
// received per node per second with no application change (the push
// machinery idle: only digest rounds). It reports B/node/s and that
// figure divided by n (the target: at most 20 × n), and logs the
// messages of each type and their mean size, and the connections
// dialled, during the window.
//
//	go test -run '^$' -bench SteadyBytesTCP -benchtime 1x ./gossiper/
//
// The window is 20 s (3 s with -short, for CI).
func BenchmarkSteadyBytesTCP(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if testing.Short() && n > 64 {
				n = 16 // keep CI's run small; the figure needs the full size
			}
			// Two minutes of settling: a connection's tables are warm once
			// it has carried an exchange each way, and each pair of 64
			// nodes meets about every 32 s.
			window, settle := 20*time.Second, 2*time.Minute
			if testing.Short() {
				window, settle = 3*time.Second, 2*time.Second
			}
			for b.Loop() {
				perNode := steadyBytes(b, n, settle, window)
				b.ReportMetric(perNode, "B/node/s")
				b.ReportMetric(perNode/float64(n), "B/node/s/N")
			}
		})
	}
}

// steadyBytes starts n gossipers, waits for full membership, waits
// settle, and returns the transport bytes (sent + received) per node per
// second over window.
func steadyBytes(b *testing.B, n int, settle, window time.Duration) float64 {
	b.Helper()
	gs := make([]*Gossiper, 0, n)
	defer func() {
		var wg sync.WaitGroup
		for _, g := range gs {
			wg.Go(g.Halt)
		}
		wg.Wait()
	}()
	// Each node binds its own loopback address, 127.1.x.y, so that the
	// dials of 256 nodes (each from its bound address) and their closed
	// connections' TIME_WAIT ports do not exhaust one address's ephemeral
	// ports. Nodes after the first start 16 at a time.
	startNode := func(i int, seeds []string) (*Gossiper, error) {
		cfg := DefaultConfig()
		cfg.ID = fmt.Sprintf("node-%d", i)
		cfg.BindAddr = fmt.Sprintf("127.1.%d.%d:0", i/250, i%250+1)
		cfg.Seeds = seeds
		g, err := New(cfg)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.Start(ctx); err != nil {
			return nil, fmt.Errorf("start node %d: %w", i, err)
		}
		return g, nil
	}
	first, err := startNode(0, nil)
	if err != nil {
		b.Fatal(err)
	}
	gs = append(gs, first)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 16)
	)
	for i := 1; i < n; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			g, err := startNode(i, []string{first.Addr()})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			gs = append(gs, g)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	deadline := time.Now().Add(5 * time.Minute)
	for !allUp(gs) {
		if time.Now().After(deadline) {
			b.Fatalf("%d nodes did not all see each other alive within 5 minutes", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(settle)
	total := func() uint64 {
		var sum uint64
		for _, g := range gs {
			s := g.Stats().Transport
			sum += s.SentBytes + s.ReceivedBytes
		}
		return sum
	}
	byType := func() (map[string][2]uint64, uint64) {
		m := map[string][2]uint64{}
		var dials uint64
		for _, g := range gs {
			st := g.Stats()
			for t, ts := range st.Messages {
				v := m[t]
				v[0] += ts.Sent
				v[1] += ts.SentBytes
				m[t] = v
			}
			dials += st.Transport.DialedConns
		}
		return m, dials
	}
	types0, dials0 := byType()
	before, start := total(), time.Now()
	time.Sleep(window)
	after, elapsed := total(), time.Since(start)
	types1, dials1 := byType()
	for t, v := range types1 {
		if d := v[0] - types0[t][0]; d > 0 {
			b.Logf("%s: %d sent, %.1f B each", t, d, float64(v[1]-types0[t][1])/float64(d))
		}
	}
	b.Logf("connections dialled: %d over %v", dials1-dials0, elapsed)
	return float64(after-before) / float64(n) / elapsed.Seconds()
}
