package benchcompare

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DrawCharts draws ratios.png (Go's advantage on every row, log scale) and
// scale.png (start+ready+stop, PSS, fan-in, tasks/s and a round trip while
// workers are busy, mean and median, against the number of processes, both
// sides, log-log) into dir, and returns their paths.
func DrawCharts(dir string, res *Results, rows []Row) ([]string, error) {
	ratios := filepath.Join(dir, "ratios.png")
	if err := drawRatios(ratios, res, rows); err != nil {
		return nil, fmt.Errorf("ratios chart: %w", err)
	}
	scale := filepath.Join(dir, "scale.png")
	if err := drawScale(scale, res, rows); err != nil {
		return nil, fmt.Errorf("scale chart: %w", err)
	}
	return []string{ratios, scale}, nil
}

func drawRatios(path string, res *Results, rows []Row) error {
	var labels []string
	var kept []Row
	for _, r := range rows {
		for _, m := range res.Config.Methods {
			if !math.IsNaN(r.Advantage(m)) {
				kept = append(kept, r)
				labels = append(labels, r.Label)
				break
			}
		}
	}
	p := plot.New()
	p.Title.Text = "Go's advantage over Python's multiprocessing (× better, log scale; right of 1: Go better)"
	p.X.Label.Text = "× better"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	lo, hi := 1.0, 1.0
	for i, m := range res.Config.Methods {
		var xys plotter.XYs
		for y, r := range kept {
			if a := r.Advantage(m); !math.IsNaN(a) && a > 0 {
				// The table's first row at the top.
				xys = append(xys, plotter.XY{X: a, Y: float64(len(kept) - 1 - y)})
				lo, hi = math.Min(lo, a), math.Max(hi, a)
			}
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color = plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		s.Radius = vg.Points(4)
		p.Add(s)
		p.Legend.Add("vs Python "+m, s)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(len(kept)) - 0.5}})
	if err != nil {
		return err
	}
	one.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	one.Color = color.Gray{Y: 100}
	p.Add(one, plotter.NewGrid())
	p.X.Min, p.X.Max = lo/1.5, hi*1.5
	slices.Reverse(labels)
	p.NominalY(labels...)
	h := vg.Length(len(kept))*vg.Points(18) + vg.Centimeter*3
	return p.Save(11*vg.Inch, h, path)
}

// curve is one side's figure against N, for the rows of kind.
func curve(rows []Row, kind string, pick func(Row) Figure) plotter.XYs {
	var xys plotter.XYs
	for _, r := range rows {
		if r.Kind != kind {
			continue
		}
		if f := pick(r); f.OK() && f.Value > 0 && r.N > 0 {
			xys = append(xys, plotter.XY{X: float64(r.N), Y: f.Value})
		}
	}
	return xys
}

// sumFigures adds two figures (ready + stop); missing if either is.
func sumFigures(a, b Figure) Figure {
	if !a.OK() || !b.OK() {
		return Figure{Value: math.NaN()}
	}
	return Figure{Value: a.Value + b.Value, Runs: min(a.Runs, b.Runs)}
}

func drawScale(path string, res *Results, rows []Row) error {
	// Start + ready + stop: the ready row and the stop row of the same N.
	stops := map[int]Row{}
	for _, r := range rows {
		if r.Kind == "spawn-stop" {
			stops[r.N] = r
		}
	}
	var life []Row
	for _, r := range rows {
		if r.Kind == "spawn-ready" {
			s := stops[r.N]
			l := Row{Kind: "life", N: r.N, Go: sumFigures(r.Go, s.Go), Floor: sumFigures(r.Floor, s.Floor), Py: map[string]Figure{}}
			for m := range r.Py {
				l.Py[m] = sumFigures(r.Py[m], s.Py[m])
			}
			life = append(life, l)
		}
	}
	goFig := func(r Row) Figure { return r.Go }
	floor := func(r Row) Figure { return r.Floor }
	py := func(m string) func(Row) Figure { return func(r Row) Figure { return r.Py[m] } }

	lifeS := []series{{name: "Go (mp manager)", xys: curve(life, "life", goFig)}, {name: "Go's floor (plain os/exec)", xys: curve(life, "life", floor), style: 1, dashed: true}}
	pssS := []series{{name: "Go (mp worker)", xys: curve(rows, "pss", goFig)}}
	tasksS := []series{{name: "Go (mp manager)", xys: curve(rows, "tasks-executor", goFig)}}
	faninS := []series{{name: "Go (mp manager)", xys: curve(rows, "fanin", goFig)}}
	busyS := []series{{name: "Go: Call", xys: curve(rows, "busy", goFig)}, {name: "Go's floor (raw pipe round trip)", xys: curve(rows, "busy", floor), style: 1, dashed: true}}
	busyP50S := []series{{name: "Go: Call", xys: curve(rows, "busy-p50", goFig)}, {name: "Go's floor (raw pipe round trip)", xys: curve(rows, "busy-p50", floor), style: 1, dashed: true}}
	for i, m := range res.Config.Methods {
		lifeS = append(lifeS, series{name: "Python " + m, xys: curve(life, "life", py(m)), style: 2 + i})
		pssS = append(pssS, series{name: "Python " + m, xys: curve(rows, "pss", py(m)), style: 2 + i})
		faninS = append(faninS, series{name: "Python " + m, xys: curve(rows, "fanin", py(m)), style: 2 + i})
		busyS = append(busyS, series{name: "Python " + m + ": Pipe round trip", xys: curve(rows, "busy", py(m)), style: 2 + i})
		busyP50S = append(busyP50S, series{name: "Python " + m + ": Pipe round trip", xys: curve(rows, "busy-p50", py(m)), style: 2 + i})
		tasksS = append(tasksS,
			series{name: "ProcessPoolExecutor " + m, xys: curve(rows, "tasks-executor", py(m)), style: 2 + i},
			series{name: "multiprocessing.Pool " + m, xys: curve(rows, "tasks-pool", py(m)), style: 2 + i, dashed: true})
	}
	// Three rows of two panels.
	plots := [][]*plot.Plot{{}, {}, {}}
	for i, spec := range []struct {
		title, x, y string
		ss          []series
	}{
		{"start + all ready + stop of N processes", "N processes", "seconds", lifeS},
		{"PSS per idle process", "N processes", "MiB", pssS},
		{"fan-in: N workers send to one process", "N workers", "messages/s", faninS},
		{"small tasks through a pool", "workers", "tasks/s", tasksS},
		{"a round trip while N workers are busy (mean)", "N busy workers (a message each every 10 ms)", "µs", busyS},
		{"a round trip while N workers are busy (median)", "N busy workers (a message each every 10 ms)", "µs", busyP50S},
	} {
		p, err := panel(spec.title, spec.x, spec.y, spec.ss)
		if err != nil {
			return err
		}
		plots[i/2] = append(plots[i/2], p)
	}
	return savePanels(path, plots)
}

// series is one curve of a scale panel: one colour per side (and start
// method), in every panel; dashed for a floor, and for
// multiprocessing.Pool beside ProcessPoolExecutor.
type series struct {
	name   string
	xys    plotter.XYs
	style  int
	dashed bool
}

// panel is one log-log panel of the scale chart, with room above its
// curves for the legend.
func panel(title, x, y string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		if len(s.xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(s.style), plotutil.Color(s.style), plotutil.Shape(s.style)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
		for _, xy := range s.xys {
			xlo, xhi = math.Min(xlo, xy.X), math.Max(xhi, xy.X)
			ylo, yhi = math.Min(ylo, xy.Y), math.Max(yhi, xy.Y)
		}
	}
	if !math.IsInf(xlo, 0) {
		p.X.Min, p.X.Max = xlo/1.5, xhi*1.5
		p.Y.Min, p.Y.Max = ylo/2, yhi*20
	}
	return p, nil
}

// savePanels draws the rows of panels into one PNG at path.
func savePanels(path string, plots [][]*plot.Plot) error {
	img := vgimg.New(14*vg.Inch, vg.Length(len(plots))*5.5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(plots, tiles, dc)
	for r, row := range plots {
		for c, p := range row {
			p.Draw(canvases[r][c])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
