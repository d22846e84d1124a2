package gossiper

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// TestGossiperMembersCopiesNoStates checks that reading the membership
// allocates one slice, whatever the number of application states: the
// States maps are the published snapshot's.
func TestGossiperMembersCopiesNoStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := memCluster(t, messaging.NewMemNetwork(), 3)
		for range 10 {
			time.Sleep(time.Second)
			if allUp(gs) {
				break
			}
		}
		require.True(t, allUp(gs))
		for i, k := range []string{"a", "b", "c", "d", "e"} {
			require.NoError(t, gs[1].SetState(k, string(rune('0'+i))))
		}
		time.Sleep(5 * time.Second)
		first, second := gs[0].Members(), gs[0].Members()
		require.Len(t, first, 3)
		for i := range first {
			assert.True(t, first[i].States.Equal(second[i].States), "%s: same states in both reads", first[i].ID)
		}
		assert.Equal(t, 1.0, testing.AllocsPerRun(20, func() { gs[0].Members() }), "one allocation: the slice")
		for _, g := range gs {
			require.NoError(t, g.Stop(context.Background()))
		}
	})
}
