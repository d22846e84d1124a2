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

// TestIDTablePin: a pinned ID stays numbered however often it is
// released, acquiring and releasing it writes nothing (the table is only
// read, so goroutines may share it: the race detector checks it below),
// and an ID new after Pin is counted as before.
func TestIDTablePin(t *testing.T) {
	ids := NewIDTable()
	a, b := ids.Acquire("a"), ids.Acquire("b")
	ids.Pin()
	for range 3 {
		ids.Release(a)
	}
	got, ok := ids.Lookup("a")
	require.True(t, ok, "a pinned ID is never freed")
	assert.Equal(t, a, got)
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				assert.Equal(t, b, ids.Acquire("b"))
				ids.Release(b)
				assert.Equal(t, []uint32{a, b}, ids.ascending())
			}
		}()
	}
	<-done
	<-done
	c := ids.Acquire("c")
	ids.Release(c)
	_, ok = ids.Lookup("c")
	assert.False(t, ok, "an ID numbered after Pin is freed by its last Release")
	assert.Equal(t, []uint32{a, b}, ids.ascending())
}
