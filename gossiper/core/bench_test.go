package core

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/messaging"
)

// benchSizes are the cluster sizes of the round benchmarks.
var benchSizes = []int{100, 1000, 10000}

// benchGen is the generation of every benchmark endpoint.
const benchGen = 1764244800

// benchID names the i-th remote endpoint of a benchmark node.
func benchID(i int) string { return fmt.Sprintf("node-%05d", i) }

// benchValues are the application states every benchmark endpoint holds
// besides hearsay's own (address and status): a realistic small set.
var benchValues = map[string]string{"dc": "eu-west-1", "rack": "r3", "load": "0.42"}

// steadyNode returns a running node that knows n-1 remote endpoints (n in
// all), every one up, with a few application states each and a failure
// detector window filled with windowFill heartbeats; and the time of its
// last heartbeat. The node's clock then advances by tick per call.
func steadyNode(b testing.TB, n, windowFill int) (*Node, time.Time) {
	b.Helper()
	return steadyNodeWith(b, DefaultNodeConfig(), n, windowFill)
}

// steadyNodeWith is steadyNode with cfg (its ID, limits and shadow round
// set here).
func steadyNodeWith(b testing.TB, cfg NodeConfig, n, windowFill int) (*Node, time.Time) {
	b.Helper()
	cfg.ID = "self"
	cfg.MaxEndpoints = n + 1
	cfg.ShadowTimeout = 0
	now := time.Unix(benchGen, 0).Add(time.Hour)
	node, err := NewNode(cfg, "10.9.9.9:7000", benchGen, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	node.Start(now)
	deltas := make([]endpointstate.Delta, 0, n-1)
	for i := range n - 1 {
		kvs := []endpointstate.KeyValue{
			{Key: endpointstate.KeyAddress, VersionedValue: endpointstate.VersionedValue{Value: fmt.Sprintf("10.%d.%d.%d:7000", i>>16, (i>>8)&255, i&255), Version: 1}},
			{Key: endpointstate.KeyStatus, VersionedValue: endpointstate.VersionedValue{Value: endpointstate.StatusNormal, Version: 2}},
		}
		v := int64(3)
		for _, k := range sortedKeys(benchValues) {
			kvs = append(kvs, endpointstate.KeyValue{Key: k, VersionedValue: endpointstate.VersionedValue{Value: benchValues[k], Version: v}})
			v++
		}
		deltas = append(deltas, endpointstate.Delta{Endpoint: benchID(i), Generation: benchGen, HeartBeat: v, Reset: true, States: kvs})
	}
	var out Output
	if err := node.applyDeltas(now, deltas, &out); err != nil {
		b.Fatal(err)
	}
	// Every peer is echoed on joining, at the echo budget's pace; each
	// answers, as a peer that is up does, and is marked up (its echo no
	// longer outstanding).
	for range n/DefaultEchoBurst + 2 {
		for ep, e := range node.echoes.m {
			if e.first != 0 {
				node.handleEchoReply(now, ep, &messaging.EchoReply{Nonce: e.nonce, Generation: benchGen}, &out)
			}
		}
		now = now.Add(time.Second * DefaultEchoBurst / DefaultEchoRate)
		node.Flush(now)
	}
	if len(node.echoes.m) != 0 {
		b.Fatalf("%d echoes outstanding after the replies", len(node.echoes.m))
	}
	for ep, p := range node.peers.all() {
		p.setAlive(true)
		node.detector.ReportTracker(&p.fd, ep, now)
	}
	node.retarget()
	// Heartbeats every second, jittered, until the windows hold windowFill
	// intervals (or are full).
	r := rand.New(rand.NewPCG(3, 4))
	for range windowFill {
		now = now.Add(time.Second)
		for ep, p := range node.peers.all() {
			node.detector.ReportTracker(&p.fd, ep, now.Add(time.Duration(r.Int64N(int64(100*time.Millisecond)))))
		}
	}
	now = now.Add(100 * time.Millisecond)
	if node.states.Len() != n {
		b.Fatalf("node knows %d endpoints, want %d", node.states.Len(), n)
	}
	return node, now
}

// benchTick is how far the clock moves per benchmarked tick: short enough
// that no peer is convicted however many ticks run (phi stays low), so
// every tick is a steady-state round.
const benchTick = 50 * time.Microsecond

// BenchmarkTick is one gossip round of a node that knows N endpoints, all
// up: heartbeat, digests for the SYN, peer choice, the conviction scan.
func BenchmarkTick(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			node, now := steadyNode(b, n, 8)
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				now = now.Add(benchTick)
				out := node.Tick(now)
				if len(out.Events) > 0 {
					b.Fatalf("unexpected events in steady state: %v", out.Events)
				}
			}
			cpu.report()
		})
	}
}

// synFrom returns a peer's SYN about node's endpoints: every digest equal
// to node's except one in a hundred, where the peer is ahead (node asks
// for it in the Ack), and one in a hundred, where it is behind (node sends
// a heartbeat delta).
func synFrom(node *Node, peer string) *messaging.Envelope {
	ds := node.Digests()
	for i := range ds {
		switch i % 100 {
		case 7:
			ds[i].MaxVersion++
		case 42:
			if ds[i].Endpoint != node.ID() {
				ds[i].MaxVersion--
			}
		}
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: node.cfg.ClusterName,
		From: peer, Addr: node.addrOf(peer), Message: &messaging.Syn{Digests: ds}}
}

// BenchmarkHandleSyn is the handling of a steady-state SYN of N digests
// (most equal, a few newer, a few older) and the building of its Ack.
func BenchmarkHandleSyn(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			node, now := steadyNode(b, n, 8)
			env := synFrom(node, benchID(0))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				out := node.Step(now, env)
				if len(out.Messages) != 1 {
					b.Fatalf("want one Ack, got %d messages", len(out.Messages))
				}
			}
			cpu.report()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/digest")
		})
	}
}

// BenchmarkTickAndSyn is the target: one round plus the handling
// of a peer's steady-state SYN, at N endpoints.
func BenchmarkTickAndSyn(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			node, now := steadyNode(b, n, 8)
			env := synFrom(node, benchID(0))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				now = now.Add(benchTick)
				node.Tick(now)
				node.Step(now, env)
			}
			cpu.report()
		})
	}
}

// BenchmarkHandleAck is the handling of a steady-state Ack: a heartbeat
// delta for every endpoint (each moved on by one round) and a few
// requests, answered with an Ack2.
func BenchmarkHandleAck(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			node, now := steadyNode(b, n, 8)
			var deltas []endpointstate.Delta
			var requests []endpointstate.Digest
			for i, d := range node.Digests() {
				if d.Endpoint == node.ID() {
					continue
				}
				deltas = append(deltas, endpointstate.Delta{Endpoint: d.Endpoint, Generation: d.Generation,
					FromVersion: d.MaxVersion, HeartBeat: d.MaxVersion})
				if i%100 == 42 {
					requests = append(requests, endpointstate.Digest{Endpoint: d.Endpoint, Generation: d.Generation, MaxVersion: d.MaxVersion - 1})
				}
			}
			ack := &messaging.Ack{Requests: requests, Deltas: deltas}
			env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: node.cfg.ClusterName,
				From: benchID(0), Addr: node.addrOf(benchID(0)), Message: ack}
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				now = now.Add(benchTick)
				for i := range deltas {
					deltas[i].HeartBeat++
				}
				out := node.Step(now, env)
				if len(out.Messages) != 1 {
					b.Fatalf("want one Ack2, got %d messages", len(out.Messages))
				}
			}
			cpu.report()
		})
	}
}

// BenchmarkMemoryPerEndpoint measures what a node keeps per known
// endpoint, in steady state: states, heartbeats, failure-detector windows
// full, liveness bookkeeping, and whatever reading the membership leaves
// behind in the core (not the snapshot the runtime publishes, see
// docs/performance.md). It reports the heap growth per endpoint
// (B/endpoint) and the same less the bytes of the application states'
// keys and values themselves (B/endpoint-overhead), the figure the
// performance target bounds. N=…/sliding-8 is the same with an exact
// window of 8 intervals, the smallest a simulator may configure.
func BenchmarkMemoryPerEndpoint(b *testing.B) {
	sliding8 := DefaultNodeConfig()
	sliding8.FailureDetector.Estimator, sliding8.FailureDetector.WindowSize = failuredetector.Sliding, 8
	for _, n := range []int{1000, 10000} {
		for _, c := range []struct {
			name string
			cfg  NodeConfig
		}{{"", DefaultNodeConfig()}, {"/sliding-8", sliding8}} {
			b.Run(fmt.Sprintf("N=%d%s", n, c.name), func(b *testing.B) {
				memoryPerEndpoint(b, c.cfg, n)
			})
		}
	}
}

// memoryPerEndpoint is one case of BenchmarkMemoryPerEndpoint.
func memoryPerEndpoint(b *testing.B, cfg NodeConfig, n int) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		node, now := steadyNodeWith(b, cfg, n, cfg.FailureDetector.WindowSize+2)
		// The push of the endpoints just learned goes out, as the
		// runtime sends it after every step, and its transient set
		// with it; and the runtime reads the membership after every
		// step, so whatever the core keeps for that counts too.
		node.Flush(now)
		node.Members(now)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEndpoint := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		values := 0
		for _, ep := range node.states.Endpoints() {
			for k, v := range node.states.Get(ep).States.All() {
				values += len(k) + len(v.Value)
			}
		}
		b.ReportMetric(perEndpoint, "B/endpoint")
		b.ReportMetric(perEndpoint-float64(values)/float64(n), "B/endpoint-overhead")
		runtime.KeepAlive(node)
	}
}
