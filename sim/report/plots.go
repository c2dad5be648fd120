package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// Plot files Write may produce. A name not produced in a run is removed
// from the directory so that a stale plot is never mistaken for this one.
const (
	advisoryFile = "advisory-cdf.svg"
	patchFile    = "patch-cdf.svg"
	uploadFile   = "upload.svg"
	bytesFile    = "bytes-by-source.svg"
)

var plotFiles = []string{advisoryFile, patchFile, uploadFile, bytesFile}

// Plot size: about 16 × 9 cm, scaled by the page.
const (
	plotW = 6.4 * vg.Inch
	plotH = 3.6 * vg.Inch
)

// palette is Okabe and Ito's colour-blind-safe palette; result i gets
// palette[i%len(palette)] in every plot and in the tables.
var palette = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xFF}, // blue
	{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
	{0x00, 0x9E, 0x73, 0xFF}, // bluish green
	{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
	{0xE6, 0x9F, 0x00, 0xFF}, // orange
	{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	{0x00, 0x00, 0x00, 0xFF}, // black
}

func colourOf(i int) color.RGBA { return palette[i%len(palette)] }

func hexColour(c color.RGBA) string { return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B) }

var (
	boundColour = color.RGBA{0x44, 0x44, 0x44, 0xFF}
	dashed      = []vg.Length{vg.Points(6), vg.Points(3)}
	dotted      = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
)

// newPlot returns a plot with a light grid and sans-serif text.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		f.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Title.Padding = vg.Points(6)
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{0xDD}
	g.Horizontal.Color = color.Gray{0xDD}
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	p.Add(g)
	return p
}

// stepLine draws xys as a step function in the result's colour.
func stepLine(xys plotter.XYs, c color.Color, dashes []vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.StepStyle = plotter.PostStep
	l.LineStyle.Color = c
	l.LineStyle.Width = vg.Points(1.6)
	l.LineStyle.Dashes = dashes
	return l, nil
}

// cdfXYs turns a CDF into plot points that start at the origin.
func cdfXYs(cdf []scenario.Point) plotter.XYs {
	xys := make(plotter.XYs, 0, len(cdf)+1)
	if len(cdf) == 0 || cdf[0].T > 0 {
		xys = append(xys, plotter.XY{})
	}
	for _, p := range cdf {
		xys = append(xys, plotter.XY{X: p.T, Y: p.F})
	}
	return xys
}

// cdfAxes fixes the y axis to shares and keeps the x axis from collapsing.
func cdfAxes(p *plot.Plot) {
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, 1
	if p.X.Max <= 0 {
		p.X.Max = 1
	}
	p.X.Max *= 1.03 // so that the last step shows
}

func advisoryPlot(pg *page) (*plot.Plot, error) {
	p := newPlot("Advisory delivery", "seconds since the advisory was published", "share of honest devices")
	for _, r := range pg.Runs {
		l, err := stepLine(cdfXYs(r.res.Advisory.CDF), r.colour, nil)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(r.Label, l)
	}
	cdfAxes(p)
	return p, nil
}

func patchPlot(pg *page) (*plot.Plot, error) {
	p := newPlot("Patch completion", "seconds since the advisory was published", "share of honest devices")
	// No device can finish before T_KR, so the top left is free for the
	// legend, and the bottom right of each bound for its label.
	p.Legend.Top, p.Legend.Left = true, true
	type mark struct {
		name   string
		x      float64
		dashes []vg.Length
	}
	var marks []mark
	addMark := func(m mark) {
		if m.x > 0 && !slices.ContainsFunc(marks, func(o mark) bool { return o.name == m.name && o.x == m.x }) {
			marks = append(marks, m)
		}
	}
	for _, r := range pg.Runs {
		if r.res.Patch == nil {
			continue
		}
		l, err := stepLine(cdfXYs(r.res.Patch.CDF), r.colour, nil)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(r.Label, l)
		addMark(mark{"T_KR", r.res.Patch.BoundS, dashed})
		addMark(mark{"T_chunk", r.res.Patch.ChunkBoundS, dotted})
	}
	for i, m := range marks {
		l, err := plotter.NewLine(plotter.XYs{{X: m.x, Y: 0}, {X: m.x, Y: 1}})
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: boundColour, Width: vg.Points(1.2), Dashes: m.dashes}
		lab, err := plotter.NewLabels(plotter.XYLabels{
			XYs:    []plotter.XY{{X: m.x, Y: 0.04 + 0.08*float64(i%3)}},
			Labels: []string{fmt.Sprintf("%s %s s", m.name, sig(m.x, 3))},
		})
		if err != nil {
			return nil, err
		}
		lab.TextStyle[0].Font.Variant = "Sans"
		lab.TextStyle[0].Color = boundColour
		lab.TextStyle[0].YAlign = text.YBottom
		lab.Offset = vg.Point{X: vg.Points(3)}
		p.Add(l, lab)
		name := "Kumar–Ross bound T_KR"
		if m.name == "T_chunk" {
			name = "chunked bound T_chunk"
		}
		p.Legend.Add(name, l)
	}
	cdfAxes(p)
	return p, nil
}

// hasUpload reports whether the result recorded an upload series.
func hasUpload(r *scenario.Result) bool {
	return r.Upload.StepS > 0 && (len(r.Upload.Seed) > 0 || len(r.Upload.Peers) > 0)
}

// seriesXYs turns a rate series (bytes/s per step) into Mbit/s steps.
func seriesXYs(v []float64, step float64) plotter.XYs {
	if len(v) == 0 {
		return nil
	}
	xys := make(plotter.XYs, 0, len(v)+1)
	for i, b := range v {
		xys = append(xys, plotter.XY{X: float64(i) * step, Y: b * 8 / 1e6})
	}
	return append(xys, plotter.XY{X: float64(len(v)) * step, Y: v[len(v)-1] * 8 / 1e6})
}

func uploadPlot(pg *page) (*plot.Plot, error) {
	p := newPlot("Upload over time", "seconds since the advisory was published", "Mbit/s")
	p.Legend.Top = true
	entries := 0
	for _, r := range pg.Runs {
		if !hasUpload(r.res) {
			continue
		}
		for _, s := range []struct {
			name   string
			v      []float64
			dashes []vg.Length
		}{{"seed", r.res.Upload.Seed, dashed}, {"peers", r.res.Upload.Peers, nil}} {
			xys := seriesXYs(s.v, r.res.Upload.StepS)
			if xys == nil {
				continue
			}
			l, err := stepLine(xys, r.colour, s.dashes)
			if err != nil {
				return nil, err
			}
			p.Add(l)
			p.Legend.Add(r.Label+" "+s.name, l)
			entries++
		}
	}
	p.X.Min, p.Y.Min = 0, 0
	if p.Y.Max <= 0 {
		p.Y.Max = 1
	}
	p.Y.Max *= 1 + 0.08*float64(entries) // headroom for the legend
	return p, nil
}

// sourceOrder is the order of BytesBySource's keys on the page; other keys
// follow, sorted.
var sourceOrder = []string{"seed", "peer", "duplicate", "rejected"}

// sources returns the byte sources to show for the runs with a patch.
func sources(pg *page) []string {
	keys := slices.Clone(sourceOrder)
	var extra []string
	for _, r := range pg.Runs {
		for k := range r.res.BytesBySource {
			if !slices.Contains(keys, k) && !slices.Contains(extra, k) {
				extra = append(extra, k)
			}
		}
	}
	slices.Sort(extra)
	return append(keys, extra...)
}

// byteUnit picks MiB, or GiB when MiB would need more than five digits.
func byteUnit(maxBytes float64) (name string, div float64) {
	if maxBytes >= 1e5*(1<<20) {
		return "GiB", 1 << 30
	}
	return "MiB", 1 << 20
}

func bytesPlot(pg *page) (*plot.Plot, error) {
	keys := sources(pg)
	var withPatch []run
	var most float64
	for _, r := range pg.Runs {
		if r.res.Patch == nil {
			continue
		}
		withPatch = append(withPatch, r)
		for _, v := range r.res.BytesBySource {
			most = max(most, float64(v))
		}
	}
	unit, div := byteUnit(most)
	p := newPlot("Patch bytes received, by source", "", unit)
	p.Legend.Top = true
	n := len(withPatch)
	group := min(vg.Points(64), vg.Points(320)/vg.Length(len(keys)))
	w := group / vg.Length(n)
	for i, r := range withPatch {
		vals := make(plotter.Values, len(keys))
		var xys plotter.XYs
		var labs []string
		for k, key := range keys {
			vals[k] = float64(r.res.BytesBySource[key]) / div
			xys = append(xys, plotter.XY{X: float64(k), Y: vals[k]})
			labs = append(labs, sig(vals[k], 3))
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		b.Color = r.colour
		b.LineStyle.Width = 0
		b.Offset = (vg.Length(i) - vg.Length(n-1)/2) * w
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labs})
		if err != nil {
			return nil, err
		}
		for k := range lab.TextStyle {
			lab.TextStyle[k].Font.Variant = "Sans"
			lab.TextStyle[k].Font.Size = vg.Points(8)
			lab.TextStyle[k].XAlign = text.XCenter
		}
		lab.Offset = vg.Point{X: b.Offset, Y: vg.Points(2)}
		p.Add(b, lab)
		p.Legend.Add(r.Label, b)
	}
	p.NominalX(keys...)
	p.Y.Min = 0
	if p.Y.Max <= 0 {
		p.Y.Max = 1
	}
	p.Y.Max *= 1.12 // room for the value labels
	return p, nil
}

// renderSVG draws p as SVG, naming fallbacks for the Liberation fonts the
// layout was measured with (Arial and Helvetica share their metrics).
func renderSVG(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(plotW, plotH, "svg")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	out := strings.ReplaceAll(buf.String(), "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	return []byte(out), nil
}

// niceTicks puts about six major ticks on 1, 2, 2.5 or 5 times a power of
// ten, with a minor tick between each, and writes thousands separators.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if r := step / math.Pow(10, -float64(dec)); math.Abs(r-math.Round(r)) > 1e-9 {
		dec++ // 2.5, 0.25, …
	}
	var ticks []plot.Tick
	first := math.Ceil(lo/step-1e-9) * step
	for i := 0; ; i++ {
		v := first + float64(i)*step
		if v > hi+step*1e-9 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: tickLabel(v, dec)})
		if h := v + step/2; h <= hi {
			ticks = append(ticks, plot.Tick{Value: h})
		}
	}
	if h := first - step/2; h >= lo {
		ticks = append(ticks, plot.Tick{Value: h})
	}
	return ticks
}

func tickLabel(v float64, dec int) string {
	if dec == 0 {
		return count64(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}
