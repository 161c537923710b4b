package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/flowsieve/flowsieve/engine/training"
	"github.com/flowsieve/flowsieve/engine/tree"
)

func main() {
	rows := flag.String("rows", "", "folder written by `flowsieve dataset build` (rows.csv, sources.json)")
	out := flag.String("out", "", "folder for crossdata.md, crossdata.json and crossdata.png (empty: print the Markdown only)")
	sets := flag.String("sets", "", "comma-separated feature sets to compare (empty: all)")
	gen := flag.Duration("generated", 20*time.Second, "length of each generated mixed capture (seed 1 trains, seed 2 tests); 0: none")
	decision := flag.Int("decision-packets", 8, "decision point of the generated rows (the manifest's decision_packets)")
	depth := flag.Int("max-depth", 12, "tree depth")
	leaf := flag.Int("min-samples-leaf", 5, "tree minimum samples per leaf")
	weight := flag.String("class-weight", "balanced", "class weights: balanced, empty, or NAME=W,...")
	bin := flag.Bool("binary", false, "train on BENIGN against one ATTACK class instead of the attack kinds")
	k := flag.Int("open-set", 16, "k-means clusters of the open-set outcome (UNKNOWN: far from every training cluster); 0: none")
	thr := flag.Float64("open-set-threshold", 1.001, "anomaly threshold on the k-means score (1: the cluster's -open-set-quantile training distance; just above 1, flows that tie at it are not UNKNOWN)")
	bs := flag.Bool("balance-sources", false, "weigh every source the same within each class (engine/training.Options.BalanceSources)")
	q := flag.Float64("open-set-quantile", training.OpenSetQuantile, "quantile of each cluster's training distances the open-set score 1 stands for")
	thrs := flag.Bool("thresholds", false, "choose per-label thresholds on each fold's training sources (nested leave-one-source-out: CPU-heavy) and on every source for the policy")
	cost := flag.Float64("fp-cost", training.DefaultFPCost, "what one point of benign false positives costs against one point of attack recall when thresholds are chosen")
	flag.Parse()
	if *rows == "" {
		fmt.Fprintln(os.Stderr, "crossdata: -rows DIR is required")
		os.Exit(2)
	}
	c := Config{BalanceSources: *bs, OpenSet: training.OpenSet{K: *k, Threshold: *thr, Quantile: *q, Seed: 1}, Thresholds: *thrs, FPCost: *cost, Binary: *bin, Rows: *rows, Generated: *gen, Decision: *decision, Weight: *weight,
		Tree: tree.Params{MaxDepth: *depth, MinSamplesLeaf: *leaf, Seed: 1}}
	if *sets != "" {
		c.Sets = strings.Split(*sets, ",")
	}
	res, err := Run(c, os.Stderr)
	if err == nil {
		err = write(res, *out, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crossdata:", err)
		os.Exit(1)
	}
}

// write prints the Markdown to stdout and, with a folder, writes the three files.
func write(res *Result, dir string, stdout io.Writer) error {
	res.Markdown(stdout)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "crossdata.md"))
	if err != nil {
		return err
	}
	res.Markdown(f)
	if err := f.Close(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "crossdata.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return plotPNG(res, filepath.Join(dir, "crossdata.png"))
}

// plotPNG draws, per held-out source, the figure of every feature set as grouped bars
// (percent: attack recall of attack sources, false positives of benign ones).
func plotPNG(res *Result, path string) error {
	if len(res.Sets) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "leave-one-source-out: attack recall (attack) / benign false positives (benign), % of flows"
	p.Y.Label.Text = "%"
	w := vg.Points(60 / float64(len(res.Sets)))
	var names []string
	for _, h := range res.Sets[0].HeldOut {
		names = append(names, fmt.Sprintf("%s (%s)", h.Source, h.Role))
	}
	for k, s := range res.Sets {
		v := make(plotter.Values, len(s.HeldOut))
		for i, h := range s.HeldOut {
			v[i] = 100 * h.Rate
		}
		bars, err := plotter.NewBarChart(v, w)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(k)
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(k-len(res.Sets)/2)
		p.Add(bars)
		p.Legend.Add(s.Name, bars)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.9
	p.X.Tick.Label.XAlign = -1
	return p.Save(vg.Length(90*len(names))+4*vg.Inch, 6*vg.Inch, path)
}
