// Package sim is hearsay's deterministic simulator: N protocol cores
// ([github.com/hearsay-io/hearsay/gossiper/core.Node], the same core the
// runtime runs) in virtual time, over a simulated network with faults,
// replayable from a seed. A run has one event order, as a single-threaded
// simulator would; the cores of different nodes are stepped on several
// goroutines within a window of virtual time shorter than any message's
// latency (Options.Workers; see "Workers"), and the run is the same,
// event for event, for any number of them.
//
//	s := sim.DefaultScenario()
//	s.Nodes, s.Network.Loss = 1000, 0.1
//	s.Events = []sim.Event{{Round: 20, Kind: sim.KindCrash, Nodes: []int{7}}}
//	report, err := sim.Run(ctx, s, sim.Options{})
//
// # The engine
//
// [Run] builds one core.Node per simulated node, with the gossiper's
// default configuration but for the scenario's interval, fanouts and
// failure detector (scaled to the interval, as
// failuredetector.DefaultConfigFor does), a shadow-round timeout of ten
// intervals and room for every node (MaxEndpoints), and starts them all at virtual time 0 from the
// converged cluster view ([github.com/hearsay-io/hearsay/gossiper/core.Node.StartFromView]:
// every node knows every other up, with five heartbeats an interval apart
// in its failure detector), so a run measures a running cluster, not its
// joins. Node i is "n<i>" (zero-padded), at address "n<i>:7000"; nodes 0
// to 2 are every node's seeds (a restarted node runs its shadow round
// with them).
//
// Time is a virtual clock and an event queue (container/heap) ordered by
// time, then kind (round boundaries first, then the scenario's events,
// then the nodes' work), then scheduling order: ties never depend on the
// heap's layout. Each node ticks once an interval, at an offset drawn in
// (0, interval), and its clock is the virtual one plus its own offset
// (a clock_jump moves it). After every tick and every delivered message
// the engine calls [github.com/hearsay-io/hearsay/gossiper/core.Node.Flush], as
// the runtime does once its queues are drained, so push-on-change and its
// fanout and rate limit work as in production; when the rate limit holds
// changes back, a flush is scheduled for when it allows them.
//
// Every message the cores emit is encoded with the messaging codec's lean
// encoding (the format of a TCP connection, see docs/protocol.md) and
// the receiver decodes that frame, so byte counts are real wire bytes.
// Each message is encoded as the first frame of a fresh connection (IDs
// spelled out, not interned): the runtime's cost when a node meets more
// peers than it keeps connections to (TCPConfig.MaxConns, 64 by default,
// so at every size the simulator is meant for), and an upper bound below
// that (docs/performance.md: 7.3 B a digest fresh, 2.0 B warm).
// Scenario.KeepConnections keeps a connection per pair of nodes instead,
// its tables warm until either end crashes or restarts (frames are then
// decoded as they are written, in order, since a connection delivers them
// in order), which costs O(N) memory per pair that met: for small
// clusters.
// A message sent to several peers is encoded once. By default the
// receiver decodes the frame, so it gets exactly what the wire carries
// and shares nothing with the sender; Options.SkipDecode hands it the
// sender's envelope instead, which gives the same run, event for event
// (TestDeterminism checks it), 10 to 45 % faster (BenchmarkDecode: 2.7
// times fewer allocations; the share grows with the machine's load).
//
// A run of N nodes holds N² endpoint views. All the cores share one
// [github.com/hearsay-io/hearsay/endpointstate.IDTable]
// (core.NodeConfig.IDs), pinned before they start and then only read
// (see "Workers"): each ID is held once, each core keeps its
// records in place in page-sized chunks by the ID's number, its gossip
// targets as numbers, and walks the table's ascending order instead of
// a sorted list of its own (BenchmarkViewMemory: about 160 B a view live
// at 10,000 nodes; docs/performance.md, "Simulator (issue 13)"). Each
// worker has one [github.com/hearsay-io/hearsay/endpointstate.Scratch],
// lent to the core it steps (core.NodeConfig.Scratch,
// core.Node.SetScratch): a Syn's digests and an Ack's or Ack2's
// lists go back to the Scratch of the worker that last stepped the
// sender (core.Release) once every receiver has handled the
// message (or it was lost, or, when frames are decoded, once it is
// encoded), and the working lists of Examine, BuildDeltas, WantsFor and
// Apply are reused, so a round allocates O(N) rather than O(N²) bytes
// and the collector keeps the peak near the live heap.
//
// The network delays each message by a latency drawn from a normal
// distribution (Network.Latency, Jitter; a draw more than 4 standard
// deviations below the mean, about 3 in 100,000, is raised to that
// floor, and the floor is at least 0), plus up to one
// interval with probability Network.Reorder (so later messages overtake
// it); it loses it with probability Network.Loss, delivers it twice with
// probability Network.Duplicate, and drops it if a partition or a one-way
// block separates the two nodes. A crashed node's messages in flight
// still arrive; messages to it, or to the incarnation before a restart,
// are lost (their connection is gone). A paused node keeps what arrives
// (up to 4,096 messages, as socket buffers would) and handles it when it
// resumes, then runs a round at once.
//
// Everything random (tick offsets, latencies, losses, the nodes that make
// updates or crash for a Fraction) is drawn from generators seeded by
// Scenario.Seed; each core gets its own, seeded by the seed, its index and
// its incarnation. Nothing iterates a map where order could reach the
// results. The same scenario gives the same event log, byte for byte, and
// the same [Report] but for WallSeconds and PeakMemoryBytes, which file
// wall.go reads from the real world (the rest of the package but the
// workers' goroutines, in workers.go, is held to the core's purity rules
// by docs/lint_test.go).
//
// # Workers
//
// The engine is a conservative parallel discrete-event simulation with a
// lookahead. The lookahead L is the smallest latency a message can have
// (Latency − 4·Jitter, at most an interval): a message sent at time s
// arrives at s+L or later. The items of [t, t+L) up to the next barrier
// (a round boundary, a scenario event or the end of a pause, carried out
// alone) therefore cannot cause one another across nodes; only the
// flushes a node schedules for itself fall inside the window. The
// window's items are grouped by node, and W workers (W =
// Options.Workers; 0 is runtime.GOMAXPROCS) take the groups as they come
// free, the costliest first (estimated from the items' kinds and list
// lengths); a worker steps a node's core (Tick, StepFrom with decoding,
// Flush, PushPending, and the flushes it schedules inside the window) in
// its items' order, recording every result. Each worker has its own
// Scratch, which it lends to the cores it steps, and Encoder; all the
// cores share one IDTable, pinned before they start (only read). A
// worker touches only the nodes it took. Then Run's goroutine carries out the
// window's items once more, one at a time in the (time, kind, scheduling)
// order of the queue, taking each core call's result from the records:
// the encoding and sizing, the network's random draws, the scheduling,
// the measurements, the event log and the release of message lists
// happen in the same order whatever W is. A tick of a slow node (whose
// skip is a draw of the network's generator) and whatever follows a
// fatal output are left to that serial pass, which then calls the core
// itself. The same scenario gives the same report and event log for any
// W, and the same as the engine stepping one item at a time
// (TestWorkersChangeNothing). With a latency that can be 0 (Jitter at
// least a quarter of Latency) the windows would be single instants: the
// engine then steps one item at a time, on one goroutine. The default
// network (1 ms ± 0.2 ms) gives windows of 0.2 ms: at 1,000 nodes a
// window holds about two items, at 10,000 about twenty; see
// docs/performance.md, "Simulator (issue 13)", for what two workers
// gain.
//
// # Measurements
//
// Every UpdateEvery rounds a random live node sets "sim.update"; the
// engine follows each update to every live node (from the core's events,
// reading [github.com/hearsay-io/hearsay/gossiper/core.Node.EndpointVersion],
// with a sweep at each round boundary) and reports the time, in
// intervals, until the last live node held it (Report.RoundsToConverge),
// and the fraction informed after k rounds (Report.Spread). A crash is
// followed until every live node that saw the crashed node up has marked
// it down (Report.DetectionRounds), and the phi of the first crashed node
// at node 0 (or 1) is traced (Report.PhiTrace). Bytes and messages are
// counted per node and round.
//
// The event log (Options.EventLog) has one line per protocol event, as
// "<virtual seconds> <observer> <kind> <endpoint> gen=… …", and one per
// scenario event and resumed pause, as "<virtual seconds> sim <kind> …":
//
//	3.000000000 sim crash nodes=[2]
//	5.000938846 n1 change n3 gen=1767225600 key=sim.update deleted=false
//	23.709082939 n4 dead n2 gen=1767225600 reason=convicted phi=8.2932
//	25.002182748 n1 restart n2 gen=1767225625 old=1767225600
//
// # Invariants
//
// Checked during the run, each breach a line in Report.Violations:
//
//   - monotonic state: no node holds an older (generation, max version)
//     for an endpoint than it held before (checked at each round boundary
//     at the watched observers: every node up to 500 nodes, the first
//     max(32, 250,000/N) beyond, which bounds the check's cost per round);
//   - convergence: when faults stop (a heal, the loss back to 0, the last
//     pause over, a crash or restart on a clean network), everything a
//     live node holds then reaches every live node (the watched ones, as
//     above) within 2·log₃N + 5 rounds (Report.ConvergeBound;
//     Report.RecoveryRounds says how many it took);
//   - no resurrection: 2·log₃N + 5 rounds after a node shut down or was
//     removed, no live node holds it up, or running, at that generation;
//     and a node that removed an endpoint never holds it again at an older
//     (generation, version);
//   - no false conviction on a clean network: a conviction of a node that
//     runs, is not paused and is reachable is a false conviction
//     (Report.FalseConvictions); when the network has had no loss,
//     partition or block for ConvergeBound rounds (a silence that began
//     before a heal may still convict just after it) and neither node is
//     slow, it is a violation. A pause or a clock jump leaves the network
//     clean: the failure detector's local-pause guard must absorb them.
//
// Report.Converged says whether all live nodes hold the same endpoints,
// generations and application states at the end: updates stop for the
// run's last ConvergeBound rounds (at most half the run,
// Report.QuietRounds) so that a healthy run ends converged.
//
// # Known protocol findings
//
// Two limitations of the protocol are known and not hidden: a removed
// node can come back through a node that was partitioned away while the
// removal spread and gossips its old state once the others' quarantine
// (Config.QuarantineDuration) has ended; and assassinating an ID nobody
// knows makes every node emit a join event for it. The first shows in
// Violations as "a removed node resurrected (known finding)" when a
// scenario reaches it; the simulator has no assassinate event. A remove
// the core refuses (the node is still up somewhere) is listed in
// Report.Findings. The simulator found one bug so far, fixed in
// package failuredetector: a node whose clock jumped, or which resumed
// from a pause, convicted every peer whose answer had arrived in the
// milliseconds after its last round.
//
// # Changes to the agreed API
//
// Added, nothing changed: Scenario.KeepConnections; Event.Groups, From, To (partitions between
// groups, one-way blocks), Event.Key and Text (the "set" event's state);
// Report.Updates, UpdatesUnconverged, Messages, Convictions,
// ConvergeBound, RecoveryRounds, QuietRounds and Findings; the Kind constants; the
// "akka" failure detector model; MaxNodes and MaxRounds; Scenario's JSON
// methods; Options.SkipDecode; Options.Workers, MaxWorkers and
// Options.Validate. Scenario.PushFanout keeps the agreed meaning (0 automatic, -1
// off), the reverse of gossiper.Config.PushFanout's.
package sim
