package simplot

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPushPullTheory(t *testing.T) {
	c := PushPull(100, 1, 20)
	require.Len(t, c, 21)
	assert.InDelta(t, 0.01, c[0], 1e-12, "one node of 100 knows at round 0")
	for k := 1; k < len(c); k++ {
		assert.GreaterOrEqual(t, c[k], c[k-1], "the informed fraction never falls (round %d)", k)
		assert.LessOrEqual(t, c[k], 1.0)
	}
	// x1 = 1 − 0.99²·e^{−0.01}: the first step by hand.
	assert.InDelta(t, 1-0.99*0.99*math.Exp(-0.01), c[1], 1e-12)
	// Karp et al.: log₃N + O(log log N) rounds. The mean-field curve sits
	// at about log₃N + 2 for these sizes.
	for _, tc := range []struct{ n, lo, hi int }{{100, 4, 8}, {1000, 6, 10}, {10000, 8, 12}} {
		k := RoundsToAll(PushPull(tc.n, 1, 40), tc.n)
		assert.GreaterOrEqual(t, k, tc.lo, "n=%d", tc.n)
		assert.LessOrEqual(t, k, tc.hi, "n=%d", tc.n)
	}
	assert.Less(t, RoundsToAll(PushPull(1000, 3, 40), 1000), RoundsToAll(PushPull(1000, 1, 40), 1000), "a larger fanout spreads faster")
	assert.Equal(t, -1, RoundsToAll(PushPull(1000, 1, 2), 1000), "two rounds are not enough for 1000 nodes")
	assert.Nil(t, PushPull(0, 1, 5))

	a := PushPullAsync(1000, 1, 20)
	require.Len(t, a, 21)
	assert.InDelta(t, 0.001, a[0], 1e-12)
	assert.InDelta(t, 1/(1+999*math.Exp(-2)), a[1], 1e-12, "the logistic at t = 1")
	assert.Less(t, RoundsToAll(a, 1000), RoundsToAll(PushPull(1000, 1, 20), 1000), "random phases spread faster than rounds in step")
}

// checkFigures asserts that paths are a non-empty PNG and a well-formed
// SVG, in that order.
func checkFigures(t *testing.T, dir, name string, paths []string) {
	t.Helper()
	require.Equal(t, []string{filepath.Join(dir, name+".png"), filepath.Join(dir, name+".svg")}, paths)
	data, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err, "a valid PNG")
	assert.Greater(t, img.Bounds().Dx(), 100)
	assert.Greater(t, img.Bounds().Dy(), 100)
	// Not a blank image: more than a handful of distinct colours.
	colours := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 3 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 3 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	assert.Greater(t, len(colours), 5, "the PNG has something drawn on it")

	data, err = os.ReadFile(paths[1])
	require.NoError(t, err)
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	elements := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "a well-formed SVG")
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			elements++
		}
	}
	assert.Equal(t, "svg", root)
	assert.Greater(t, elements, 20, "the SVG has something drawn in it")
}

func TestSpread(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	spread := []float64{0.01, 0.05, 0.2, 0.6, 0.95, 1, 1}
	paths, err := Spread(dir, SpreadInput{Nodes: 100, Fanout: 1, Spread: spread})
	require.NoError(t, err)
	checkFigures(t, dir, SpreadName, paths)

	_, err = Spread(dir, SpreadInput{Nodes: 100})
	assert.ErrorContains(t, err, "no spread data")
	_, err = Spread(dir, SpreadInput{Spread: spread})
	assert.ErrorContains(t, err, "Nodes = 0")
}

func TestPhi(t *testing.T) {
	dir := t.TempDir()
	var trace []PhiPoint
	for i := range 40 {
		s := float64(i)
		phi := 0.4
		if s > 10 {
			phi = (s - 10) / math.Ln10
		}
		trace = append(trace, PhiPoint{Seconds: s, Phi: phi})
	}
	trace = append(trace, PhiPoint{Seconds: 41, Phi: math.Inf(1)}, PhiPoint{Seconds: 42, Phi: math.NaN()})
	paths, err := Phi(dir, PhiInput{Trace: trace, Threshold: 8, CrashAt: 10, Model: "exponential"})
	require.NoError(t, err)
	checkFigures(t, dir, PhiName, paths)

	_, err = Phi(dir, PhiInput{Threshold: 8})
	assert.ErrorContains(t, err, "no phi trace")
	_, err = Phi(dir, PhiInput{Trace: []PhiPoint{{Seconds: 1, Phi: math.NaN()}}, Threshold: 8})
	assert.ErrorContains(t, err, "no finite sample")
}

func TestTuning(t *testing.T) {
	dir := t.TempDir()
	series := []TuningSeries{
		{Model: "exponential", Points: []TuningPoint{{5, 12, 30}, {8, 19, 2}, {12, 28, 0}}},
		{Model: "normal", Points: []TuningPoint{{5, 6, 50}, {8, 7, 10}, {12, 9, 0.5}}},
	}
	paths, err := Tuning(dir, series)
	require.NoError(t, err)
	checkFigures(t, dir, TuningName, paths)

	_, err = Tuning(dir, nil)
	assert.ErrorContains(t, err, "no tuning results")
}

func TestSaveFailsOnAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	_, err := Spread(file, SpreadInput{Nodes: 10, Spread: []float64{0.1, 1}})
	assert.Error(t, err, "a directory path that is a file is an error, not a panic")
}
