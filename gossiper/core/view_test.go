package core

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/messaging"
)

// viewNodes builds n new nodes "v0".."v<n-1>" (not started) and the view
// of each one's own state.
func viewNodes(t *testing.T, n int) ([]*Node, []PeerView) {
	t.Helper()
	var nodes []*Node
	var view []PeerView
	for i := range n {
		cfg := coreConfig("v" + string(rune('0'+i)))
		cfg.InitialStates = map[string]string{"role": "db"}
		node, err := NewNode(cfg, addrFor(1+i), epoch.Unix(), rand.New(rand.NewPCG(uint64(i), 1)))
		require.NoError(t, err)
		nodes = append(nodes, node)
		view = append(view, PeerView{ID: node.ID(), State: node.State(node.ID()), Up: true})
	}
	return nodes, view
}

func without(view []PeerView, i int) []PeerView {
	return append(append([]PeerView(nil), view[:i]...), view[i+1:]...)
}

// TestStartFromView: nodes started from the cluster's view run at once,
// see each other up with their states, gossip only heartbeats, and
// convict nobody.
func TestStartFromView(t *testing.T) {
	nodes, view := viewNodes(t, 3)
	arrivals := []time.Time{epoch.Add(-2 * time.Second), epoch.Add(-time.Second), epoch}
	for i, n := range nodes {
		peers := without(view, i)
		for j := range peers {
			peers[j].Arrivals = arrivals
		}
		require.NoError(t, n.StartFromView(epoch, peers))
		assert.True(t, n.Running())
	}
	v0 := nodes[0]
	for _, m := range v0.Members(epoch) {
		assert.Equal(t, StatusUp, m.Status, m.ID)
		assert.Equal(t, "db", m.States.Get("role").Value, m.ID)
	}
	got, ok := v0.EndpointVersion("v1")
	require.True(t, ok)
	want := view[1].State
	assert.Equal(t, EndpointVersion{ID: "v1", Generation: epoch.Unix(), MaxVersion: want.MaxVersion(),
		StatesVersion: want.StatesVersion(), Status: endpointstate.StatusNormal, Up: true}, got)
	all := v0.EndpointVersions(nil)
	require.Len(t, all, 3)
	assert.Equal(t, []string{"v0", "v1", "v2"}, []string{all[0].ID, all[1].ID, all[2].ID})
	assert.True(t, all[0].Up, "a node sees itself up")
	_, ok = v0.EndpointVersion("nobody")
	assert.False(t, ok)
	assert.Zero(t, v0.Phi("v0", epoch), "no phi for itself")

	// Rounds exchange heartbeats only; nothing is pushed (the view is
	// the cluster's), nobody joins or is convicted.
	now := epoch
	for r := range 20 {
		now = now.Add(time.Second)
		for i, n := range nodes {
			assert.Empty(t, n.Flush(now).Messages, "round %d: node %d pushed", r, i)
			deliver(t, nodes, i, n.Tick(now), now)
		}
	}
	for _, n := range nodes {
		for _, m := range n.Members(now) {
			assert.Equal(t, StatusUp, m.Status, "%s sees %s", n.ID(), m.ID)
			assert.Less(t, m.Phi, 2.0)
		}
		assert.Zero(t, n.Counters().Convictions)
	}
	v1now, _ := v0.EndpointVersion("v1")
	assert.Greater(t, v1now.MaxVersion, got.MaxVersion, "heartbeats flowed")
	assert.Equal(t, got.StatesVersion, v1now.StatesVersion, "no state changed")
}

// deliver hands out's messages from node from to their receivers (by
// address), and the answers back, until nothing is left.
func deliver(t *testing.T, nodes []*Node, from int, out Output, now time.Time) {
	t.Helper()
	for _, e := range out.Events {
		assert.NotEqual(t, EventJoin, e.Kind, "join of %s", e.Endpoint)
		assert.NotEqual(t, EventDead, e.Kind, "dead %s", e.Endpoint)
	}
	for _, m := range out.Messages {
		to := -1
		for i, n := range nodes {
			if n.Addr() == m.To {
				to = i
			}
		}
		require.GreaterOrEqual(t, to, 0, m.To)
		env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: nodes[from].ID(), Addr: nodes[from].Addr(), Message: m.Message}
		deliver(t, nodes, to, nodes[to].Step(now, env), now)
	}
}

// TestStartFromViewDown: a peer listed down is echoed when gossip about
// it comes, and marked up when it answers, as any down peer.
func TestStartFromViewDown(t *testing.T) {
	nodes, view := viewNodes(t, 2)
	peers := without(view, 0)
	peers[0].Up = false
	require.NoError(t, nodes[0].StartFromView(epoch, peers))
	require.NoError(t, nodes[1].StartFromView(epoch, without(view, 1)))
	m, _ := nodes[0].EndpointVersion("v1")
	assert.False(t, m.Up)
	now := epoch.Add(time.Second)
	out := nodes[1].Tick(now) // v1's Syn to v0
	require.NotEmpty(t, out.Messages)
	env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "v1", Addr: nodes[1].Addr(), Message: out.Messages[0].Message}
	reply := nodes[0].Step(now, env)
	var echo *messaging.Echo
	for _, o := range reply.Messages {
		if e, ok := o.Message.(*messaging.Echo); ok {
			echo = e
		}
	}
	require.NotNil(t, echo, "v0 echoes the down peer that talks to it")
	answer := nodes[1].Step(now, &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "v0", Addr: nodes[0].Addr(), Message: echo})
	require.Len(t, answer.Messages, 1)
	up := nodes[0].Step(now, &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "v1", Addr: nodes[1].Addr(), Message: answer.Messages[0].Message})
	require.Len(t, up.Events, 1)
	assert.Equal(t, EventAlive, up.Events[0].Kind)
}

// TestStartFromViewRefuses: a bad view is an error and changes nothing.
func TestStartFromViewRefuses(t *testing.T) {
	_, view := viewNodes(t, 3)
	bad := endpointstate.NewEndpointState(epoch.Unix())
	bad.Set("hearsay.address-that-is-far-too-long", "x", 1)
	tests := []struct {
		name string
		view []PeerView
		want string
	}{
		{"itself", view, "operation not allowed on the local node"},
		{"twice", []PeerView{view[1], view[1]}, "listed twice"},
		{"twice, after an ascending run", []PeerView{{ID: "a", State: view[1].State}, {ID: "b", State: view[1].State}, {ID: "a", State: view[1].State}}, `"a" listed twice`},
		{"twice, after a descent", []PeerView{{ID: "b", State: view[1].State}, {ID: "a", State: view[1].State}, {ID: "c", State: view[1].State}, {ID: "b", State: view[1].State}}, `"b" listed twice`},
		{"nil state", []PeerView{{ID: "x"}}, "nil state"},
		{"no generation", []PeerView{{ID: "x", State: endpointstate.NewEndpointState(0)}}, "generation 0"},
		{"empty id", []PeerView{{ID: "", State: view[1].State}}, "invalid endpoint"},
		{"invalid state", []PeerView{{ID: "x", State: bad}}, "reserved key"},
		{"arrival after the start", []PeerView{{ID: "x", State: view[1].State, Arrivals: []time.Time{epoch.Add(time.Second)}}}, "after the start"},
		{"arrivals out of order", []PeerView{{ID: "x", State: view[1].State, Arrivals: []time.Time{epoch, epoch.Add(-time.Second)}}}, "out of order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes, _ := viewNodes(t, 1)
			n := nodes[0]
			err := n.StartFromView(epoch, tc.view)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.False(t, n.Running())
			assert.Len(t, n.Members(epoch), 1, "nothing was adopted")
			require.NoError(t, n.StartFromView(epoch, nil), "the node can still start")
		})
	}
	nodes, _ := viewNodes(t, 1)
	nodes[0].Start(epoch)
	assert.ErrorContains(t, nodes[0].StartFromView(epoch, nil), "already started")
	cfg := coreConfig("small")
	cfg.MaxEndpoints = 2
	small, err := NewNode(cfg, addrFor(9), epoch.Unix(), rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	assert.ErrorIs(t, small.StartFromView(epoch, view[1:]), endpointstate.ErrTooManyEndpoints)
}
