package harness

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Markdown writes the report as Markdown tables.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	row := func(k, f string, a ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("path through the appliance", "%s", r.Path)
	row("offered", "%.0f pkt/s", r.OfferedPPS)
	row("delivered", "%.0f pkt/s", r.DeliveredPPS)
	if r.Drop != nil {
		row("XDP drop: flowsieve / bare XDP_DROP", "%.0f / %.0f pkt/s = **%.3f**", r.Drop.FlowsievePPS, r.Drop.BarePPS, r.Drop.Ratio)
	}
	if r.Rx != nil {
		row("AF_XDP receive: xdp/afxdp / reference loop", "%.0f / %.0f pkt/s = **%.3f**", r.Rx.AfxdpPPS, r.Rx.ReferencePPS, r.Rx.Ratio)
	}
	if f := r.Forward; f != nil {
		row("appliance forwarding, new flows (user space, worker TX) / AF_XDP reference loop", "%.0f / %.0f pkt/s = **%.3f** (offered %.0f pkt/s, %d of %d delivered)",
			f.NewFlowsPPS, f.ReferencePPS, f.NewOverReference, f.NewOfferedPPS, f.NewDelivered, f.NewSent)
		row("appliance forwarding, offloaded flow (PASS verdict, kernel devmap) / bare XDP_DROP", "%.0f / %.0f pkt/s = **%.3f** (%d of %d delivered)",
			f.OffloadedPPS, f.BarePPS, f.OffloadedOverBare, f.OffloadedDelivered, f.OffloadedSent)
	}
	if r.Engine != nil {
		row("engine alone (from memory)", "%.0f pkt/s (delivered/engine %.3f)", r.Engine.PPS, r.DeliveredOverEngine)
		row("flowsieve tree", "fit %.3f s, predict %.0f ns/row, accuracy %.4f (%d train / %d test flows)", r.Engine.FitSeconds, r.Engine.PredictNsRow, r.Engine.Accuracy, r.Engine.TrainRows, r.Engine.TestRows)
	}
	if r.Sklearn != nil {
		row("scikit-learn "+r.Sklearn.Version, "fit %.3f s (%.2f× flowsieve's), predict %.0f ns/row (%.1f× flowsieve's), accuracy %.4f; MiniBatchKMeans fit %.3f s", r.Sklearn.FitSeconds, r.SklearnFitRatio, r.Sklearn.PredictNsRow, r.SklearnPredictRatio, r.Sklearn.Accuracy, r.Sklearn.KMeansSeconds)
	}
	if r.LatencyP50us != nil {
		row("latency p50 / p99", "%.0f / %.0f µs: %s", *r.LatencyP50us, *r.LatencyP99us, r.LatencyNote)
	} else {
		row("latency p50 / p99", "%s", r.LatencyNote)
	}
	for _, rp := range r.Replays {
		fmt.Fprintf(&b, "\n**%s** — %s via %s (verdicts per %s), %d queues, %d frames in %.2f s (%d skipped): offered %.0f pkt/s, delivered %.0f pkt/s; process CPU %.2f, machine busy %.0f%%",
			rp.Name, rp.Timing, rp.Sender, rp.Scope, rp.Queues, rp.Frames, rp.Seconds, rp.Skipped, rp.OfferedPPS, rp.DeliveredPPS, rp.ProcessCPU, 100*rp.MachineCPU)
		if rp.Decision > 0 && len(rp.Mitigation) > 0 {
			fmt.Fprintf(&b, "; attack frames through before the verdict (decision point %d): p50 %.0f, p99 %.0f, max %.0f over %d %ss; verdict write %.0f µs",
				rp.Decision, rp.MitigationP50, rp.MitigationP99, rp.MitigationMax, len(rp.Mitigation), rp.Scope, rp.MitigationTime)
		}
		fmt.Fprintf(&b, "\n\n| label | flows | offered | delivered | dropped | lost | expected | treated as expected | dropped / ideal |\n|---|---:|---:|---:|---:|---:|---|---:|---:|\n")
		for _, name := range sortedLabels(rp.PerLabel) {
			l := rp.PerLabel[name]
			ideal := "—"
			if l.IdealDropped > 0 {
				ideal = fmt.Sprintf("%.3f", float64(l.Dropped)/float64(l.IdealDropped))
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s | %.3f | %s |\n", name, l.Flows, l.Offered, l.Delivered, l.Dropped, l.Lost, l.Expected, l.Correct, ideal)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedLabels(m map[string]*LabelResult) []string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Plots writes rate.png (offered and delivered over time), labels.png (delivered
// and dropped share per label) and mitigation.png (attack frames through before
// the verdict) of the first replay into dir, and returns their paths.
func (r *Report) Plots(dir string) ([]string, error) {
	if len(r.Replays) == 0 {
		return nil, nil
	}
	rp := r.Replays[0]
	var paths []string
	save := func(p *plot.Plot, name string) error {
		path := filepath.Join(dir, name)
		if err := p.Save(8*vg.Inch, 4*vg.Inch, path); err != nil {
			return err
		}
		paths = append(paths, path)
		return nil
	}
	// Rate over time.
	p := plot.New()
	p.Title.Text = "rate over time: " + rp.Name
	p.X.Label.Text = "s"
	p.Y.Label.Text = "packets/s"
	rate := func(s []Sample) plotter.XYs {
		var xy plotter.XYs
		for i := 1; i < len(s); i++ {
			dt := (s[i].At - s[i-1].At).Seconds()
			if dt <= 0 {
				continue
			}
			xy = append(xy, plotter.XY{X: s[i].At.Seconds(), Y: float64(s[i].Count-s[i-1].Count) / dt})
		}
		return xy
	}
	p.Legend.Top = true
	if err := plotutil.AddLines(p, "offered", rate(rp.Offered), "delivered", rate(rp.DeliveredSeries)); err != nil {
		return nil, err
	}
	if err := save(p, "rate.png"); err != nil {
		return nil, err
	}
	// Delivered and dropped per label.
	names := sortedLabels(rp.PerLabel)
	var del, drp plotter.Values
	for _, n := range names {
		l := rp.PerLabel[n]
		del = append(del, float64(l.Delivered)/float64(max(1, l.Offered)))
		drp = append(drp, float64(l.Dropped)/float64(max(1, l.Offered)))
	}
	p = plot.New()
	p.Title.Text = "share of offered frames per label"
	w := vg.Points(12)
	b1, err := plotter.NewBarChart(del, w)
	if err != nil {
		return nil, err
	}
	b1.Color = plotutil.Color(0)
	b1.Offset = -w / 2
	b2, err := plotter.NewBarChart(drp, w)
	if err != nil {
		return nil, err
	}
	b2.Color = plotutil.Color(1)
	b2.Offset = w / 2
	p.Add(b1, b2)
	p.Legend.Add("delivered", b1)
	p.Legend.Add("dropped", b2)
	p.Legend.Top = true
	p.NominalX(names...)
	p.Y.Max = 1.15
	if err := save(p, "labels.png"); err != nil {
		return nil, err
	}
	// Time to mitigation.
	if len(rp.Mitigation) > 0 {
		p = plot.New()
		p.Title.Text = fmt.Sprintf("attack frames delivered per flow before its verdict (decision point %d)", rp.Decision)
		p.X.Label.Text = "frames delivered"
		p.Y.Label.Text = "flows"
		h, err := plotter.NewHist(plotter.Values(rp.Mitigation), 30)
		if err != nil {
			return nil, err
		}
		p.Add(h)
		if err := save(p, "mitigation.png"); err != nil {
			return nil, err
		}
	}
	return paths, nil
}
