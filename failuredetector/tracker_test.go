package failuredetector

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestTrackerMatchesNames runs the same random reports, removals, pauses
// and queries on a Detector keyed by name and on one whose endpoints are
// Trackers held by the caller: every answer is the same, and the scan
// list never holds an untracked endpoint. A third Detector names two of
// its Trackers by number (SetNumber, SetNames; reported with no name)
// and the third by name: its answers, names included, are the same too.
func TestTrackerMatchesNames(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.Model = rapid.SampledFrom([]Model{Exponential, Normal, Akka}).Draw(t, "model")
		cfg.Estimator = rapid.SampledFrom([]Estimator{Sliding, Decaying}).Draw(t, "estimator")
		cfg.WindowSize = rapid.IntRange(1, 20).Draw(t, "window")
		byName, err := NewDetector(cfg)
		require.NoError(t, err)
		byTracker, err := NewDetector(cfg)
		require.NoError(t, err)
		byNumber, err := NewDetector(cfg)
		require.NoError(t, err)
		names := []string{"a", "b", "c"}
		byNumber.SetNames(func(i uint32) string { return names[i] })
		trackers := map[string]*Tracker{"a": {}, "b": {}, "c": {}}
		numbered := map[string]*Tracker{"a": {}, "b": {}, "c": {}}
		numbered["a"].SetNumber(0)
		numbered["b"].SetNumber(1)
		reportName := map[string]string{"a": "", "b": "", "c": "c"}
		now := time.Duration(0)
		t.Repeat(map[string]func(*rapid.T){
			"report": func(t *rapid.T) {
				now += duration(t, "step", -int64(time.Second), int64(10*time.Second))
				ep := rapid.SampledFrom(names).Draw(t, "endpoint")
				byName.Report(ep, at(now))
				byTracker.ReportTracker(trackers[ep], ep, at(now))
				byNumber.ReportTracker(numbered[ep], reportName[ep], at(now))
			},
			"remove": func(t *rapid.T) {
				ep := rapid.SampledFrom(names).Draw(t, "endpoint")
				byName.Remove(ep)
				byTracker.Untrack(trackers[ep])
				byNumber.Untrack(numbered[ep])
			},
			"query": func(t *rapid.T) {
				ep := rapid.SampledFrom(names).Draw(t, "endpoint")
				when := at(now + duration(t, "later", -int64(time.Second), int64(time.Hour)))
				assert.Equal(t, byName.Phi(ep, when), byTracker.PhiTracker(trackers[ep], when))
				convict := byName.Interpret(ep, when)
				assert.Equal(t, convict, byTracker.InterpretTracker(trackers[ep], when))
				assert.Equal(t, convict, byNumber.InterpretTracker(numbered[ep], when))
				wn, okn := byName.Window(ep, when)
				wt, okt := byTracker.WindowTracker(trackers[ep], when)
				assert.Equal(t, okn, okt)
				assert.Equal(t, wn, wt)
				over := func(d *Detector) []string {
					o := d.Overdue(when, nil)
					slices.Sort(o)
					return o
				}
				assert.Equal(t, over(byName), over(byTracker))
				assert.Equal(t, over(byName), over(byNumber))
				assert.Equal(t, byName.Snapshot(when), byTracker.Snapshot(when))
				assert.Equal(t, byName.Snapshot(when), byNumber.Snapshot(when))
				assert.Equal(t, byName.Phi(ep, when), byNumber.PhiTracker(numbered[ep], when))
				wb, okb := byNumber.WindowTracker(numbered[ep], when)
				assert.Equal(t, okn, okb)
				assert.Equal(t, wn, wb)
				s, ok := byTracker.StatsTracker(trackers[ep], when)
				assert.Equal(t, okn, ok)
				if ok {
					assert.Contains(t, byName.Snapshot(when), s)
				}
				assert.Equal(t, byName.PauseStats(), byTracker.PauseStats())
			},
		})
		for _, d := range []*Detector{byTracker, byNumber} {
			for _, p := range d.all {
				require.NotZero(t, p.pos, "listed tracker with pos 0")
				require.Same(t, p, d.all[p.pos-1], "pos points at itself")
			}
		}
		assert.Equal(t, uint32(2), numbered["b"].p.number, "a number stays through untracking")
	})
}

// TestLastTracker: LastTracker is the latest accepted report (a report
// older than it changes nothing), and nothing for a Tracker never
// reported or untracked since.
func TestLastTracker(t *testing.T) {
	d, err := NewDetector(DefaultConfig())
	require.NoError(t, err)
	var tr Tracker
	_, ok := d.LastTracker(&tr)
	assert.False(t, ok, "never reported")
	d.ReportTracker(&tr, "a", at(time.Second))
	d.ReportTracker(&tr, "a", at(3*time.Second))
	last, ok := d.LastTracker(&tr)
	require.True(t, ok)
	assert.True(t, last.Equal(at(3*time.Second)), "got %v", last)
	d.ReportTracker(&tr, "a", at(2*time.Second)) // out of order: ignored
	last, _ = d.LastTracker(&tr)
	assert.True(t, last.Equal(at(3*time.Second)), "got %v", last)
	d.Untrack(&tr)
	_, ok = d.LastTracker(&tr)
	assert.False(t, ok, "untracked")
}
