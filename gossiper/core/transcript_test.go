package core_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/gossiper/core"
	"github.com/hearsay-io/hearsay/messaging"
)

// TestTranscripts replays the protocol transcripts in
// testdata/transcripts: commands create cores, step them with ticks and
// messages routed by hand, and print what they sent, reported and hold.
// Regenerate the expected output after a deliberate change with
//
//	go test ./gossiper/core/ -run TestTranscripts -rewrite
//
// and read the diff: it is the protocol's behaviour that changed.
// See docs/design.md, "Transcripts", for the commands.
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/transcripts", func(t *testing.T, path string) {
		w := newWorld(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return w.run(t, d)
		})
	})
}

// tEpoch is the transcripts' time zero; generations print as seconds
// after it ("g0", "g30").
var tEpoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// inFlight is a message sent and not yet delivered or dropped.
type inFlight struct {
	from, to string // node names
	env      *messaging.Envelope
}

// world is the transcripts' simulated cluster: named nodes on a network
// that delivers only what a command tells it to, in sending order.
type world struct {
	now     time.Time
	codec   *messaging.Codec
	nodes   map[string]*core.Node
	cfgs    map[string]core.NodeConfig
	crashed map[string]bool
	queue   []inFlight
	seed    uint64
}

func newWorld(t *testing.T) *world {
	c, err := messaging.NewCodec(messaging.DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	return &world{now: tEpoch, codec: c, nodes: map[string]*core.Node{}, cfgs: map[string]core.NodeConfig{}, crashed: map[string]bool{}}
}

// addr is node name's address: n3 -> 10.0.0.3:7000.
func addr(name string) string { return "10.0.0." + strings.TrimPrefix(name, "n") + ":7000" }

// nameOf maps an address back to its node name.
func nameOf(a string) string {
	return "n" + strings.TrimSuffix(strings.TrimPrefix(a, "10.0.0."), ":7000")
}

func gen(g int64) string { return "g" + strconv.FormatInt(g-tEpoch.Unix(), 10) }

func (w *world) run(t *testing.T, d *datadriven.TestData) string {
	var b strings.Builder
	switch d.Cmd {
	case "node", "restart":
		// node n1 [seeds=(n1,n2)] [gen=SECONDS] [push-fanout=N] [shadow=DUR]
		// [quarantine=DUR] [left-expiry=DUR] [remove-down-after=DUR]
		name := d.CmdArgs[0].Key
		cfg := w.cfgs[name]
		if d.Cmd == "node" {
			cfg = core.DefaultNodeConfig()
			cfg.ID = name
			cfg.PushFanout = 0 // digest rounds only, unless a transcript asks
			var seeds []string
			if d.HasArg("seeds") {
				d.ScanArgs(t, "seeds", &seeds)
			}
			for _, s := range seeds {
				cfg.Seeds = append(cfg.Seeds, addr(s))
			}
			if d.HasArg("push-fanout") {
				d.ScanArgs(t, "push-fanout", &cfg.PushFanout)
			}
			for arg, field := range map[string]*time.Duration{"shadow": &cfg.ShadowTimeout, "quarantine": &cfg.QuarantineDuration, "left-expiry": &cfg.LeftExpiry, "remove-down-after": &cfg.RemoveDownAfter} {
				if d.HasArg(arg) {
					var s string
					d.ScanArgs(t, arg, &s)
					v, err := time.ParseDuration(s)
					require.NoError(t, err)
					*field = v
				}
			}
		} else {
			require.Contains(t, w.cfgs, name, "restart of an unknown node")
		}
		g := w.now.Unix()
		if d.HasArg("gen") {
			var off int64
			d.ScanArgs(t, "gen", &off)
			g = tEpoch.Unix() + off
		}
		w.seed++
		n, err := core.NewNode(cfg, addr(name), g, rand.New(rand.NewPCG(w.seed, 7)))
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		w.nodes[name], w.cfgs[name] = n, cfg
		delete(w.crashed, name)
		w.emit(&b, name, n.Start(w.now))
	case "tick":
		// tick n1 n2 ...: one round at each named node (all if none).
		for _, name := range w.names(d) {
			if !w.crashed[name] {
				w.emit(&b, name, w.nodes[name].Tick(w.now))
			}
		}
	case "advance":
		// advance DUR: move the virtual clock.
		v, err := time.ParseDuration(d.CmdArgs[0].Key)
		require.NoError(t, err)
		w.now = w.now.Add(v)
		fmt.Fprintf(&b, "t=%v\n", w.now.Sub(tEpoch))
	case "run":
		// run rounds=N: N rounds of: advance 1s, tick every live node,
		// deliver everything (flushing pushes as the runtime does); prints
		// only events, warnings and notices.
		var rounds int
		d.ScanArgs(t, "rounds", &rounds)
		require.Positive(t, rounds)
		for range rounds {
			w.now = w.now.Add(time.Second)
			for _, name := range w.names(nil) {
				if !w.crashed[name] {
					out := w.nodes[name].Tick(w.now)
					w.send(name, out)
					w.quiet(&b, w.stamp(name), out)
				}
			}
			// Deliver everything, then Flush every node as the runtime
			// does once its inbox is drained, until nothing is in flight.
			for steps := 0; len(w.queue) > 0; steps++ {
				require.Less(t, steps, 10000, "delivery does not settle")
				m := w.queue[0]
				w.queue = w.queue[1:]
				if !w.crashed[m.to] {
					out := w.nodes[m.to].Step(w.now, m.env)
					w.send(m.to, out)
					w.quiet(&b, w.stamp(m.to), out)
				}
				if len(w.queue) == 0 {
					for _, name := range w.names(nil) {
						if !w.crashed[name] {
							out := w.nodes[name].Flush(w.now)
							w.send(name, out)
							w.quiet(&b, w.stamp(name), out)
						}
					}
				}
			}
		}
		fmt.Fprintf(&b, "t=%v\n", w.now.Sub(tEpoch))
	case "deliver", "drop":
		// deliver [from=n1] [to=n2] [type=Syn] [count=N]: deliver (or drop)
		// matching in-flight messages in sending order; what the
		// receivers send in turn waits for the next deliver.
		match := w.matcher(t, d)
		count := -1
		if d.HasArg("count") {
			d.ScanArgs(t, "count", &count)
		}
		var keep, take []inFlight
		for _, m := range w.queue {
			if count != 0 && match(m) {
				take = append(take, m)
				count--
			} else {
				keep = append(keep, m)
			}
		}
		w.queue = keep
		for _, m := range take {
			if d.Cmd == "drop" {
				fmt.Fprintf(&b, "dropped %s\n", summary(m))
				continue
			}
			fmt.Fprintf(&b, "%s\n", summary(m))
			if w.crashed[m.to] {
				b.WriteString("  (receiver crashed: lost)\n")
				continue
			}
			var sb strings.Builder
			w.emit(&sb, m.to, w.nodes[m.to].Step(w.now, m.env))
			for line := range strings.Lines(sb.String()) {
				b.WriteString("  " + line)
			}
		}
		if len(take) == 0 {
			b.WriteString("nothing to " + d.Cmd + "\n")
		}
	case "queue":
		for _, m := range w.queue {
			fmt.Fprintf(&b, "%s\n", summary(m))
		}
		if len(w.queue) == 0 {
			b.WriteString("empty\n")
		}
	case "set":
		// set n1 key value
		name := d.CmdArgs[0].Key
		out, err := w.nodes[name].SetState(w.now, d.CmdArgs[1].Key, d.CmdArgs[2].Key)
		w.result(&b, name, out, err)
	case "flush":
		name := d.CmdArgs[0].Key
		w.emit(&b, name, w.nodes[name].Flush(w.now))
	case "remove", "assassinate":
		// remove n1 n3: n1 removes n3.
		name, victim := d.CmdArgs[0].Key, d.CmdArgs[1].Key
		var out core.Output
		var err error
		if d.Cmd == "remove" {
			out, err = w.nodes[name].Remove(w.now, victim)
		} else {
			out, err = w.nodes[name].Assassinate(w.now, victim)
		}
		w.result(&b, name, out, err)
	case "shutdown", "leave":
		name := d.CmdArgs[0].Key
		if d.Cmd == "shutdown" {
			w.emit(&b, name, w.nodes[name].Shutdown(w.now))
		} else {
			w.emit(&b, name, w.nodes[name].Leave(w.now))
		}
	case "crash":
		// crash n2: n2 stops stepping; what it had sent stays in flight,
		// what is sent to it is lost.
		w.crashed[d.CmdArgs[0].Key] = true
		b.WriteString("ok\n")
	case "recover":
		// recover n2: a crashed (paused) n2 steps again, same generation.
		delete(w.crashed, d.CmdArgs[0].Key)
		b.WriteString("ok\n")
	case "members":
		// members n1 [keys=(k1,k2)]: n1's view, sorted by ID.
		w.members(t, &b, d)
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	return b.String()
}

// stamp prefixes name with the virtual time, for the lines of a run.
func (w *world) stamp(name string) string {
	return fmt.Sprintf("t=%v %s", w.now.Sub(tEpoch), name)
}

// names returns the nodes named as bare arguments, or every node sorted.
func (w *world) names(d *datadriven.TestData) []string {
	var names []string
	if d != nil {
		for _, a := range d.CmdArgs {
			if len(a.Vals) == 0 {
				names = append(names, a.Key)
			}
		}
	}
	if len(names) == 0 {
		for n := range w.nodes {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	return names
}

func (w *world) matcher(t *testing.T, d *datadriven.TestData) func(inFlight) bool {
	var from, to, typ string
	if d.HasArg("from") {
		d.ScanArgs(t, "from", &from)
	}
	if d.HasArg("to") {
		d.ScanArgs(t, "to", &to)
	}
	if d.HasArg("type") {
		d.ScanArgs(t, "type", &typ)
	}
	return func(m inFlight) bool {
		return (from == "" || m.from == from) && (to == "" || m.to == to) && (typ == "" || typeName(m.env.Message) == typ)
	}
}

func (w *world) result(b *strings.Builder, name string, out core.Output, err error) {
	if err != nil {
		fmt.Fprintf(b, "error: %v\n", err)
	}
	w.emit(b, name, out)
}

// send queues out's messages, encoded and decoded by the real codec so
// the receiver shares nothing with the sender.
func (w *world) send(name string, out core.Output) {
	n, cfg := w.nodes[name], w.cfgs[name]
	for _, m := range out.Messages {
		raw, err := w.codec.Encode(&messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: cfg.ClusterName,
			From: n.ID(), Addr: n.Addr(), Message: m.Message})
		if err != nil {
			panic(fmt.Sprintf("%s: encode %T: %v", name, m.Message, err))
		}
		env, err := w.codec.Decode(raw)
		if err != nil {
			panic(fmt.Sprintf("%s: decode %T: %v", name, m.Message, err))
		}
		w.queue = append(w.queue, inFlight{from: name, to: nameOf(m.To), env: env})
	}
}

// emit queues out's messages and prints all of out.
func (w *world) emit(b *strings.Builder, name string, out core.Output) {
	w.send(name, out)
	for _, m := range out.Messages {
		reply := ""
		if m.Reply {
			reply = " (reply)"
		}
		fmt.Fprintf(b, "%s -> %s %s%s\n", name, nameOf(m.To), describe(m.Message), reply)
	}
	w.quiet(b, name, out)
}

// quiet prints everything in out but its messages.
func (w *world) quiet(b *strings.Builder, name string, out core.Output) {
	for _, e := range out.Events {
		fmt.Fprintf(b, "%s event %s\n", name, describeEvent(e))
	}
	for _, e := range out.Warnings {
		fmt.Fprintf(b, "%s warning: %v\n", name, e)
	}
	for _, e := range out.Notices {
		fmt.Fprintf(b, "%s notice: %v\n", name, e)
	}
	if out.Fatal != nil {
		fmt.Fprintf(b, "%s fatal: %v\n", name, out.Fatal)
	}
	if out.NewGeneration != 0 {
		fmt.Fprintf(b, "%s new generation %s\n", name, gen(out.NewGeneration))
	}
}

func (w *world) members(t *testing.T, b *strings.Builder, d *datadriven.TestData) {
	name := d.CmdArgs[0].Key
	n := w.nodes[name]
	require.NotNil(t, n, "unknown node %s", name)
	var keys []string
	if d.HasArg("keys") {
		d.ScanArgs(t, "keys", &keys)
	}
	phase := "starting" // not started, or in its shadow round
	switch {
	case w.crashed[name]:
		phase = "crashed"
	case n.Stopped():
		phase = "stopped"
	case n.Running():
		phase = "running"
	}
	fmt.Fprintf(b, "%s (%s, %s):\n", name, phase, gen(n.Generation()))
	ms := n.Members(w.now)
	slices.SortFunc(ms, func(a, b core.Member) int { return strings.Compare(a.ID, b.ID) })
	for _, m := range ms {
		self := ""
		if m.Self {
			self = " self"
		}
		fmt.Fprintf(b, "  %s %s %s hb=%d status=%s", m.ID, m.Status, gen(m.Generation), m.HeartBeat, m.States.Get("hearsay.status").Value)
		for _, k := range keys {
			if v, ok := m.States.Lookup(k); ok {
				fmt.Fprintf(b, " %s=%s", k, v.Value)
			}
		}
		b.WriteString(self + "\n")
	}
}

func typeName(m messaging.Message) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*messaging.")
}

func summary(m inFlight) string {
	return fmt.Sprintf("%s -> %s %s", m.from, m.to, describe(m.env.Message))
}

// describe is a compact form of a message: digests as
// endpoint@generation:maxversion, deltas as endpoint@generation with
// their heartbeat and keys.
func describe(m messaging.Message) string {
	s := typeName(m)
	switch m := m.(type) {
	case *messaging.Syn:
		s += " digests=" + digests(m.Digests)
	case *messaging.Ack:
		s += " requests=" + digests(m.Requests) + " deltas=" + deltas(m.Deltas)
	case *messaging.Ack2:
		s += " deltas=" + deltas(m.Deltas)
	case *messaging.Push:
		s += " deltas=" + deltas(m.Deltas)
	case *messaging.ShadowAck:
		s += " deltas=" + deltas(m.Deltas)
	case *messaging.Shutdown:
		s += " state=" + deltas([]endpointstate.Delta{m.State})
	case *messaging.Echo:
		s += fmt.Sprintf(" nonce=%d", m.Nonce)
	case *messaging.EchoReply:
		s += fmt.Sprintf(" nonce=%d gen=%s", m.Nonce, gen(m.Generation))
	}
	return s
}

func digests(ds []endpointstate.Digest) string {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b endpointstate.Digest) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s@%s:%d", d.Endpoint, gen(d.Generation), d.MaxVersion)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func deltas(ds []endpointstate.Delta) string {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b endpointstate.Delta) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	parts := make([]string, len(ds))
	for i, d := range ds {
		p := fmt.Sprintf("%s@%s", d.Endpoint, gen(d.Generation))
		if d.Reset {
			p += " reset"
		} else {
			p += fmt.Sprintf(" from=%d", d.FromVersion)
		}
		if d.HeartBeat != 0 {
			p += fmt.Sprintf(" hb=%d", d.HeartBeat)
		}
		var kv []string
		for _, s := range d.States {
			v := s.Value
			if s.Deleted {
				v = "<deleted>"
			}
			kv = append(kv, fmt.Sprintf("%s=%s", strings.TrimPrefix(s.Key, "hearsay."), v))
		}
		if len(kv) > 0 {
			p += " {" + strings.Join(kv, " ") + "}"
		}
		parts[i] = "(" + p + ")"
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeEvent(e core.Event) string {
	s := fmt.Sprintf("%s %s %s", e.Kind, e.Endpoint, gen(e.Generation))
	if e.OldGeneration != 0 {
		s += " old=" + gen(e.OldGeneration)
	}
	if e.Key != "" {
		s += fmt.Sprintf(" %s: %q -> %q", e.Key, e.Old, e.New)
		if e.Deleted {
			s += " (deleted)"
		}
	}
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Phi != 0 {
		s += fmt.Sprintf(" phi=%.1f", e.Phi)
	}
	return s
}
