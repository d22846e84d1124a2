package gossiper

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/messaging/ratelog"
)

// snapshot is what readers see: published by the loop after each round and
// after each step that changed membership or state. Never modified after
// publication.
type snapshot struct {
	addr     string
	members  []Member
	fd       []failuredetector.EndpointStats
	seeds    []string
	counters Counters
}

// runtimeLogs rate-limits the runtime's warnings about network input, so
// that a flood of bad frames is not a flood of log lines (the counters
// still count every frame), and, apart, those about the node's own stalls.
type runtimeLogs struct {
	undecodable ratelog.Limiter // "dropped undecodable frame"
	rejected    ratelog.Limiter // "gossip input rejected"
	stalled     ratelog.Limiter // "this node stalled" (Output.Notices)
	identity    ratelog.Limiter // "refused envelope: the peer's certificate ..."
}

// run is the loop: the only goroutine that touches the core. It ticks
// every interval, steps every received frame and runs commands.
func (g *Gossiper) run(ctx context.Context, ready chan<- error) {
	defer close(g.done)
	n := g.core
	packets := g.transport.Packets()
	g.apply(time.Now(), n.Start(time.Now()))
	g.publish(time.Now())
	signal := func(err error) {
		if ready != nil && (err != nil || n.Running()) {
			ready <- err
			ready = nil
		}
	}
	signal(nil)
	ticker := time.NewTicker(g.cfg.Interval)
	defer ticker.Stop()
	push := newPusher()
	defer push.stop()
	g.flushPush(push, time.Now(), true)
	for {
		var out Output
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			now := time.Now()
			out = n.Tick(now)
			g.apply(now, out)
			g.publish(now)
			g.deliver(now, out)
		case p, ok := <-packets:
			if !ok {
				return
			}
			now := time.Now()
			out = g.step(now, &p)
			if len(out.Events) > 0 || !n.Running() {
				g.publish(now)
			}
			g.deliver(now, out)
		case c := <-g.cmds:
			now := time.Now()
			var err error
			out, err = c.fn(now)
			g.apply(now, out)
			g.publish(now)
			g.deliver(now, out)
			c.reply <- err
		case <-push.wake():
		}
		if out.Fatal != nil {
			g.fatal.Store(&out.Fatal)
			signal(out.Fatal)
			g.log.Error().Err(out.Fatal).Msg("gossiper cannot go on")
			return
		}
		signal(nil)
		g.flushPush(push, time.Now(), len(packets) == 0 && len(g.cmds) == 0)
	}
}

// step decodes and handles one frame; answers go back through p.Reply.
// On a mutual-TLS connection the envelope must come from a node the peer's
// certificate names (messaging.Identity): a member cannot speak as
// another, so it can neither send another's Shutdown nor announce a new
// generation of another's ID, nor answer the echo that would mark such a
// forged incarnation up. The check runs here, in the shell, before the
// core sees the envelope; it is counted in Stats.IdentityRefused.
func (g *Gossiper) step(now time.Time, p *messaging.Packet) Output {
	env, err := p.Envelope, error(nil)
	if env == nil {
		env, err = g.codec.Decode(p.Payload)
	}
	if err != nil {
		g.stats.decodeErrors.Add(1)
		g.logs.undecodable.Event(&g.log, zerolog.WarnLevel).Err(err).Str("remote", p.Remote).Msg("dropped undecodable frame")
		return Output{}
	}
	if p.Identity != nil && !p.Identity.Covers(env.From) {
		g.stats.identityRefused.Add(1)
		g.logs.identity.Event(&g.log, zerolog.WarnLevel).Str("remote", p.Remote).Str("from", env.From).
			Strs("certificate_names", p.Identity.Names).Stringer("type", env.Message.Type()).
			Msg("refused envelope: the peer's certificate does not name the node it claims to be")
		return Output{}
	}
	g.stats.received(env.Message.Type(), len(p.Payload))
	g.joinReply(env)
	out := g.core.StepFrom(now, p.Remote, env)
	g.applyFrom(now, out, p)
	return out
}

// apply acts on the core's output: sends messages, logs warnings and
// events (deliver hands them to subscribers).
func (g *Gossiper) apply(now time.Time, out Output) { g.applyFrom(now, out, nil) }

// applyFrom is apply for the output of a step: replies go back on the
// channel p came in on (p is nil for ticks and commands).
func (g *Gossiper) applyFrom(now time.Time, out Output, p *messaging.Packet) {
	for _, w := range out.Warnings {
		g.logs.rejected.Event(&g.log, zerolog.WarnLevel).Err(w).Msg("gossip input rejected")
	}
	for _, w := range out.Notices {
		g.logs.stalled.Event(&g.log, zerolog.WarnLevel).Err(w).Msg("this node stalled")
	}
	if out.NewGeneration != 0 {
		g.log.Warn().Int64("generation", out.NewGeneration).Msg("took a new generation")
		rememberGeneration(g.cfg.ID, now, out.NewGeneration)
		if g.cfg.GenerationFile != "" {
			if err := SaveGeneration(g.cfg.GenerationFile, out.NewGeneration); err != nil {
				g.log.Error().Err(err).Msg("cannot persist the new generation")
			}
		}
	}
	for _, m := range out.Messages {
		g.send(m, p)
	}
	for _, e := range out.Events {
		g.logEvent(e)
	}
}

// deliver hands out's events to subscribers (and reports earlier losses).
// The loop calls it after publishing the snapshot that reflects them, so a
// reader that reacts to an event by reading Members sees its effect.
func (g *Gossiper) deliver(now time.Time, out Output) {
	g.subs.publish(now, out.Events, &g.stats.eventsDropped)
}

// send encodes m and hands it to the transport: a reply on the channel of
// the packet it answers, anything else to m.To. A reply without such a
// channel (a transport whose packets have no Reply) goes to m.To.
func (g *Gossiper) send(m Outgoing, p *messaging.Packet) {
	env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: g.cfg.ClusterName,
		From: g.cfg.ID, Addr: g.core.Addr(), Message: m.Message}
	if et, ok := g.transport.(messaging.EnvelopeTransport); ok && et.Codec() != nil {
		g.sendEnvelope(et, m, env, p)
		return
	}
	b, err := g.codec.Encode(env)
	if err != nil {
		g.stats.sendErrors.Add(1)
		g.log.Error().Err(err).Str("to", m.To).Msg("cannot encode message")
		return
	}
	transmit := g.transport.Send
	if m.Reply && p != nil && p.Reply != nil {
		transmit = func(_ string, b []byte) error { return p.Reply(b) }
	}
	if err := transmit(m.To, b); err != nil {
		g.stats.sendErrors.Add(1)
		g.log.Debug().Err(err).Str("to", m.To).Stringer("type", m.Message.Type()).Msg("send dropped")
		return
	}
	g.stats.sent(m.Message.Type(), len(b))
}

// sendEnvelope hands env to a transport that encodes it per connection
// (the lean encoding); the transport counts its size when it encodes it.
func (g *Gossiper) sendEnvelope(et messaging.EnvelopeTransport, m Outgoing, env *messaging.Envelope, p *messaging.Packet) {
	var err error
	if m.Reply && p != nil && p.ReplyEnvelope != nil {
		err = p.ReplyEnvelope(env)
	} else {
		err = et.SendEnvelope(m.To, env)
	}
	if err != nil {
		g.stats.sendErrors.Add(1)
		g.log.Debug().Err(err).Str("to", m.To).Stringer("type", m.Message.Type()).Msg("send dropped")
	}
}

func (g *Gossiper) logEvent(e Event) {
	ev := g.log.Debug()
	if e.Kind != EventChange {
		ev = g.log.Info()
	}
	ev = ev.Str("endpoint", e.Endpoint).Stringer("event", e.Kind).Int64("generation", e.Generation)
	if e.Key != "" {
		ev = ev.Str("key", e.Key)
	}
	if e.Reason != "" {
		ev = ev.Str("reason", e.Reason)
	}
	ev.Msg("membership event")
}

// publish stores a fresh snapshot for readers.
func (g *Gossiper) publish(now time.Time) {
	n := g.core
	g.snap.Store(&snapshot{
		addr:     n.Addr(),
		members:  n.Members(now),
		fd:       n.FailureDetector(now),
		seeds:    n.Seeds(),
		counters: n.Counters(),
	})
}

// checkCertNames returns an error if sec is mutual TLS and its
// certificate does not name id: every peer would refuse every envelope of
// this node. The runtime logs it at start (the agent refuses to start).
func checkCertNames(sec messaging.Security, id string) error {
	if sec.Mode() != messaging.ModeTLS {
		return nil
	}
	names, err := sec.CertNames()
	if err != nil {
		return err
	}
	if !slices.Contains(names, id) {
		return fmt.Errorf("TLS certificate %s names %q, not this node's ID %q (as a DNS SAN, or a URI SAN %s:%s): peers would refuse every message",
			sec.CertFile, names, id, messaging.URIScheme, id)
	}
	return nil
}
