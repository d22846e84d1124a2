package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"
)

// serfSystem runs hashicorp/serf with serf.DefaultConfig (memberlist's
// DefaultLANConfig inside); the benchmark value is a tag, changed with
// SetTags.
type serfSystem struct{}

type serfNode struct {
	s    *serf.Serf
	tr   *countingTransport
	quit chan struct{} // ends the event drain
	done chan struct{} // closed when the drain has ended
	once sync.Once
}

func (serfSystem) start(_ context.Context, spec nodeSpec, ob observer) (node, error) {
	tr, err := newCountingTransport(spec.port)
	if err != nil {
		return nil, err
	}
	cfg := serf.DefaultConfig()
	cfg.NodeName = spec.name
	cfg.LogOutput = io.Discard
	configureMemberlist(cfg.MemberlistConfig, spec.name, tr)
	// Serf blocks on EventCh while handling gossip: a large buffer and a
	// drain that only records keep it from stalling.
	events := make(chan serf.Event, 4096)
	cfg.EventCh = events
	n := &serfNode{tr: tr, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(n.done)
		for {
			select {
			case e := <-events:
				me, ok := e.(serf.MemberEvent)
				if !ok {
					continue
				}
				now := time.Now()
				for _, m := range me.Members {
					switch me.Type {
					case serf.EventMemberJoin:
						ob.up(m.Name, now)
						ob.value(m.Name, m.Tags[benchKey], now)
					case serf.EventMemberFailed:
						ob.down(m.Name, now, true)
					case serf.EventMemberLeave, serf.EventMemberReap:
						ob.down(m.Name, now, false)
					case serf.EventMemberUpdate:
						ob.value(m.Name, m.Tags[benchKey], now)
					}
				}
			case <-n.quit:
				return
			}
		}
	}()
	s, err := serf.Create(cfg)
	if err != nil {
		_ = tr.Shutdown()
		close(n.quit)
		return nil, err
	}
	n.s = s
	if spec.seed != "" {
		if _, err := s.Join([]string{spec.seed}, true); err != nil {
			n.stop()
			return nil, err
		}
	}
	return n, nil
}

func (n *serfNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.tr.port) }
func (n *serfNode) port() int    { return n.tr.port }

func (n *serfNode) set(value string) error {
	return n.s.SetTags(map[string]string{benchKey: value})
}

func (n *serfNode) bytes() uint64 { return n.tr.count.Load() }

// crash shuts serf down without Leave: its sockets close and nothing is
// announced.
func (n *serfNode) crash() { n.stop() }

func (n *serfNode) stop() {
	n.once.Do(func() {
		_ = n.s.Shutdown()
		close(n.quit)
		<-n.done
	})
}
