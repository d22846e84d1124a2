package core

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// forge delivers msg to the node at addr as if n0 had sent it.
func (h *harness) forge(to string, msg messaging.Message) {
	h.t.Helper()
	h.deliver(h.node("n0"), Output{Messages: []Outgoing{{To: to, Message: msg}}})
}

func kvOf(key, value string, version int64) endpointstate.KeyValue {
	return endpointstate.KeyValue{Key: key, VersionedValue: endpointstate.VersionedValue{Value: value, Version: version}}
}

// TestIncrementalDeltasCannotGrowAnEndpoint (issue 11, item 1): 150 Ack2s,
// each carrying one incremental delta within the limits, cannot grow a
// forged endpoint past MaxKeys or MaxBytes anywhere; the refused deltas are
// counted; and every message the nodes build afterwards still decodes
// (the harness decodes each with the real codec: before the fix, the Acks
// carrying the 2,400-key endpoint were refused whole by every peer), so
// honest state keeps spreading.
func TestIncrementalDeltasCannotGrowAnEndpoint(t *testing.T) {
	for _, size := range []int{8, 4 << 10} {
		t.Run(fmt.Sprintf("values of %d bytes", size), func(t *testing.T) {
			h := newHarness(t)
			h.cluster(3, coreConfig)
			limits := DefaultNodeConfig().Limits
			gen := h.now.Unix()
			h.forge(addrFor(2), &messaging.Ack2{Deltas: []endpointstate.Delta{{Endpoint: "big", Generation: gen, HeartBeat: 1, Reset: true,
				States: []endpointstate.KeyValue{kvOf(endpointstate.KeyAddress, "10.9.9.9:7000", 1)}}}})
			version := int64(1)
			value := strings.Repeat("x", size)
			for i := range 150 {
				d := endpointstate.Delta{Endpoint: "big", Generation: gen, FromVersion: version}
				for j := range 16 {
					version++
					d.States = append(d.States, kvOf(fmt.Sprintf("k%04d-%02d", i, j), value, version))
				}
				version++
				d.HeartBeat = version
				require.NoError(t, limits.CheckDelta(&d), "each delta is within the limits on its own")
				h.forge(addrFor(2), &messaging.Ack2{Deltas: []endpointstate.Delta{d}})
			}
			s := h.node("n1").State("big")
			require.NotNil(t, s)
			keys, bytes := s.LiveKeys()
			assert.LessOrEqual(t, keys, limits.MaxKeys)
			assert.LessOrEqual(t, bytes, limits.MaxBytes)

			out, err := h.node("n1").SetState(h.now, "honest", "yes")
			require.NoError(t, err)
			h.deliver(h.node("n1"), out)
			require.Positive(t, h.until(30, h.converged), "honest state keeps spreading")
			for _, id := range []string{"n0", "n2"} {
				if s := h.node(id).State("big"); s != nil {
					assert.NoError(t, limits.CheckState(s), id)
				}
				v, _ := h.node(id).State("n1").Get("honest")
				assert.Equal(t, "yes", v, "%s", id)
			}
			assert.Positive(t, h.node("n1").Counters().DeltasRefused)
		})
	}
}

// TestOneBadEndpointDoesNotBlockAMessage (issue 11, item 1): an Ack2 with
// one endpoint over the limits and one good one applies the good one,
// through the real codec and straight into the core.
func TestOneBadEndpointDoesNotBlockAMessage(t *testing.T) {
	gen := epoch.Unix()
	bad := endpointstate.Delta{Endpoint: "bad", Generation: gen, HeartBeat: 1, Reset: true}
	for i := range 300 { // over MaxKeys (256)
		bad.States = append(bad.States, kvOf(fmt.Sprintf("k%03d", i), "v", int64(i+2)))
	}
	good := endpointstate.Delta{Endpoint: "good", Generation: gen, HeartBeat: 3, Reset: true, States: []endpointstate.KeyValue{
		kvOf(endpointstate.KeyAddress, "10.9.9.8:7000", 1), kvOf("k", "v", 2)}}
	t.Run("core", func(t *testing.T) {
		h := newHarness(t)
		h.cluster(2, coreConfig)
		n1 := h.node("n1")
		out := n1.Step(h.now, &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "n0", Addr: addrFor(1),
			Message: &messaging.Ack2{Deltas: []endpointstate.Delta{bad, good}}})
		require.NotNil(t, n1.State("good"), "the good endpoint applies")
		assert.Nil(t, n1.State("bad"))
		require.NotEmpty(t, out.Warnings)
		assert.ErrorIs(t, out.Warnings[0], endpointstate.ErrTooManyKeys)
		assert.Equal(t, uint64(1), n1.Counters().DeltasRefused)
	})
	t.Run("codec", func(t *testing.T) {
		h := newHarness(t)
		h.cluster(2, coreConfig)
		h.forge(addrFor(2), &messaging.Ack2{Deltas: []endpointstate.Delta{bad, good}})
		require.NotNil(t, h.node("n1").State("good"))
		assert.Nil(t, h.node("n1").State("bad"))
	})
}

// TestMaxEndpointsBoundsForgedMembers (issue 11, item 2): a peer pushing
// 5,000 forged endpoints into a node capped at 1,000 leaves at most 1,000
// known there, and no more spread; the refusals are counted.
func TestMaxEndpointsBoundsForgedMembers(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, configWith(func(c *NodeConfig) { c.MaxEndpoints = 1000 }))
	gen := h.now.Unix()
	for batch := range 10 {
		var deltas []endpointstate.Delta
		for i := range 500 {
			id := fmt.Sprintf("forged-%04d", batch*500+i)
			deltas = append(deltas, endpointstate.Delta{Endpoint: id, Generation: gen, HeartBeat: 1, Reset: true,
				States: []endpointstate.KeyValue{kvOf(endpointstate.KeyAddress, fmt.Sprintf("10.%d.%d.%d:7000", 1+batch, i/250, i%250), 1)}})
		}
		h.forge(addrFor(2), &messaging.Ack2{Deltas: deltas})
	}
	n1 := h.node("n1")
	assert.Equal(t, 1000, len(n1.Members(h.now)))
	assert.Equal(t, uint64(4003), n1.Counters().EndpointsRefused, "5,000 forged, 997 taken next to the 3 real nodes")
	h.until(20, func() bool { return false })
	for _, id := range []string{"n0", "n1", "n2"} {
		assert.LessOrEqual(t, len(h.node(id).Members(h.now)), 1000, id)
		require.NotNil(t, h.node(id).State("n1"), "real members stay known")
	}
	require.NoError(t, DefaultNodeConfig().validateMaxEndpoints())
}

func (c NodeConfig) validateMaxEndpoints() error {
	c.ID = "x"
	for _, v := range []int{0, -1, 1_000_001} {
		c.MaxEndpoints = v
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "MaxEndpoints") {
			return fmt.Errorf("MaxEndpoints %d accepted: %v", v, err)
		}
	}
	if DefaultNodeConfig().MaxEndpoints != 10_000 {
		return fmt.Errorf("default MaxEndpoints %d", DefaultNodeConfig().MaxEndpoints)
	}
	return nil
}

// TestFarFutureGenerationRefusedByNode (issue 11, item 7): a generation
// beyond the acceptance window fails Node.Start, and 2^63-1 fails NewNode.
// (TestFarFutureGenerationRefusedAtStart, in gossiper, checks the
// generation file and Gossiper.Start.)
func TestFarFutureGenerationRefusedByNode(t *testing.T) {
	n, err := NewNode(coreConfig("far"), addrFor(1), epoch.Unix()+2*endpointstate.MaxGenerationDrift, nil)
	require.NoError(t, err)
	out := n.Start(epoch)
	require.ErrorIs(t, out.Fatal, endpointstate.ErrGenerationTooFar)
	assert.True(t, n.Stopped())
	_, err = NewNode(coreConfig("far"), addrFor(1), math.MaxInt64, nil)
	assert.Error(t, err)
}

// TestRefutationNeverLeavesTheWindow (issue 11, item 7): a "left"
// announcement at the very edge of the window is believable, but the
// generation above it is not: the node keeps its generation (and asks
// for nothing to be persisted), warns, and stays up everywhere.
func TestRefutationNeverLeavesTheWindow(t *testing.T) {
	h := newHarness(t)
	h.add(coreConfig("n0"))
	h.add(coreConfig("n1", addrFor(1)))
	require.Positive(t, h.until(30, h.converged))
	n1 := h.node("n1")
	gen := n1.Generation()
	edge := h.now.Unix() + endpointstate.MaxGenerationDrift
	left := endpointstate.Delta{Endpoint: "n1", Generation: edge, HeartBeat: 4, Reset: true, States: []endpointstate.KeyValue{
		kvOf(endpointstate.KeyStatus, endpointstate.StatusLeft, 2)}}
	out := n1.Step(h.now, &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "n0", Addr: addrFor(1),
		Message: &messaging.Ack2{Deltas: []endpointstate.Delta{left}}})
	assert.Zero(t, out.NewGeneration, "nothing to persist")
	assert.Equal(t, gen, n1.Generation())
	require.NotEmpty(t, out.Warnings)
	assert.ErrorIs(t, out.Warnings[0], endpointstate.ErrGenerationTooFar)
	assert.Equal(t, uint64(1), n1.Counters().GenerationsRefused)
	h.until(30, func() bool { return false })
	assert.Equal(t, gen, n1.Generation())
	assert.Equal(t, StatusUp, h.node("n0").member("n1", h.now).Status)
}

// TestShadowRoundIgnoresUnbelievableOwnGeneration (issue 11, item 7): a
// seed answering the shadow round with this node's ID at 2^63-1 (or at the
// edge of the window) does not move the node's generation (no overflow,
// nothing persisted).
func TestShadowRoundIgnoresUnbelievableOwnGeneration(t *testing.T) {
	for _, far := range []int64{math.MaxInt64, epoch.Unix() + endpointstate.MaxGenerationDrift} {
		n, err := NewNode(coreConfig("me", addrFor(1)), addrFor(2), epoch.Unix(), nil)
		require.NoError(t, err)
		n.Start(epoch)
		require.False(t, n.Running())
		mine := endpointstate.Delta{Endpoint: "me", Generation: far, HeartBeat: 1, Reset: true, States: []endpointstate.KeyValue{
			kvOf(endpointstate.KeyStatus, endpointstate.StatusNormal, 1)}}
		out := n.Step(epoch, &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "seed", Addr: addrFor(1),
			Message: &messaging.ShadowAck{Deltas: []endpointstate.Delta{mine}}})
		assert.Equal(t, epoch.Unix(), n.Generation(), "generation %d", far)
		assert.Zero(t, out.NewGeneration)
		assert.Equal(t, uint64(1), n.Counters().GenerationsRefused)
		assert.True(t, n.Running())
	}
}

// TestShadowAcksTruncatedCounted (issue 11, item 10): a shadow-round answer
// that leaves states out to fit the frame counts in AcksTruncated.
func TestShadowAcksTruncatedCounted(t *testing.T) {
	h := newHarness(t)
	limits := endpointstate.Limits{MaxKeyLength: 16, MaxValueSize: 64, MaxKeys: 8, MaxBytes: 512}
	small := configWith(func(c *NodeConfig) {
		c.Limits = limits
		c.MaxFrameSize = limits.StateSizeBound() + messaging.EnvelopeOverhead(c.ClusterName, c.ID, addrFor(9)) + 64
	})
	h.cluster(4, small)
	for i := range 4 {
		id := fmt.Sprintf("n%d", i)
		for k := range limits.MaxKeys {
			out, err := h.node(id).SetState(h.now, fmt.Sprintf("k%d", k), strings.Repeat("v", 60))
			require.NoError(t, err)
			h.deliver(h.node(id), out)
		}
	}
	require.Positive(t, h.until(60, h.converged))
	seed := h.node("n0")
	before := seed.Counters().AcksTruncated
	out := seed.Step(h.now, &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "new", Addr: addrFor(9),
		Message: &messaging.ShadowSyn{}})
	require.Len(t, out.Messages, 1)
	ack, ok := out.Messages[0].Message.(*messaging.ShadowAck)
	require.True(t, ok)
	assert.Less(t, len(ack.Deltas), 4, "not every state fits")
	assert.Equal(t, before+1, seed.Counters().AcksTruncated)
}

// TestRepeatedLocalStallsStillConvict (issue 11, item 11): an observer
// that runs 2 s and then stalls 6 s (no round, no message in or out), over
// and over, still convicts a crashed peer, within the bound of
// docs/failure-detection.md: each 8 s cycle (a 7 s gap between rounds, 2 s
// beyond MaxLocalPause) counts 6 s of silence, so with S the silence that
// convicts at the peer's learned mean (8 · ln 10 · mean), conviction comes
// within ⌈S/6 s⌉ + 1 cycles of the crash; and it never convicts the live
// peer whose gossip reaches it only while it runs. Before the fix the
// pause guard re-armed every cycle and convicted no one.
func TestRepeatedLocalStallsStillConvict(t *testing.T) {
	h := newHarness(t)
	h.cluster(3, coreConfig)
	h.until(60, func() bool { return false }) // a healthy minute to learn the mean
	observer, crashed := addrFor(1), addrFor(3)
	var mean time.Duration
	for _, st := range h.node("n0").FailureDetector(h.now) {
		if st.Endpoint == "n2" {
			mean = st.Mean
		}
	}
	require.Positive(t, mean)
	toConvict := time.Duration(8 * math.Ln10 * float64(mean))
	cycles := int(math.Ceil(float64(toConvict)/float64(6*time.Second))) + 1
	h.down[crashed] = true
	crashedAt := h.now
	var convictedAt time.Time
	for cycle := 0; cycle < 2*cycles && convictedAt.IsZero(); cycle++ {
		for i := range 8 {
			h.down[observer] = i >= 2 // stalled 6 s of every 8
			h.round()
			if dead := h.eventsOf("n0", EventDead, "n2"); len(dead) > 0 && convictedAt.IsZero() {
				convictedAt = dead[0].Time
			}
		}
	}
	h.down[observer] = false
	require.False(t, convictedAt.IsZero(), "the crashed peer is convicted")
	t.Logf("mean %v, %v of silence to convict: convicted %v after the crash, bound %d cycles", mean, toConvict, convictedAt.Sub(crashedAt), cycles)
	assert.LessOrEqual(t, convictedAt.Sub(crashedAt), time.Duration(cycles)*8*time.Second)
	assert.Empty(t, h.eventsOf("n0", EventDead, "n1"), "the live peer is never convicted")
	c := h.node("n0").Counters()
	assert.Positive(t, c.LocalPauses)
	assert.Positive(t, c.ConvictionsDeferred)
	assert.NotEmpty(t, h.notices["n0"], "pauses and deferred convictions are reported as notices")
	for _, w := range h.warns["n0"] {
		assert.NotContains(t, w.Error(), "local pause", "a local pause is not a problem with input")
	}
}

// TestRefusalWarningsRateLimited (issue 11, item 1): refused deltas are
// all counted, but reported at most once per refusalWarnEvery, the next
// warning saying how many went unreported; a flood of refusals in one
// message is one warning naming three.
func TestRefusalWarningsRateLimited(t *testing.T) {
	n, err := NewNode(coreConfig("me"), addrFor(1), epoch.Unix(), nil)
	require.NoError(t, err)
	n.Start(epoch)
	bad := func(ids ...string) *messaging.Envelope {
		var deltas []endpointstate.Delta
		for _, id := range ids {
			deltas = append(deltas, endpointstate.Delta{Endpoint: id, Generation: 0, Reset: true})
		}
		return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "peer", Addr: addrFor(2),
			Message: &messaging.Ack2{Deltas: deltas}}
	}
	now := epoch
	out := n.Step(now, bad("a"))
	require.Len(t, out.Warnings, 1)
	assert.ErrorIs(t, out.Warnings[0], endpointstate.ErrInvalidVersion)
	for range 5 {
		now = now.Add(time.Second)
		assert.Empty(t, n.Step(now, bad("b", "c")).Warnings, "within 10 s of the last warning")
	}
	now = now.Add(5 * time.Second)
	out = n.Step(now, bad("d", "e", "f", "g", "h"))
	require.Len(t, out.Warnings, 1)
	msg := out.Warnings[0].Error()
	assert.Contains(t, msg, "refused 5 deltas")
	assert.Contains(t, msg, "and 2 more")
	assert.Contains(t, msg, "10 more refused since the last such warning")
	assert.Equal(t, uint64(16), n.Counters().DeltasRefused)
}
