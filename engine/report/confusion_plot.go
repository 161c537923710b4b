package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// confusionGrid is the row-normalised confusion matrix as a heat-map grid: cell colour
// is the share of the true class's rows (so small classes are as visible as large ones).
type confusionGrid struct{ r *Classification }

func (g confusionGrid) Dims() (c, r int) { return len(g.r.Labels), len(g.r.Labels) }
func (g confusionGrid) X(c int) float64  { return float64(c) }
func (g confusionGrid) Y(r int) float64  { return float64(r) }
func (g confusionGrid) Z(c, r int) float64 {
	row := g.r.Confusion[len(g.r.Labels)-1-r]
	sum := 0
	for _, v := range row {
		sum += v
	}
	if sum == 0 {
		return 0
	}
	return float64(row[c]) / float64(sum)
}

// PlotConfusion writes the confusion matrix as an image (format from the file
// extension: .png, .svg, .pdf): true labels top to bottom, predicted labels left to
// right, colour = share of the true class, each cell annotated with its count.
func (r *Classification) PlotConfusion(path, title string) error {
	k := len(r.Labels)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "predicted label"
	p.Y.Label.Text = "true label"
	pal, err := brewer.GetPalette(brewer.TypeSequential, "Blues", 9)
	if err != nil {
		return err
	}
	g := confusionGrid{r}
	h := plotter.NewHeatMap(g, pal)
	h.Min, h.Max = 0, 1
	p.Add(h)

	var xys plotter.XYs
	var labels []string
	var styles []text.Style
	fontSize := vg.Points(math.Max(6, math.Min(11, 160/float64(k))))
	for row := range k {
		for c := range k {
			v := r.Confusion[row][c]
			if v == 0 {
				continue
			}
			y := float64(k - 1 - row)
			xys = append(xys, plotter.XY{X: float64(c), Y: y})
			labels = append(labels, fmt.Sprint(v))
			st := text.Style{Color: color.Black, Font: plot.DefaultFont, XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: p.Title.TextStyle.Handler}
			st.Font.Size = fontSize
			if g.Z(c, int(y)) > 0.55 {
				st.Color = color.White
			}
			styles = append(styles, st)
		}
	}
	if len(xys) > 0 {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return err
		}
		l.TextStyle = styles
		p.Add(l)
	}
	xt := make([]plot.Tick, k)
	yt := make([]plot.Tick, k)
	for i, name := range r.Labels {
		xt[i] = plot.Tick{Value: float64(i), Label: name}
		yt[i] = plot.Tick{Value: float64(k - 1 - i), Label: name}
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	p.X.Tick.Label.Rotation = math.Pi / 3
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.X.Min, p.X.Max = -0.5, float64(k)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(k)-0.5
	size := vg.Length(math.Max(5, 1.5+0.45*float64(k))) * vg.Inch
	return p.Save(size+1.5*vg.Inch, size, path)
}
