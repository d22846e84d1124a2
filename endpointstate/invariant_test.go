package endpointstate

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDelayedDeltaCannotResurrectCollectedKey: a delayed incremental delta
// carrying a key whose delete was already collected must not bring the
// key back (digests would be equal, so nothing would ever repair it).
func TestDelayedDeltaCannotResurrectCollectedKey(t *testing.T) {
	owner := NewMap()
	o := NewEndpointState(100)
	o.HeartBeat.Version = 1
	owner.Put("o", o)
	o.Set("b", "v", 2)
	// (1) a delta for a peer at version 1 is built and delayed
	old, _ := owner.BuildDeltas([]Want{{Endpoint: "o", FromVersion: 1}}, 1<<20)
	// (2) the owner deletes b and collects the tombstone at once (TrimTombstones)
	o.Delete("b", 3, time.Unix(0, 0))
	o.TrimTombstones(0)
	reset, _ := owner.BuildDeltas([]Want{{Endpoint: "o"}}, 1<<20)

	peer := NewMap()
	peer.Put("o", &EndpointState{HeartBeat: HeartBeatState{Generation: 100, Version: 1}, States: States{}})
	opts := ApplyOptions{Now: time.Unix(0, 0), Limits: DefaultLimits()}
	_, err := peer.Apply(reset, opts) // the reset arrives first
	require.NoError(t, err)
	_, err = peer.Apply(old, opts) // then the delayed delta
	require.NoError(t, err)
	_, live := peer.Get("o").Get("b")
	assert.Equal(t, owner.Digests(), peer.Digests(), "digests equal: no exchange will ever repair it")
	assert.False(t, live, "b was deleted at version 3 <= the peer's max version 3, yet it is live")
}

// checkInv: a node holding (gen, M) for an endpoint has, for each key, the
// owner's last update of version <= M or a newer one (absent only if that
// update was a delete).
func checkInv(rt *rapid.T, hist history, nodes []*simNode, where string) {
	for _, x := range nodes {
		for _, ep := range x.m.Endpoints() {
			s := x.m.Get(ep)
			log := hist[ep][s.HeartBeat.Generation]
			M := s.MaxVersion()
			last := map[string]upd{}
			for _, u := range log {
				last[u.key] = u
			}
			for k, u := range last {
				if u.version > M {
					delete(last, k)
				}
			}
			for k, u := range last {
				v, ok := s.States.Get(k)
				if !ok {
					if !u.deleted {
						rt.Fatalf("%s: %s holds %s at (g%d, %d) but lacks %s@%d (live)", where, x.id, ep, s.HeartBeat.Generation, M, k, u.version)
					}
					continue
				}
				if v.Version < u.version {
					rt.Fatalf("%s: %s holds %s at (g%d, %d) with %s@%d, owner wrote %s@%d", where, x.id, ep, s.HeartBeat.Generation, M, k, v.Version, k, u.version)
				}
			}
		}
	}
}

// TestPropertyInvariant: at every step of a random run (updates, deletes,
// tombstone trimming and collection, restarts, messages delivered in any
// order, duplicated or dropped, small budgets), every node holding
// (generation, M) for an endpoint has the owner's last update of each key
// at or below M, or a newer one.
func TestPropertyInvariant(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		randomRun(rt, run{maxNodes: 4, maxSteps: 200, keys: []string{"a", "b", "c", "d", "e", "f"}, budgets: []int{120, 200, 400, 1 << 20},
			after: func(step int, s *sim, hist history) {
				checkInv(rt, hist, s.nodes, fmt.Sprintf("step %d", step))
			}})
	})
}

func dump(m *Map) string {
	out := ""
	for _, ep := range m.Endpoints() {
		s := m.Get(ep)
		out += fmt.Sprintf("[%s g%d hb%d gc%d %v] ", ep, s.HeartBeat.Generation-t0.Unix(), s.HeartBeat.Version, s.GCVersion, s.States)
	}
	return out
}

// verbose prints the run's transcript on failure when set.
var verbose = false

func logf(rt *rapid.T, f string, a ...any) {
	if verbose {
		rt.Logf(f, a...)
	}
}
