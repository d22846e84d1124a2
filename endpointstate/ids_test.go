package endpointstate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIDTable: an ID keeps its number while some record holds it, a
// freed number goes to the next new ID, and the ascending order follows
// the IDs held, whatever their numbers.
func TestIDTable(t *testing.T) {
	ids := NewIDTable()
	c := ids.Acquire("c")
	a := ids.Acquire("a")
	assert.Equal(t, c, ids.Acquire("c"), "the same number for the same ID")
	b := ids.Acquire("b")
	require.Equal(t, 3, ids.Len())
	assert.Equal(t, []uint32{a, b, c}, ids.ascending())
	ids.Release(c)
	got, ok := ids.Lookup("c")
	assert.True(t, ok, "c is still held once")
	assert.Equal(t, c, got)
	ids.Release(c)
	_, ok = ids.Lookup("c")
	assert.False(t, ok, "released by every holder")
	assert.Equal(t, "", ids.Name(c))
	assert.Equal(t, []uint32{a, b}, ids.ascending())
	d := ids.Acquire("0")
	assert.Equal(t, c, d, "the freed number is reused")
	assert.Equal(t, "0", ids.Name(d))
	assert.Equal(t, []uint32{d, a, b}, ids.ascending(), "reordered by ID, not by number")
	ids.Release(a)
	z := ids.Acquire("z")
	assert.Equal(t, a, z)
	assert.Equal(t, []uint32{d, b, z}, ids.ascending(), "as many IDs as before, reordered all the same")
}
