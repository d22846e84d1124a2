package failuredetector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowIntervalsOldestFirst(t *testing.T) {
	w := NewArrivalWindow(3)
	assert.Nil(t, w.Intervals())
	for i := 1; i <= 5; i++ {
		w.Add(time.Duration(i) * time.Second)
	}
	got := w.Intervals()
	assert.Equal(t, []time.Duration{3 * time.Second, 4 * time.Second, 5 * time.Second}, got)
	got[0] = 0
	assert.Equal(t, 3*time.Second, w.Intervals()[0], "a copy")
}

func TestDetectorWindow(t *testing.T) {
	for _, model := range []Model{Exponential, Normal, Akka} {
		cfg := DefaultConfig()
		cfg.Model = model
		d, err := NewDetector(cfg)
		require.NoError(t, err)
		_, ok := d.Window("a", time.Unix(1000, 0))
		assert.False(t, ok)
		t0 := time.Unix(1000, 0)
		d.Report("a", t0)
		v, ok := d.Window("a", t0) // from now on its last intervals are kept
		require.True(t, ok, model)
		assert.Empty(t, v.Intervals, "decaying statistics keep intervals only once the window is read")
		d.Report("a", t0.Add(700*time.Millisecond))
		now := t0.Add(1000 * time.Millisecond)
		v, ok = d.Window("a", now)
		require.True(t, ok, model)
		assert.Equal(t, []time.Duration{700 * time.Millisecond}, v.Intervals, model)
		assert.Equal(t, 300*time.Millisecond, v.Silence, model)
		// The threshold is crossed at ConvictAfter and not 2 ms before.
		last := t0.Add(700 * time.Millisecond)
		assert.GreaterOrEqual(t, d.Phi("a", last.Add(v.ConvictAfter)), cfg.PhiConvictThreshold, model)
		assert.Less(t, d.Phi("a", last.Add(v.ConvictAfter-2*time.Millisecond)), cfg.PhiConvictThreshold, model)
	}
}

// TestDetectorWindowKeepsRecentForFew: under Decaying statistics the
// Detector keeps the last intervals of the 64 endpoints whose windows were
// read most recently, and only theirs; forgetting an endpoint drops them.
func TestDetectorWindowKeepsRecentForFew(t *testing.T) {
	d, err := NewDetector(DefaultConfig())
	require.NoError(t, err)
	t0 := time.Unix(1000, 0)
	id := func(i int) string { return fmt.Sprintf("e%03d", i) }
	for i := range maxWatched + 10 {
		d.Report(id(i), t0)
		_, ok := d.Window(id(i), t0)
		require.True(t, ok)
	}
	assert.Len(t, d.recent, maxWatched, "bounded")
	assert.Len(t, d.watched, maxWatched)
	d.Window(id(10), t0) // e010 becomes the most recently read
	for i := range maxWatched + 10 {
		d.Report(id(i), t0.Add(time.Second))
	}
	v, _ := d.Window(id(0), t0.Add(time.Second))
	assert.Empty(t, v.Intervals, "e000 was dropped, the least recently read: kept again from now")
	v, _ = d.Window(id(10), t0.Add(time.Second))
	assert.Equal(t, []time.Duration{time.Second}, v.Intervals)
	v, _ = d.Window(id(maxWatched+9), t0.Add(time.Second))
	assert.Equal(t, []time.Duration{time.Second}, v.Intervals)
	p10 := d.peers[id(10)]
	require.Contains(t, d.recent, p10)
	d.Remove(id(10))
	assert.NotContains(t, d.recent, p10)
	assert.Len(t, d.recent, len(d.watched))
	for _, p := range d.watched {
		assert.NotZero(t, p.pos, "only listed endpoints are watched")
	}
}
