package report

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ClusterPlotFiles are the base names (without extension) of the pictures PlotClusters
// writes, each as .png and .svg.
var ClusterPlotFiles = []string{"cluster_pca", "cluster_sizes", "cluster_centres"}

// clusterColors is a qualitative palette (ColorBrewer "Paired" reordered so that
// neighbouring clusters differ strongly); clusters past its end reuse colours with
// another glyph shape.
var clusterColors = []color.NRGBA{
	{31, 120, 180, 255}, {227, 26, 28, 255}, {51, 160, 44, 255}, {255, 127, 0, 255},
	{106, 61, 154, 255}, {177, 89, 40, 255}, {166, 206, 227, 255}, {251, 154, 153, 255},
	{178, 223, 138, 255}, {253, 191, 111, 255}, {202, 178, 214, 255}, {140, 140, 140, 255},
}

func clusterColor(c int) color.NRGBA { return clusterColors[c%len(clusterColors)] }

var shapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{}}

// PlotClusters writes three pictures into dir, as PNG and SVG: a scatter of the rows
// over the first two principal components of the distance space, coloured by cluster,
// anomalies marked and centres numbered (at most maxPoints rows, a seeded sample); the
// cluster sizes with their anomalous part; and a heat map of the centres over the most
// distinguishing features (z of the centre against the overall mean). what names the
// rows ("flows" or "hosts") in titles.
func PlotClusters(dir string, d ClusterData, what string, maxPoints int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return errors.Join(plotPCA(dir, d, what, maxPoints, seed), plotSizes(dir, d, what), plotCentres(dir, d))
}

// save draws p into dir/name.png and dir/name.svg.
func save(dir, name string, w, h vg.Length, drawFn func(draw.Canvas)) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	drawFn(dc)
	svg := vgsvg.New(w, h)
	drawFn(draw.New(svg))
	var errs []error
	write := func(path string, wt func(*os.File) error) {
		f, err := os.Create(path)
		if err != nil {
			errs = append(errs, err)
			return
		}
		errs = append(errs, wt(f), f.Close())
	}
	write(filepath.Join(dir, name+".png"), func(f *os.File) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(f)
		return err
	})
	write(filepath.Join(dir, name+".svg"), func(f *os.File) error {
		_, err := svg.WriteTo(f)
		return err
	})
	return errors.Join(errs...)
}

func plotPCA(dir string, d ClusterData, what string, maxPoints int, seed uint64) error {
	m := d.Model
	z, err := m.Transform(d.X)
	if err != nil {
		return err
	}
	rows := rand.New(rand.NewPCG(seed, 7)).Perm(d.X.Len)
	if maxPoints > 0 && len(rows) > maxPoints {
		rows = rows[:maxPoints]
	}
	nf := len(m.Features)
	a := mat.NewDense(len(rows), nf, nil)
	for r, i := range rows {
		for j := 0; j < nf; j++ {
			a.Set(r, j, float64(z.Cols[j][i]))
		}
	}
	var pc stat.PC
	if len(rows) < 2 || nf < 2 || !pc.PrincipalComponents(a, nil) {
		return fmt.Errorf("report: PCA of %d rows × %d features failed", len(rows), nf)
	}
	var vecs mat.Dense
	pc.VectorsTo(&vecs)
	vars := pc.VarsTo(nil)
	total := 0.0
	for _, v := range vars {
		total += v
	}
	proj := mat.NewDense(len(rows), 2, nil)
	// Centre the data as PCA did, then project onto the first two components.
	means := make([]float64, nf)
	for j := 0; j < nf; j++ {
		means[j] = stat.Mean(mat.Col(nil, j, a), nil)
	}
	for r := range rows {
		for j := 0; j < nf; j++ {
			a.Set(r, j, a.At(r, j)-means[j])
		}
	}
	proj.Mul(a, vecs.Slice(0, nf, 0, 2))
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d clusters of %d %s: first two principal components", m.K(), d.X.Len, what)
	p.X.Label.Text = fmt.Sprintf("PC1 (%.0f%% of variance)", 100*vars[0]/total)
	p.Y.Label.Text = fmt.Sprintf("PC2 (%.0f%% of variance)", 100*vars[1]/total)
	p.Add(plotter.NewGrid())
	k := m.K()
	pts := make([]plotter.XYs, k)
	var anom plotter.XYs
	for r, i := range rows {
		c := d.Assign[i]
		if c < 0 {
			continue
		}
		xy := plotter.XY{X: proj.At(r, 0), Y: proj.At(r, 1)}
		pts[c] = append(pts[c], xy)
		if d.Score != nil && m.Anomalous(d.Score[i]) {
			anom = append(anom, xy)
		}
	}
	for c := 0; c < k; c++ {
		if len(pts[c]) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts[c])
		if err != nil {
			return err
		}
		col := clusterColor(c)
		col.A = 170
		s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.2), Shape: shapes[(c/len(clusterColors))%len(shapes)]}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("cluster %d (%d)", c, sizeOf(d.Assign, c)), s)
	}
	if len(anom) > 0 {
		s, err := plotter.NewScatter(anom)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3.5), Shape: draw.CrossGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("anomaly (score ≥ %g)", m.Threshold), s)
	}
	// Centres, projected the same way and numbered.
	cen := make(plotter.XYs, k)
	labels := make([]string, k)
	for c := 0; c < k; c++ {
		for j := 0; j < nf; j++ {
			v := m.Centres[c][j] - means[j]
			cen[c].X += v * vecs.At(j, 0)
			cen[c].Y += v * vecs.At(j, 1)
		}
		labels[c] = " " + strconv.Itoa(c)
	}
	cs, err := plotter.NewScatter(cen)
	if err != nil {
		return err
	}
	cs.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(5), Shape: draw.RingGlyph{}}
	p.Add(cs)
	p.Legend.Add("centre (numbered)", cs)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: cen, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(11)
	}
	p.Add(lb)
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.ThumbnailWidth = vg.Points(12)
	// Leave room above the points for the legend, and around the outermost points.
	p.X.Max += (p.X.Max - p.X.Min) * 0.03
	p.X.Min -= (p.X.Max - p.X.Min) * 0.03
	p.Y.Max += (p.Y.Max - p.Y.Min) * (0.07*float64(k+2) + 0.05)
	return save(dir, "cluster_pca", 9*vg.Inch, 7*vg.Inch, p.Draw)
}

func sizeOf(assign []int32, c int) int {
	n := 0
	for _, a := range assign {
		if int(a) == c {
			n++
		}
	}
	return n
}

func plotSizes(dir string, d ClusterData, what string) error {
	m := d.Model
	k := m.K()
	normal, anomal := make(plotter.Values, k), make(plotter.Values, k)
	for i, c := range d.Assign[:d.X.Len] {
		if c < 0 {
			continue
		}
		if d.Score != nil && m.Anomalous(d.Score[i]) {
			anomal[c]++
		} else {
			normal[c]++
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Cluster sizes (%d %s)", d.X.Len, what)
	p.X.Label.Text = "cluster"
	p.Y.Label.Text = what
	w := vg.Points(max(8, 300/float64(k)))
	b1, err := plotter.NewBarChart(normal, w)
	if err != nil {
		return err
	}
	b1.Color = color.RGBA{31, 120, 180, 255}
	b1.LineStyle.Width = 0
	b2, err := plotter.NewBarChart(anomal, w)
	if err != nil {
		return err
	}
	b2.Color = color.RGBA{227, 26, 28, 255}
	b2.LineStyle.Width = 0
	b2.StackOn(b1)
	p.Add(plotter.NewGrid(), b1, b2)
	p.Legend.Add("within spread", b1)
	p.Legend.Add(fmt.Sprintf("anomalous (score ≥ %g)", m.Threshold), b2)
	p.Legend.Top = true
	p.Y.Min = 0
	p.Y.Max *= 1.2 // room for the legend
	names := make([]string, k)
	for c := range names {
		names[c] = strconv.Itoa(c)
	}
	p.NominalX(names...)
	return save(dir, "cluster_sizes", 7*vg.Inch, 4.5*vg.Inch, p.Draw)
}

// centreGrid is the heat map grid: clusters across, features down.
type centreGrid struct {
	z     [][]float64 // [cluster][feature index in feats]
	feats []int
}

// Dims, Z, X and Y implement plotter.GridXYZ.
func (g centreGrid) Dims() (c, r int)   { return len(g.z), len(g.feats) }
func (g centreGrid) Z(c, r int) float64 { return g.z[c][g.feats[r]] }
func (g centreGrid) X(c int) float64    { return float64(c) }
func (g centreGrid) Y(r int) float64    { return float64(r) }

func plotCentres(dir string, d ClusterData) error {
	m := d.Model
	zs, err := CentreZ(m, d.X)
	if err != nil {
		return err
	}
	// The features whose centre values differ most from the mean in any cluster.
	nf := len(m.Features)
	score := make([]float64, nf)
	for _, row := range zs {
		for j, v := range row {
			score[j] = max(score[j], math.Abs(v))
		}
	}
	order := make([]int, nf)
	for j := range order {
		order[j] = j
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	feats := order[:min(25, nf)]
	// Most distinguishing at the top: the heat map's Y grows upwards.
	for i, j := 0, len(feats)-1; i < j; i, j = i+1, j-1 {
		feats[i], feats[j] = feats[j], feats[i]
	}
	lim := 0.0
	for _, row := range zs {
		for _, j := range feats {
			lim = max(lim, math.Abs(row[j]))
		}
	}
	lim = math.Min(math.Max(lim, 0.5), 5)
	pal := moreland.SmoothBlueRed()
	pal.SetMin(-lim)
	pal.SetMax(lim)
	g := centreGrid{z: clip(zs, lim), feats: feats}
	h := plotter.NewHeatMap(g, pal.Palette(255))
	h.Min, h.Max = -lim, lim
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Cluster centres on the %d most distinguishing features: z = (centre − mean) / std. dev.", len(feats))
	p.X.Label.Text = "cluster"
	p.Add(h)
	k := m.K()
	xs := make([]string, k)
	for c := range xs {
		xs[c] = strconv.Itoa(c)
	}
	p.NominalX(xs...)
	ys := make([]string, len(feats))
	for r, j := range feats {
		ys[r] = m.Features[j]
	}
	p.NominalY(ys...)
	bar := plot.New()
	bar.Title.Text = "z"
	cb := &plotter.ColorBar{ColorMap: pal, Vertical: true}
	bar.Add(cb)
	bar.HideX()
	bar.Y.Padding = 0
	hgt := vg.Length(2.5+0.28*float64(len(feats))) * vg.Inch
	wid := vg.Length(math.Max(7, 3.5+0.5*float64(k))) * vg.Inch
	return save(dir, "cluster_centres", wid, hgt, func(c draw.Canvas) {
		right := c.Max.X - vg.Inch
		main := draw.Crop(c, 0, -vg.Inch-vg.Points(10), 0, 0)
		p.Draw(main)
		side := draw.Crop(c, right-c.Min.X+vg.Points(10), 0, vg.Points(40), -vg.Points(40))
		bar.Draw(side)
	})
}

func clip(zs [][]float64, lim float64) [][]float64 {
	out := make([][]float64, len(zs))
	for c, row := range zs {
		out[c] = make([]float64, len(row))
		for j, v := range row {
			out[c][j] = math.Max(-lim, math.Min(lim, v))
		}
	}
	return out
}
