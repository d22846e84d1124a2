// Package simplot draws the figures of "hearsay sim" and "hearsay sim
// tune-phi" with gonum.org/v1/plot: how fast an update spreads beside the
// push-pull theory, phi over time for a crashed node, and detection time
// against false convictions for a sweep of failure-detector settings. Each
// figure is written twice, as NAME.png and NAME.svg, into a directory.
//
// The package takes plain numbers, not simulator types, so that it can be
// tested, and reused, without running a simulation.
package simplot

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// File names (without extension) of the figures, as written into the
// directory.
const (
	SpreadName = "spread"
	PhiName    = "phi"
	TuningName = "tune-phi"
)

// formats are the extensions every figure is written with.
var formats = []string{"png", "svg"}

// width and height of every figure.
const (
	width  = 16 * vg.Centimeter
	height = 10 * vg.Centimeter
)

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	red    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	grey   = color.RGBA{R: 110, G: 110, B: 110, A: 255}
)

// SpreadInput is what Spread draws.
type SpreadInput struct {
	Nodes  int       // cluster size, for the theory curve and the title
	Fanout int       // digest-round fanout, for the theory curve (0 = 1)
	Push   bool      // the run also pushed changes (push-on-change), for the legend
	Spread []float64 // measured mean fraction informed k rounds after an update, k = 0..
}

// Spread writes spread.png and spread.svg into dir: the measured fraction
// of nodes informed k rounds after an update, beside the push-pull theory
// curve of PushPull for the same size and fanout. It returns the paths
// written. The two theory curves are PushPull (rounds in step) and
// PushPullAsync (each node at its own phase, as in the simulator).
func Spread(dir string, in SpreadInput) ([]string, error) {
	if len(in.Spread) == 0 {
		return nil, errors.New("simplot: no spread data (the run made no update that could be followed)")
	}
	if in.Nodes < 1 {
		return nil, fmt.Errorf("simplot: Nodes = %d: want at least 1", in.Nodes)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("How an update spreads, %d nodes", in.Nodes)
	p.X.Label.Text = "rounds after the update"
	p.Y.Label.Text = "fraction of nodes informed"
	p.Y.Min, p.Y.Max = 0, 1.02
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true

	measured := make(plotter.XYs, len(in.Spread))
	for k, x := range in.Spread {
		measured[k] = plotter.XY{X: float64(k), Y: clamp01(x)}
	}
	// Draw the theory until it reaches everyone, even past the data.
	rounds := max(len(in.Spread)-1, RoundsToAll(PushPull(in.Nodes, in.Fanout, 200), in.Nodes), 1)
	theory := PushPull(in.Nodes, in.Fanout, rounds)
	th := make(plotter.XYs, len(theory))
	for k, x := range theory {
		th[k] = plotter.XY{X: float64(k), Y: x}
	}
	tl, err := plotter.NewLine(th)
	if err != nil {
		return nil, fmt.Errorf("simplot: theory curve: %w", err)
	}
	tl.Color, tl.Dashes, tl.Width = grey, []vg.Length{vg.Points(4), vg.Points(3)}, vg.Points(1.5)
	async := PushPullAsync(in.Nodes, in.Fanout, rounds)
	as := make(plotter.XYs, len(async))
	for k, x := range async {
		as[k] = plotter.XY{X: float64(k), Y: x}
	}
	al, err := plotter.NewLine(as)
	if err != nil {
		return nil, fmt.Errorf("simplot: theory curve: %w", err)
	}
	al.Color, al.Dashes, al.Width = orange, []vg.Length{vg.Points(1.5), vg.Points(2)}, vg.Points(1.5)
	ml, mp, err := plotter.NewLinePoints(measured)
	if err != nil {
		return nil, fmt.Errorf("simplot: measured curve: %w", err)
	}
	ml.Color, ml.Width, mp.Color, mp.Shape = blue, vg.Points(2), blue, draw.CircleGlyph{}
	p.Add(tl, al, ml, mp)
	if rounds <= 20 {
		ticks := make([]plot.Tick, rounds+1)
		for k := range ticks {
			ticks[k] = plot.Tick{Value: float64(k), Label: fmt.Sprint(k)}
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	} else {
		p.X.Tick.Marker = plainTicks{}
	}
	label := "simulated, digest rounds"
	if in.Push {
		label = "simulated, digests + push-on-change"
	}
	p.Legend.Add(label, ml, mp)
	f := max(in.Fanout, 1)
	p.Legend.Add(fmt.Sprintf("push-pull theory, rounds in step, fanout %d", f), tl)
	p.Legend.Add(fmt.Sprintf("push-pull theory, random phases, fanout %d", f), al)
	return save(p, dir, SpreadName)
}

// PhiPoint is one sample of a phi trace.
type PhiPoint struct {
	Seconds float64 // time since the start of the run
	Phi     float64
}

// PhiInput is what Phi draws.
type PhiInput struct {
	Trace     []PhiPoint // phi of the crashed node at one observer
	Threshold float64    // conviction threshold, drawn as a horizontal line
	CrashAt   float64    // seconds at which the node crashed; drawn when > 0
	Model     string     // failure-detector model, for the title
}

// Phi writes phi.png and phi.svg into dir: phi of a crashed node at one
// observer over time, with the conviction threshold as a red line (and the
// crash as a vertical grey line when CrashAt > 0). It returns the paths
// written.
func Phi(dir string, in PhiInput) ([]string, error) {
	if len(in.Trace) == 0 {
		return nil, errors.New("simplot: no phi trace (the scenario crashed no node)")
	}
	p := plot.New()
	p.Title.Text = "phi of a crashed node at one observer"
	if in.Model != "" {
		p.Title.Text += " (" + in.Model + " model)"
	}
	p.X.Label.Text = "time (s)"
	p.X.Tick.Marker = plainTicks{}
	p.Y.Label.Text = "phi"
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true

	pts := make(plotter.XYs, 0, len(in.Trace))
	ymax := in.Threshold
	for _, s := range in.Trace {
		if math.IsNaN(s.Phi) || math.IsNaN(s.Seconds) || math.IsInf(s.Seconds, 0) {
			continue
		}
		y := s.Phi
		if math.IsInf(y, 0) {
			if in.Threshold <= 0 {
				continue
			}
			y = math.Copysign(2*in.Threshold, y) // clipped below anyway
		}
		pts = append(pts, plotter.XY{X: s.Seconds, Y: y})
		ymax = max(ymax, y)
	}
	if len(pts) == 0 {
		return nil, errors.New("simplot: the phi trace holds no finite sample")
	}
	// Phi grows without bound after a crash; show up to twice the threshold
	// so that the crossing stays readable.
	if in.Threshold > 0 {
		// Leave room above the threshold line for the legend.
		p.Y.Max = max(min(ymax, 2*in.Threshold)*1.05, 1.6*in.Threshold)
		for i := range pts {
			pts[i].Y = min(pts[i].Y, p.Y.Max)
		}
	}
	p.Y.Min = 0
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil, fmt.Errorf("simplot: phi trace: %w", err)
	}
	l.Color, l.Width = blue, vg.Points(2)
	p.Add(l)
	p.Legend.Add("phi", l)
	x0, x1 := pts[0].X, pts[len(pts)-1].X
	if in.Threshold > 0 {
		tl, err := plotter.NewLine(plotter.XYs{{X: x0, Y: in.Threshold}, {X: x1, Y: in.Threshold}})
		if err != nil {
			return nil, fmt.Errorf("simplot: threshold line: %w", err)
		}
		tl.Color, tl.Width, tl.Dashes = red, vg.Points(1.5), []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(tl)
		p.Legend.Add(fmt.Sprintf("threshold %g", in.Threshold), tl)
	}
	if in.CrashAt > 0 {
		cl, err := plotter.NewLine(plotter.XYs{{X: in.CrashAt, Y: 0}, {X: in.CrashAt, Y: p.Y.Max}})
		if err != nil {
			return nil, fmt.Errorf("simplot: crash line: %w", err)
		}
		cl.Color, cl.Dashes = grey, []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(cl)
		p.Legend.Add("crash", cl)
	}
	return save(p, dir, PhiName)
}

// TuningPoint is one failure-detector setting measured by tune-phi.
type TuningPoint struct {
	Threshold        float64
	DetectionSeconds float64 // median time from crash to conviction by all
	FalsePerNodeHour float64 // false convictions per node-hour
}

// TuningSeries is the sweep of thresholds for one model.
type TuningSeries struct {
	Model  string
	Points []TuningPoint
}

// Tuning writes tune-phi.png and tune-phi.svg into dir: for each model, the
// median detection time against false convictions per node-hour, one point
// per threshold, labelled with it. The y axis is logarithmic when the rates
// span more than a factor of ten; a rate of 0 is drawn at the bottom of
// the axis. It returns the paths written.
func Tuning(dir string, series []TuningSeries) ([]string, error) {
	var pts int
	lo, hi := math.Inf(1), 0.0
	for _, s := range series {
		for _, q := range s.Points {
			pts++
			if q.FalsePerNodeHour > 0 {
				lo, hi = min(lo, q.FalsePerNodeHour), max(hi, q.FalsePerNodeHour)
			}
		}
	}
	if pts == 0 {
		return nil, errors.New("simplot: no tuning results to draw")
	}
	p := plot.New()
	p.Title.Text = "Failure detector: detection time against false convictions"
	p.X.Label.Text = "median detection time (s)"
	p.X.Tick.Marker = plainTicks{}
	p.Y.Label.Text = "false convictions per node-hour"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	floor := 0.0
	if hi > 0 && hi/lo > 10 {
		floor = lo / 2
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min = floor
	}
	colours := []color.Color{blue, orange, red, grey}
	for i, s := range series {
		xys := make(plotter.XYs, len(s.Points))
		labels := make([]string, len(s.Points))
		for j, q := range s.Points {
			xys[j] = plotter.XY{X: q.DetectionSeconds, Y: max(q.FalsePerNodeHour, floor)}
			labels[j] = fmt.Sprintf("%g", q.Threshold)
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("simplot: series %s: %w", s.Model, err)
		}
		c := colours[i%len(colours)]
		l.Color, l.Width, sc.Color, sc.Shape = c, vg.Points(1.5), c, draw.CircleGlyph{}
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return nil, fmt.Errorf("simplot: labels of %s: %w", s.Model, err)
		}
		for k := range lb.TextStyle {
			lb.TextStyle[k].Color = c
			lb.TextStyle[k].XAlign = draw.XLeft
		}
		lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
		p.Add(l, sc, lb)
		p.Legend.Add(s.Model+" (labels: threshold)", l, sc)
	}
	return save(p, dir, TuningName)
}

// plainTicks are gonum's default ticks labelled without trailing zeros
// ("25", not "25.00").
type plainTicks struct{}

// Ticks returns the default ticks for min..max with %g labels.
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 6, 64)
		}
	}
	return ts
}

// save writes p as dir/name.png and dir/name.svg, creating dir.
func save(p *plot.Plot, dir, name string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("simplot: %w", err)
	}
	var paths []string
	for _, ext := range formats {
		path := filepath.Join(dir, name+"."+ext)
		if err := p.Save(width, height, path); err != nil {
			return paths, fmt.Errorf("simplot: writing %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func clamp01(x float64) float64 {
	return min(max(x, 0), 1)
}
