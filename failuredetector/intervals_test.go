package failuredetector

import (
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
		d.Report("a", t0.Add(700*time.Millisecond))
		now := t0.Add(1000 * time.Millisecond)
		v, ok := d.Window("a", now)
		require.True(t, ok, model)
		assert.Equal(t, d.Snapshot(now)[0].Samples, len(v.Intervals), model)
		assert.Equal(t, 700*time.Millisecond, v.Intervals[len(v.Intervals)-1], model)
		assert.Equal(t, 300*time.Millisecond, v.Silence, model)
		// The threshold is crossed at ConvictAfter and not 2 ms before.
		last := t0.Add(700 * time.Millisecond)
		assert.GreaterOrEqual(t, d.Phi("a", last.Add(v.ConvictAfter)), cfg.PhiConvictThreshold, model)
		assert.Less(t, d.Phi("a", last.Add(v.ConvictAfter-2*time.Millisecond)), cfg.PhiConvictThreshold, model)
	}
}
