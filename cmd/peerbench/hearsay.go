package main

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
)

// hearsaySystem runs hearsay's Gossiper with gossiper.DefaultConfig and
// the default TCP transport (built here, exactly as the Gossiper would,
// so that its byte counters and its sockets are at hand).
type hearsaySystem struct{}

// fastSetting applies the documented fast setting (docs/operations.md,
// "The fast setting"): a 200 ms interval, the failure detector's defaults
// for it, and the Akka model at its default threshold 8.
func fastSetting(cfg *gossiper.Config) {
	cfg.Interval = 200 * time.Millisecond
	cfg.FailureDetector = failuredetector.DefaultConfigFor(cfg.Interval)
	cfg.FailureDetector.Model = failuredetector.Akka
}

type hearsayNode struct {
	g      *gossiper.Gossiper
	done   chan struct{} // closed when the event drain has ended
	closed sync.Once
}

func (hearsaySystem) start(ctx context.Context, spec nodeSpec, ob observer) (node, error) {
	cfg := gossiper.DefaultConfig()
	cfg.ID = spec.name
	if spec.seed != "" {
		cfg.Seeds = []string{spec.seed}
	}
	if spec.fast {
		fastSetting(&cfg)
	}
	// The built-in TCP transport (default settings, the lean wire
	// encoding), as a user of the library gets it.
	cfg.BindAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.port))
	g, err := gossiper.New(cfg)
	if err != nil {
		return nil, err
	}
	n := &hearsayNode{g: g, done: make(chan struct{})}
	// Subscribed before Start, so that no event is missed.
	sub := g.Subscribe(gossiper.EventAlive, gossiper.EventDead, gossiper.EventRestart,
		gossiper.EventRemove, gossiper.EventChange)
	go func() {
		defer close(n.done)
		for e := range sub.C {
			switch e.Kind {
			case gossiper.EventAlive:
				ob.up(e.Endpoint, e.Time)
			case gossiper.EventDead:
				ob.down(e.Endpoint, e.Time, e.Reason == "convicted")
			case gossiper.EventRestart, gossiper.EventRemove:
				ob.down(e.Endpoint, e.Time, false)
			case gossiper.EventChange:
				if e.Key == benchKey && !e.Deleted {
					ob.value(e.Endpoint, e.New, e.Time)
				}
			}
		}
	}()
	if err := g.Start(ctx); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

func (n *hearsayNode) addr() string { return n.g.Addr() }

func (n *hearsayNode) port() int {
	_, p, _ := net.SplitHostPort(n.g.Addr())
	port, _ := strconv.Atoi(p)
	return port
}

func (n *hearsayNode) set(value string) error { return n.g.SetState(benchKey, value) }

func (n *hearsayNode) bytes() uint64 {
	s := n.g.Stats().Transport
	return s.SentBytes + s.ReceivedBytes
}

// losses returns the transport's drop and refusal counters by reason,
// plus evicted and dialled connections, for the notes under a table.
func (n *hearsayNode) losses() map[string]uint64 {
	st := n.g.Stats()
	s := st.Transport
	out := map[string]uint64{"evicted": s.EvictedConns, "dialled": s.DialedConns, "waited for a dial": s.DialQueued,
		"replies limited": st.Core.RepliesLimited, "send errors": st.SendErrors,
		"datagrams sent": s.DatagramsSent, "datagrams received": s.DatagramsReceived, "datagram fallbacks": s.DatagramFallbacks}
	for k, v := range s.DatagramDrops.ByReason() {
		out["datagram dropped "+k] = v
	}
	for typ, ts := range st.Messages {
		out["sent "+typ] = ts.Sent
	}
	for k, v := range s.Drops() {
		out["dropped "+k] = v
	}
	for k, v := range s.Refusals() {
		out["refused "+k] = v
	}
	return out
}

// crash stops the node as a killed process would: Halt closes every
// socket and ends the gossip loop without a word to the peers.
func (n *hearsayNode) crash() { n.g.Halt() }

func (n *hearsayNode) stop() {
	n.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.g.Stop(ctx)
		select {
		case <-n.done:
		case <-ctx.Done():
		}
	})
}
