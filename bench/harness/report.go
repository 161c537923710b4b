package harness

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Markdown writes the report as Markdown tables.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	row := func(k, f string, a ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("path through the appliance", "%s", r.Path)
	row("senders", "replay %s; baselines %s (xdp_drop_method %s)", r.Sender, r.BaselineSender, r.XDPDropMethod)
	row("offered", "%.0f pkt/s", r.OfferedPPS)
	row("delivered", "%.0f pkt/s", r.DeliveredPPS)
	if r.Drop != nil {
		if d := r.Drop; d.Method == DropTestRun {
			row("XDP drop: bare XDP_DROP / flowsieve (test runs, cached flow verdict)", "%.1f / %.1f ns/packet = **%.3f**", d.TestRun.BareNs, d.TestRun.FlowNs, d.Ratio)
		} else {
			row("XDP drop: flowsieve / bare XDP_DROP (wire, live frames)", "%.0f / %.0f pkt/s = **%.3f**", d.FlowsievePPS, d.BarePPS, d.Ratio)
		}
		if t := r.Drop.TestRun; t != nil {
			row("XDP drop by test runs: bare / flowsieve uncached flow verdicts, prefix", "%.1f / %.1f = %.3f, %.1f / %.1f = %.3f ns/packet",
				t.BareNs, t.FlowUncachedNs, t.FlowUncachedRatio, t.BareNs, t.PrefixNs, t.PrefixRatio)
		}
		bound := ""
		if r.Drop.SenderBound {
			bound = " (sender-bound: the receivers dropped all it sent)"
		}
		row("XDP drop on the wire: flowsieve / bare, sender "+r.Drop.Sender, "%.0f / %.0f pkt/s = %.3f; sender %.0f pkt/s%s",
			r.Drop.FlowsievePPS, r.Drop.BarePPS, r.Drop.WireRatio, r.Drop.SenderPPS, bound)
	}
	if r.Rx != nil {
		bound := ""
		if r.Rx.SenderBound {
			bound = ", sender-bound"
		}
		row("AF_XDP receive: xdp/afxdp / reference loop", "%.0f / %.0f pkt/s = **%.3f** (sender %s%s)", r.Rx.AfxdpPPS, r.Rx.ReferencePPS, r.Rx.Ratio, r.Rx.Sender, bound)
	}
	if f := r.Forward; f != nil {
		row("appliance forwarding, new flows (user space, worker TX) / reference AF_XDP forwarder (l2fwd)", "%.0f / %.0f pkt/s = **%.3f** (offered %.0f pkt/s, %d of %d delivered; forwarder %d of %d, its rx_dropped %d)",
			f.NewFlowsPPS, f.ForwarderPPS, f.NewOverReference, f.NewOfferedPPS, f.NewDelivered, f.NewSent, f.ForwarderDelivered, f.ForwarderSent, f.ForwarderRxDropped)
		row("appliance forwarding, new flows / AF_XDP receive-only loop", "%.0f / %.0f pkt/s = %.3f", f.NewFlowsPPS, f.ReferencePPS, f.NewOverRxLoop)
		if p := f.AtReferenceRate; p != nil {
			row("appliance forwarding, new flows at the reference forwarder's top rate", "%.0f pkt/s offered: %d of %d delivered, daemon rx_dropped **%d**, rx_ring_full %d",
				p.OfferedPPS, p.Delivered, p.Sent, p.RxDropped, p.RxRingFull)
		}
		bound := ""
		if f.SenderBound {
			bound = ", sender-bound: the ratios measure the sender"
		}
		row("appliance forwarding, offloaded flow (PASS verdict, kernel devmap) / bare devmap forwarder", "%.0f / %.0f pkt/s = **%.3f** (%d of %d delivered; sender %s%s)",
			f.OffloadedPPS, f.RedirectPPS, f.OffloadedOverRedirect, f.OffloadedDelivered, f.OffloadedSent, f.Sender, bound)
		row("appliance forwarding, offloaded flow / bare XDP_DROP (a drop is cheaper than a redirect)", "%.0f / %.0f pkt/s = %.3f",
			f.OffloadedPPS, f.BarePPS, f.OffloadedOverBare)
		row("appliance forwarding: daemon's AF_XDP sockets", "%s", f.DaemonSockets)
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
	for _, a := range []*LatencyAdded{r.LatencyAdded, r.LatencyAddedUnderLoad} {
		if a == nil {
			continue
		}
		if rs := a.Residence; rs != nil {
			row("daemon's own residence histogram ("+a.Load+")", "%d frames forwarded, p50 ≤ %.0f µs, p99 ≤ %.0f µs in user space (arrival stamp to TX ring; bucket bounds)", rs.Frames, rs.P50us, rs.P99us)
		}
		if a.Rounds > 1 {
			row("latency added by the appliance alone: how", "each figure the median of %d rounds; the added ones medians of the per-round differences (appliance − baseline of the same round)", a.Rounds)
		}
		row("latency added by the appliance alone, new flows ("+a.Load+")", "p50 **%.0f µs**, p99 **%.0f µs** (%s %.0f / %.0f µs − %s %.0f / %.0f µs; %d / %d probes of %d / %d sent)",
			a.AddedNewP50us, a.AddedNewP99us, a.Path, a.NewP50us, a.NewP99us, a.BaselinePath, a.BaselineNewP50us, a.BaselineNewP99us, a.NewProbes[0], a.NewProbes[1], a.ProbesSent[0]-a.ProbesSent[0]/2, a.ProbesSent[1]-a.ProbesSent[1]/2)
		row("latency added by the appliance alone, offloaded flows (PASS prefix verdict, devmap; "+a.Load+")", "p50 **%.0f µs**, p99 **%.0f µs** (%s %.0f / %.0f µs − %s %.0f / %.0f µs; %d / %d probes of %d / %d sent)",
			a.AddedOffP50us, a.AddedOffP99us, a.Path, a.OffP50us, a.OffP99us, a.BaselinePath, a.BaselineOffP50us, a.BaselineOffP99us, a.OffProbes[0], a.OffProbes[1], a.ProbesSent[0]/2, a.ProbesSent[1]/2)
	}
	if o := r.overloaded(); len(o) > 0 {
		row("daemon's user-space path overloaded (frames lost at its AF_XDP sockets)", "**yes**, in: %s", strings.Join(o, "; "))
	} else if r.Path == PathAppliance {
		row("daemon's user-space path overloaded", "no: no frame lost at its AF_XDP sockets in any replay")
	}
	r.captureTable(&b)
	for _, rp := range r.Replays {
		fmt.Fprintf(&b, "\n**%s** — path %s, %s via %s (verdicts per %s), %d queues, %d frames in %.2f s (%d skipped): offered %.0f pkt/s, delivered %.0f pkt/s; process CPU %.2f, machine busy %.0f%%",
			rp.Name, rp.Path, rp.Timing, rp.Sender, rp.Scope, rp.Queues, rp.Frames, rp.Seconds, rp.Skipped, rp.OfferedPPS, rp.DeliveredPPS, rp.ProcessCPU, 100*rp.MachineCPU)
		if rp.Decision > 0 && len(rp.Mitigation) > 0 {
			fmt.Fprintf(&b, "; attack frames through before the verdict (decision point %d): p50 %.0f, p99 %.0f, max %.0f over %d %ss; verdict write %.0f µs",
				rp.Decision, rp.MitigationP50, rp.MitigationP99, rp.MitigationMax, len(rp.Mitigation), rp.Scope, rp.MitigationTime)
		}
		if t := rp.TTM; t != nil && t.Units+t.Unmitigated > 0 {
			fmt.Fprintf(&b, "; time to mitigation (first frame sent → first frame dropped): p50 %s, p99 %s, max %s over %d %ss (%d with more than %d frames never dropped)",
				secs(t.P50), secs(t.P99), secs(t.Max), t.Units, rp.Scope, t.Unmitigated, rp.Decision)
		}
		if rp.Path == PathBaseline {
			fmt.Fprintf(&b, "; no appliance: the minimal XDP forwarder in its place (the latency baseline); %d of %d frames delivered\n", rp.Delivered, rp.Frames)
			continue
		}
		if rp.Split != "" {
			fmt.Fprintf(&b, "; replayed: %s", rp.Split)
		}
		app := rp.Path == PathAppliance
		fmt.Fprintf(&b, "\n\n| label | flows | offered | delivered | dropped | lost | expected | treated as expected | dropped / ideal | TTM p50 / p99 / max |")
		if app {
			fmt.Fprintf(&b, " flows with a verdict (DROP) | dropped by verdict |")
		}
		fmt.Fprintf(&b, "\n|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
		if app {
			fmt.Fprintf(&b, "---:|---:|")
		}
		b.WriteByte('\n')
		for _, name := range sortedLabels(rp.PerLabel) {
			l := rp.PerLabel[name]
			ideal := "—"
			if l.IdealDropped > 0 {
				ideal = fmt.Sprintf("%.3f", float64(l.Dropped)/float64(l.IdealDropped))
			}
			ttm := "—"
			if t := rp.TTMPerLabel[name]; t != nil && t.Units > 0 {
				ttm = fmt.Sprintf("%s / %s / %s (%d)", secs(t.P50), secs(t.P99), secs(t.Max), t.Units)
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s | %.3f | %s | %s |", name, l.Flows, l.Offered, l.Delivered, l.Dropped, l.Lost, l.Expected, l.Correct, ideal, ttm)
			if app {
				fmt.Fprintf(&b, " %d (%d) | %d |", l.VerdictFlows, l.DropVerdictFlows, l.VerdictDropped)
			}
			b.WriteByte('\n')
		}
		if app {
			fmt.Fprintf(&b, "\nDaemon: %s.", rp.DaemonSockets)
			if len(rp.Classified) > 0 {
				var cl []string
				for _, k := range slices.Sorted(maps.Keys(rp.Classified)) {
					cl = append(cl, fmt.Sprintf("%s %d", k, rp.Classified[k]))
				}
				fmt.Fprintf(&b, " Flows classified by predicted label: %s.", strings.Join(cl, ", "))
			}
			if d := rp.Detection; d != nil {
				fmt.Fprintf(&b, " Detection: of %d flows classified, %.1f%% as %s, %.1f%% as any attack", d.Classified, 100*d.LabelRate, d.Label, 100*d.AttackRate)
				if !d.Drained {
					b.WriteString(" (some flows still live when read)")
				}
				b.WriteByte('.')
			}
			b.WriteByte('\n')
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
// the verdict, and the time to mitigation's p50/p99/max per label in ms) of the
// first replay into dir, and returns their paths.
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
	// Time to mitigation: frames through, and seconds, per unit.
	var plots []*plot.Plot
	if len(rp.Mitigation) > 0 {
		p = plot.New()
		p.Title.Text = fmt.Sprintf("attack frames delivered per %s before its verdict (decision point %d)", rp.Scope, rp.Decision)
		p.X.Label.Text = "frames delivered"
		p.Y.Label.Text = rp.Scope + "s"
		h, err := plotter.NewHist(plotter.Values(rp.Mitigation), 30)
		if err != nil {
			return nil, err
		}
		p.Add(h)
		plots = append(plots, p)
	}
	if t := rp.TTM; t != nil && t.Units > 0 {
		// Per label: p50, p99 and max of the seconds, as grouped bars in ms.
		var names []string
		var q [3]plotter.Values
		for _, n := range slices.Sorted(maps.Keys(rp.TTMPerLabel)) {
			if l := rp.TTMPerLabel[n]; l.Units > 0 {
				names = append(names, fmt.Sprintf("%s (%d)", n, l.Units))
				q[0], q[1], q[2] = append(q[0], l.P50*1e3), append(q[1], l.P99*1e3), append(q[2], l.Max*1e3)
			}
		}
		p = plot.New()
		p.Title.Text = fmt.Sprintf("time to mitigation per %s, first frame sent → first frame dropped (all: p50 %s, p99 %s, max %s)", rp.Scope, secs(t.P50), secs(t.P99), secs(t.Max))
		p.Y.Label.Text = "ms"
		w := vg.Points(10)
		for i, name := range []string{"p50", "p99", "max"} {
			bc, err := plotter.NewBarChart(q[i], w)
			if err != nil {
				return nil, err
			}
			bc.Color = plotutil.Color(i)
			bc.Offset = vg.Length(i-1) * w
			p.Add(bc)
			p.Legend.Add(name, bc)
		}
		p.Legend.Top = true
		p.NominalX(names...)
		plots = append(plots, p)
	}
	if len(plots) > 0 {
		path := filepath.Join(dir, "mitigation.png")
		if err := savePlots(plots, path); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// secs formats seconds with a unit that keeps three significant digits.
func secs(v float64) string {
	switch {
	case v == 0:
		return "0 s"
	case v < 1e-3:
		return fmt.Sprintf("%.0f µs", v*1e6)
	case v < 1:
		return fmt.Sprintf("%.1f ms", v*1e3)
	}
	return fmt.Sprintf("%.2f s", v)
}

// savePlots stacks plots vertically into one PNG.
func savePlots(plots []*plot.Plot, path string) error {
	const w, h = 8 * vg.Inch, 4 * vg.Inch
	img := vgimg.New(w, h*vg.Length(len(plots)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*plot.Plot{p}
	}
	for i, cs := range plot.Align(grid, tiles, dc) {
		grid[i][0].Draw(cs[0])
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

// overloaded names the replays (and the forwarding measurement) in which the
// daemon's sockets lost frames, with how many.
func (r *Report) overloaded() []string {
	var out []string
	for _, rp := range r.Replays {
		if d := rp.DaemonSockets; d != nil && d.Overloaded {
			out = append(out, fmt.Sprintf("%s (%s): rx_dropped %d, rx_ring_full %d, fill ring empty %d", rp.Name, rp.Timing, d.RxDropped, d.RxRingFull, d.RxFillRingEmptyDescs))
		}
	}
	if f := r.Forward; f != nil && f.DaemonSockets != nil && f.DaemonSockets.Overloaded {
		d := f.DaemonSockets
		out = append(out, fmt.Sprintf("forwarding measurement (new flows at top speed): rx_dropped %d, rx_ring_full %d, fill ring empty %d", d.RxDropped, d.RxRingFull, d.RxFillRingEmptyDescs))
	}
	return out
}

// captureTable writes one row per replayed capture (not the generated scenario
// nor the baseline wire): the summary of detection on real traffic.
func (r *Report) captureTable(b *strings.Builder) {
	var rows []*Replay
	for _, rp := range r.Replays {
		if rp.Path != PathBaseline && !strings.HasPrefix(rp.Name, "generated ") {
			rows = append(rows, rp)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\nReal captures (%s path", rows[0].Path)
	if rows[0].Split != "" {
		b.WriteString("; the second half of each, its first half trained the model — see the notes")
	}
	fmt.Fprintf(b, "; verdicts per %s, decision point %d):\n\n", rows[0].Scope, rows[0].Decision)
	b.WriteString("| capture | label | timing | offered | delivered | dropped (by verdict) | dropped / ideal | TTM p50 / p99 | flows classified: as label, as any attack | daemon sockets |\n|---|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, rp := range rows {
		for _, name := range sortedLabels(rp.PerLabel) {
			l := rp.PerLabel[name]
			ideal := "—"
			if l.IdealDropped > 0 {
				ideal = fmt.Sprintf("%.3f", float64(l.Dropped)/float64(l.IdealDropped))
			}
			byVerdict := ""
			if rp.Path == PathAppliance && rp.Scope == ScopeFlow {
				byVerdict = fmt.Sprintf(" (%d)", l.VerdictDropped)
			}
			ttm := "—"
			if t := rp.TTMPerLabel[name]; t != nil && t.Units > 0 {
				ttm = fmt.Sprintf("%s / %s (%d of %d)", secs(t.P50), secs(t.P99), t.Units, t.Units+t.Unmitigated)
			} else if t != nil && t.Unmitigated > 0 {
				ttm = fmt.Sprintf("none of %d", t.Unmitigated)
			}
			det, sock := "—", "—"
			if d := rp.Detection; d != nil && d.Label == name {
				det = fmt.Sprintf("%d: %.3f, %.3f", d.Classified, d.LabelRate, d.AttackRate)
				if !d.Drained {
					det += " (flows still live)"
				}
			}
			if d := rp.DaemonSockets; d != nil {
				sock = "kept up"
				if d.Overloaded {
					sock = fmt.Sprintf("overloaded (rx_dropped %d, rx_ring_full %d)", d.RxDropped, d.RxRingFull)
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %d | %d | %d%s | %s | %s | %s | %s |\n", captureName(rp.Name), name, rp.Timing,
				l.Offered, l.Delivered, l.Dropped, byVerdict, ideal, ttm, det, sock)
		}
	}
}

// captureName shortens a capture's path to its data-set folder and file name.
func captureName(name string) string {
	dir, file := filepath.Split(name)
	return filepath.Join(filepath.Base(dir), file)
}
