package main

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging"
)

// hearsaySystem runs hearsay's Gossiper with gossiper.DefaultConfig and
// the default TCP transport (built here, exactly as the Gossiper would,
// so that its byte counters and its sockets are at hand).
type hearsaySystem struct{}

type hearsayNode struct {
	g      *gossiper.Gossiper
	tr     *messaging.TCP
	done   chan struct{} // closed when the event drain has ended
	closed sync.Once
}

func (hearsaySystem) start(ctx context.Context, spec nodeSpec, ob observer) (node, error) {
	cfg := gossiper.DefaultConfig()
	cfg.ID = spec.name
	if spec.seed != "" {
		cfg.Seeds = []string{spec.seed}
	}
	tcfg := messaging.DefaultTCPConfig()
	tcfg.BindAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.port))
	tcfg.MaxFrameSize = cfg.MaxFrameSize
	tr, err := messaging.NewTCP(tcfg)
	if err != nil {
		return nil, err
	}
	cfg.Transport = tr
	cfg.BindAddr = tr.LocalAddr()
	g, err := gossiper.New(cfg)
	if err != nil {
		tr.Close()
		return nil, err
	}
	n := &hearsayNode{g: g, tr: tr, done: make(chan struct{})}
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

func (n *hearsayNode) addr() string { return n.tr.LocalAddr() }

func (n *hearsayNode) port() int {
	_, p, _ := net.SplitHostPort(n.tr.LocalAddr())
	port, _ := strconv.Atoi(p)
	return port
}

func (n *hearsayNode) set(value string) error { return n.g.SetState(benchKey, value) }

func (n *hearsayNode) bytes() uint64 {
	s := n.tr.Stats()
	return s.SentBytes + s.ReceivedBytes
}

// crash stops the node as a killed process would: a Halt method (stop
// without announcing) if the Gossiper has one, else closing its
// transport, which closes every socket and ends the gossip loop without
// a word to the peers.
func (n *hearsayNode) crash() {
	switch h := any(n.g).(type) {
	case interface{ Halt() }:
		h.Halt()
	case interface{ Halt() error }:
		_ = h.Halt()
	default:
		_ = n.tr.Close()
	}
}

func (n *hearsayNode) stop() {
	n.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.g.Stop(ctx)
		_ = n.tr.Close()
		select {
		case <-n.done:
		case <-ctx.Done():
		}
	})
}
