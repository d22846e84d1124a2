package core

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// peerDelta is the full state of a running peer i, as a seed's shadow
// answer carries it.
func peerDelta(i int) endpointstate.Delta {
	return endpointstate.Delta{Endpoint: fmt.Sprintf("p%d", i), Generation: epoch.Unix(), HeartBeat: 3, Reset: true,
		States: []endpointstate.KeyValue{
			kvOf(endpointstate.KeyAddress, addrFor(10+i), 1),
			kvOf(endpointstate.KeyStatus, endpointstate.StatusNormal, 2),
		}}
}

// TestShadowAnswerInParts (issue 10, docs/protocol.md "Datagrams"): a
// seed's shadow answer that comes as several ShadowAcks (the datagrams of
// one answer) ends the shadow round with the first, and the later ones,
// arriving while the node runs, are applied too: each of their peers is
// learnt and echoed. Before, a ShadowAck after the round was dropped.
func TestShadowAnswerInParts(t *testing.T) {
	n, err := NewNode(coreConfig("me", addrFor(1)), addrFor(2), epoch.Unix(), nil)
	require.NoError(t, err)
	n.Start(epoch)
	require.False(t, n.Running(), "in its shadow round")
	part := func(from, to int) *messaging.Envelope {
		var ds []endpointstate.Delta
		for i := from; i < to; i++ {
			ds = append(ds, peerDelta(i))
		}
		return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "seed", Addr: addrFor(1),
			Message: &messaging.ShadowAck{Deltas: ds}}
	}
	first := n.Step(epoch, part(0, 3))
	require.True(t, n.Running(), "the first part ends the shadow round")
	assert.Len(t, joined(first), 3)

	later := n.Step(epoch, part(3, 7))
	assert.Equal(t, []string{"p3", "p4", "p5", "p6"}, joined(later), "the later part's peers are learnt")
	for i := range 7 {
		require.NotNil(t, n.State(fmt.Sprintf("p%d", i)), "p%d", i)
	}
	echoed := map[string]bool{}
	for _, m := range later.Messages {
		if _, ok := m.Message.(*messaging.Echo); ok {
			echoed[m.To] = true
		}
	}
	for i := 3; i < 7; i++ {
		assert.True(t, echoed[addrFor(10+i)], "p%d is echoed", i)
	}
}

// joined returns the endpoints of out's join events, in order.
func joined(out Output) []string {
	var ids []string
	for _, e := range out.Events {
		if e.Kind == EventJoin {
			ids = append(ids, e.Endpoint)
		}
	}
	return ids
}
