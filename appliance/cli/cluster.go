package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/progress"
	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/report"
	"github.com/flowsieve/flowsieve/engine/source"
)

// Flag names of the cluster command.
const (
	clusterFlagData      = "data"
	clusterFlagK         = "k"
	clusterFlagKRange    = "k-range"
	clusterFlagBy        = "by"
	clusterFlagTransform = "transform"
	clusterFlagSeed      = "seed"
	clusterFlagFormat    = "format"
	clusterFlagPlot      = "plot"
	clusterFlagOut       = "out"
	clusterFlagBatch     = "batch-size"
	clusterFlagThreshold = "threshold"
	clusterFlagQuantile  = "quantile"
	clusterFlagLabelDirs = "label-dirs"
	clusterFlagSample    = "silhouette-sample"
	clusterFlagTop       = "top-features"
	clusterFlagNonFinite = "non-finite"
	clusterFlagInto      = "into"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:      "cluster",
		Usage:     "group flows or hosts with mini-batch k-means, score anomalies and describe the clusters",
		ArgsUsage: " ",
		Description: Prose(`Reads flow tables (CSV) or captures (pcap, pcapng; directories are searched for both),
			clusters the flows (or, with --by source, the hosts that started them) with mini-batch k-means,
			and prints one summary per cluster: its size, the centre values that set it apart, its top
			addresses, ports and protocols, and its label mix with purity and adjusted Rand index when
			the data has labels. --k-range reports inertia and silhouette for a range of k to help choose k.`),
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: clusterFlagData, Required: true, EnvVars: []string{"FLOWSIEVE_CLUSTER_DATA"},
				Usage: "Flow table (CSV) or capture file, or a directory holding them. Repeat the flag for several inputs."},
			&cli.IntFlag{Name: clusterFlagK, EnvVars: []string{"FLOWSIEVE_CLUSTER_K"},
				Usage: "Number of clusters. Required unless --k-range is given, which then picks the k with the best silhouette."},
			&cli.StringFlag{Name: clusterFlagKRange, Usage: "Range of k to report inertia and silhouette for, as A:B (for example 2:12)."},
			&cli.StringFlag{Name: clusterFlagBy, Value: "flow", EnvVars: []string{"FLOWSIEVE_CLUSTER_BY"},
				Usage: "What to cluster: flow (every flow) or source (hosts: flows aggregated per source address, and per capture file for captures)."},
			&cli.StringFlag{Name: clusterFlagTransform, Value: string(cluster.TransformLog1p), EnvVars: []string{"FLOWSIEVE_CLUSTER_TRANSFORM"},
				Usage: "Feature transform before distances: none, standardize, or log1p (signed log1p, then standardize; suits heavy-tailed flow features)."},
			&cli.Uint64Flag{Name: clusterFlagSeed, Value: 1, EnvVars: []string{"FLOWSIEVE_SEED"},
				Usage: "Random seed. The same data and seed give the same clusters."},
			&cli.StringFlag{Name: clusterFlagFormat, Value: "auto", Usage: "CSV kind: auto (detected per file), flows, cic, nslkdd, kdd99, unsw or csv (any headered numeric CSV with a label column), as for train."},
			&cli.StringFlag{Name: clusterFlagPlot, Usage: "Directory to write pictures into (PCA scatter, cluster sizes, centre heat map; PNG and SVG)."},
			&cli.BoolFlag{Name: flagJSON, Usage: "Print the result as JSON instead of tables."},
			&cli.StringFlag{Name: clusterFlagOut, Usage: "File to save the fitted model to (JSON)."},
			&cli.StringFlag{Name: clusterFlagInto, Usage: "Model file (from train) to add the fitted k-means model to as its cluster section, so one file deploys both; the file is rewritten in place."},
			&cli.IntFlag{Name: clusterFlagBatch, Value: 1024, Usage: "Rows per mini-batch."},
			&cli.Float64Flag{Name: clusterFlagThreshold, Value: 1, Usage: "Anomaly threshold: a row whose distance to its centre divided by the cluster's --quantile training distance reaches this is an anomaly."},
			&cli.Float64Flag{Name: clusterFlagQuantile, Value: 0.99, Usage: "Quantile of each cluster's training distances that a score of 1 stands for (0.995: the 99.5th percentile)."},
			&cli.BoolFlag{Name: clusterFlagLabelDirs, Usage: "Label the flows of every capture with the name of the directory holding it (data sets with one class per directory)."},
			&cli.IntFlag{Name: clusterFlagSample, Value: 2000, Usage: "Rows sampled (with the seed) for silhouette scores."},
			&cli.IntFlag{Name: clusterFlagTop, Value: 4, Usage: "Distinguishing centre values shown per cluster."},
			&cli.StringFlag{Name: clusterFlagNonFinite, Value: "drop", Usage: "What to do with rows holding NaN or infinite feature values (CICFlowMeter writes them for zero-length flows): drop the rows, zero the values, or fail."},
		},
		Action: runCluster,
	}
}

// clusterRows is what the command clusters: features plus optional per-row identity.
type clusterRows struct {
	X      *features.Batch
	Labels []string // nil when no row has a label
	// FlowMeta is each row's identity; Group is its capture file ("" for CSV rows).
	cluster.FlowMeta
	Files []string
}

// clusterKRow is one line of the k-range report.
type clusterKRow struct {
	K          int     `json:"k"`
	Inertia    float64 `json:"inertia"`
	Silhouette float64 `json:"silhouette"`
}

// clusterResult is the --json document.
type clusterResult struct {
	K          int                     `json:"k"`
	Rows       int                     `json:"rows"`
	By         string                  `json:"by"`
	Transform  string                  `json:"transform"`
	Features   []string                `json:"features"`
	Inertia    float64                 `json:"inertia"`
	Sizes      []int                   `json:"sizes"`
	Silhouette float64                 `json:"silhouette"`
	Anomalies  int                     `json:"anomalies"`
	Purity     *float64                `json:"purity,omitempty"`
	ARI        *float64                `json:"adjusted_rand_index,omitempty"`
	KRange     []clusterKRow           `json:"k_range,omitempty"`
	Clusters   []report.ClusterSummary `json:"clusters"`
	Inputs     []string                `json:"inputs"`
	// DroppedRows counts flow rows left out for NaN or infinite values (--non-finite drop).
	DroppedRows int `json:"dropped_rows"`
}

func runCluster(c *cli.Context) error {
	by := c.String(clusterFlagBy)
	if by != "flow" && by != "source" {
		return cli.Exit(fmt.Sprintf("cluster: --by %q: want flow or source", by), 2)
	}
	tr, err := cluster.ParseTransform(c.String(clusterFlagTransform))
	if err != nil {
		return cli.Exit("cluster: --transform: "+err.Error(), 2)
	}
	k := c.Int(clusterFlagK)
	var kLo, kHi int
	if s := c.String(clusterFlagKRange); s != "" {
		a, b, ok := strings.Cut(s, ":")
		lo, e1 := strconv.Atoi(a)
		hi, e2 := strconv.Atoi(b)
		if !ok || e1 != nil || e2 != nil || lo < 1 || hi < lo {
			return cli.Exit(fmt.Sprintf("cluster: --k-range %q: want A:B with 1 ≤ A ≤ B", s), 2)
		}
		kLo, kHi = lo, hi
	}
	if k < 1 && kLo == 0 {
		return cli.Exit("cluster: give --k N (≥ 1) or --k-range A:B", 2)
	}
	rows, err := clusterLoadRows(c, c.StringSlice(clusterFlagData))
	if err != nil {
		return cli.Exit("cluster: "+err.Error(), 1)
	}
	dropped, err := clusterNonFinite(rows, c.String(clusterFlagNonFinite))
	if err != nil {
		return cli.Exit("cluster: "+err.Error(), 1)
	}
	what := "flows"
	data := rows
	if by == "source" {
		if data, err = clusterHostRows(rows); err != nil {
			return cli.Exit("cluster: --by source: "+err.Error(), 1)
		}
		what = "hosts"
	}
	x, err := clusterFeatures(data.X)
	if err != nil {
		return cli.Exit("cluster: "+err.Error(), 1)
	}
	cfg := cluster.Config{Seed: c.Uint64(clusterFlagSeed), BatchSize: c.Int(clusterFlagBatch),
		Transform: tr, Threshold: c.Float64(clusterFlagThreshold), Quantile: c.Float64(clusterFlagQuantile)}
	sample := c.Int(clusterFlagSample)
	res := clusterResult{By: by, Transform: string(tr), Rows: x.Len, Features: x.Names, Inputs: rows.Files, DroppedRows: dropped}
	out := c.App.Writer
	if kLo > 0 {
		bestSil := -2.0
		bar := progress.New(c.App.ErrWriter, int64(kHi-kLo+1), "k-range")
		for kk := kLo; kk <= kHi; kk++ {
			cfg.K = kk
			m, err := cluster.Fit(x, cfg)
			if err != nil {
				return cli.Exit(fmt.Sprintf("cluster: k=%d: %v", kk, err), 1)
			}
			sil := 0.0
			if kk > 1 {
				if sil, err = m.Silhouette(x, sample, cfg.Seed); err != nil {
					return cli.Exit(fmt.Sprintf("cluster: k=%d: %v", kk, err), 1)
				}
			}
			res.KRange = append(res.KRange, clusterKRow{kk, m.Inertia, sil})
			if kk > 1 && sil > bestSil && c.Int(clusterFlagK) < 1 {
				bestSil, k = sil, kk
			}
			bar.Add(1)
		}
		bar.Finish()
		if k < 1 {
			k = kLo
		}
		if !c.Bool(flagJSON) {
			tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "k\tinertia\tsilhouette (sample %d)\t\n", sample)
			for _, r := range res.KRange {
				fmt.Fprintf(tw, "%d\t%.4g\t%.3f\t\n", r.K, r.Inertia, r.Silhouette)
			}
			tw.Flush()
			fmt.Fprintf(out, "using k = %d\n\n", k)
		}
	}
	cfg.K = k
	m, err := cluster.Fit(x, cfg)
	if err != nil {
		return cli.Exit("cluster: "+err.Error(), 1)
	}
	assign := make([]int32, x.Len)
	score := make([]float32, x.Len)
	if err := m.Score(x, assign, score); err != nil {
		return cli.Exit("cluster: "+err.Error(), 1)
	}
	if k > 1 {
		if res.Silhouette, err = m.Silhouette(x, sample, cfg.Seed); err != nil {
			return cli.Exit("cluster: "+err.Error(), 1)
		}
	}
	rd := report.ClusterData{Model: m, X: x, Assign: assign, Score: score, Labels: data.Labels,
		Src: data.Src, Dst: data.Dst, DstPort: data.DstPort, Proto: data.Proto}
	sums, err := report.SummarizeClusters(rd, c.Int(clusterFlagTop))
	if err != nil {
		return cli.Exit("cluster: "+err.Error(), 1)
	}
	res.K, res.Inertia, res.Clusters = k, m.Inertia, sums
	for _, s := range sums {
		res.Sizes = append(res.Sizes, s.Size)
		res.Anomalies += s.Anomalies
	}
	if data.Labels != nil {
		p, a := cluster.Purity(assign, data.Labels), cluster.AdjustedRand(assign, data.Labels)
		res.Purity, res.ARI = &p, &a
	}
	if dir := c.String(clusterFlagPlot); dir != "" {
		if err := report.PlotClusters(dir, rd, what, 5000, cfg.Seed); err != nil {
			return cli.Exit("cluster: --plot: "+err.Error(), 1)
		}
	}
	if path := c.String(clusterFlagOut); path != "" {
		if err := m.Save(path); err != nil {
			return cli.Exit("cluster: --out: "+err.Error(), 1)
		}
	}
	if path := c.String(clusterFlagInto); path != "" {
		if err := clusterEmbed(path, m); err != nil {
			return cli.Exit("cluster: --into: "+err.Error(), 1)
		}
	}
	if c.Bool(flagJSON) {
		e := json.NewEncoder(out)
		e.SetIndent("", "  ")
		return e.Encode(res)
	}
	fmt.Fprintf(out, "%d %s from %d input(s), %d features (%s), k = %d: inertia %.4g, silhouette %.3f, %d anomalies (score ≥ %g)\n",
		x.Len, what, len(rows.Files), len(x.Names), tr, k, m.Inertia, res.Silhouette, res.Anomalies, m.Threshold)
	if dropped > 0 {
		fmt.Fprintf(out, "%d flow rows with NaN or infinite values were dropped (--non-finite)\n", dropped)
	}
	if res.Purity != nil {
		fmt.Fprintf(out, "against the labels: purity %.3f, adjusted Rand index %.3f\n", *res.Purity, *res.ARI)
	}
	fmt.Fprintln(out)
	return report.WriteClusterTable(out, sums)
}

// clusterEmbed adds m as the cluster section of the model file at path. A model over
// the engine's flow schema runs in the appliance, so every cluster feature must be a
// flow feature there.
func clusterEmbed(path string, m *cluster.Model) error {
	tm, err := model.Load(path)
	if err != nil {
		return err
	}
	if tm.Schema == model.SchemaFlow {
		for _, f := range m.Features {
			if _, ok := features.Index(f); !ok {
				return fmt.Errorf("%s has the flow schema, but cluster feature %q is not a flow feature (cluster flows from captures or flowsieve flow records instead)", path, f)
			}
		}
	}
	spec := m.Spec()
	tm.File.Cluster = &spec
	tm.Cluster = m
	return tm.Save(path)
}

// clusterFeatures keeps the numeric measurement columns of x: identifier columns of the
// flow schema (destination port, protocol) describe clusters in the summary but are
// not magnitudes, so they are left out of distances.
func clusterFeatures(x *features.Batch) (*features.Batch, error) {
	if x.Len == 0 {
		return nil, cluster.ErrEmpty
	}
	keep := &features.Batch{Len: x.Len}
	for j, n := range x.Names {
		if i, ok := features.Index(n); ok && features.Definitions[i].Unit == "" {
			continue
		}
		keep.Names = append(keep.Names, n)
		keep.Cols = append(keep.Cols, x.Cols[j])
	}
	if len(keep.Names) == 0 {
		return nil, fmt.Errorf("no numeric feature columns")
	}
	return keep, nil
}

// clusterNonFinite applies the --non-finite policy to the feature columns used for
// clustering and returns how many rows were dropped.
func clusterNonFinite(r *clusterRows, policy string) (int, error) {
	if policy != "drop" && policy != "zero" && policy != "fail" {
		return 0, fmt.Errorf("--non-finite %q: want drop, zero or fail", policy)
	}
	x, err := clusterFeatures(r.X)
	if err != nil {
		return 0, err
	}
	bad := make([]bool, r.X.Len)
	nbad := 0
	for j, col := range x.Cols {
		for i, v := range col[:x.Len] {
			if v-v != 0 { // NaN or ±Inf
				if policy == "fail" {
					return 0, fmt.Errorf("row %d, feature %q is %v (use --non-finite drop or zero)", i+1, x.Names[j], v)
				}
				if policy == "zero" {
					col[i] = 0
					continue
				}
				if !bad[i] {
					bad[i] = true
					nbad++
				}
			}
		}
	}
	if nbad == 0 {
		return 0, nil
	}
	keep := make([]int, 0, r.X.Len-nbad)
	for i, b := range bad {
		if !b {
			keep = append(keep, i)
		}
	}
	nx := features.NewBatch(r.X.Names, len(keep))
	nx.Len = len(keep)
	for j, col := range r.X.Cols {
		for t, i := range keep {
			nx.Cols[j][t] = col[i]
		}
	}
	r.X = nx
	r.Labels, r.Group, r.Src, r.Dst = pick(r.Labels, keep), pick(r.Group, keep), pick(r.Src, keep), pick(r.Dst, keep)
	r.DstPort, r.Proto = pick(r.DstPort, keep), pick(r.Proto, keep)
	r.First, r.Last = pick(r.First, keep), pick(r.Last, keep)
	return nbad, nil
}

// pick returns v's elements at idx (nil for nil v).
func pick[T any](v []T, idx []int) []T {
	if v == nil {
		return nil
	}
	out := make([]T, len(idx))
	for t, i := range idx {
		out[t] = v[i]
	}
	return out
}

// clusterHostRows aggregates flows per source (and capture file) into host rows; a host's
// label is the most common label of its flows.
func clusterHostRows(r *clusterRows) (*clusterRows, error) {
	if r.Src == nil {
		return nil, errors.New("the input has no source addresses (a flow table without Src IP, or no flows)")
	}
	h, err := cluster.Hosts(r.X, r.FlowMeta)
	if err != nil {
		return nil, err
	}
	out := &clusterRows{X: h.X, FlowMeta: cluster.FlowMeta{Src: h.Src}, Files: r.Files}
	if r.Labels != nil {
		for _, flows := range h.Flows {
			count := map[string]int{}
			best := ""
			for _, i := range flows {
				l := r.Labels[i]
				count[l]++
				if count[l] > count[best] || (count[l] == count[best] && l < best) {
					best = l
				}
			}
			out.Labels = append(out.Labels, best)
		}
	}
	return out, nil
}

// clusterExpandInputs turns the --data arguments into capture and CSV file lists; directories
// are walked (in name order) for captures (by content) and .csv files.
func clusterExpandInputs(args []string) (caps, csvs []string, err error) {
	add := func(path string, explicit bool) error {
		ok, err := source.Sniff(path)
		if err != nil {
			return err
		}
		switch {
		case ok:
			caps = append(caps, path)
		case explicit || strings.HasSuffix(strings.ToLower(path), ".csv") || strings.HasSuffix(strings.ToLower(path), ".csv.gz"):
			csvs = append(csvs, path)
		}
		return nil
	}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			if err := add(a, true); err != nil {
				return nil, nil, err
			}
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return add(p, false)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if len(caps)+len(csvs) == 0 {
		return nil, nil, fmt.Errorf("no captures or CSV files in %s", strings.Join(args, ", "))
	}
	return caps, csvs, nil
}

// clusterLoadRows reads every input: captures through the flow engine, CSV through
// engine/dataset.
func clusterLoadRows(c *cli.Context, args []string) (*clusterRows, error) {
	caps, csvs, err := clusterExpandInputs(args)
	if err != nil {
		return nil, err
	}
	r := &clusterRows{X: features.NewFlowBatch(0)}
	if len(caps) > 0 {
		if err := clusterReadCaptures(c, r, caps, c.Bool(clusterFlagLabelDirs)); err != nil {
			return nil, err
		}
	}
	if len(csvs) > 0 {
		if len(caps) > 0 {
			return nil, errors.New("mixing captures and CSV files in one run is not supported: their feature columns differ")
		}
		return clusterLoadCSV(csvs, c.String(clusterFlagFormat))
	}
	if r.X.Len == 0 {
		return nil, fmt.Errorf("no flows in %d capture(s)", len(caps))
	}
	if !c.Bool(clusterFlagLabelDirs) {
		r.Labels = nil
	}
	return r, nil
}

// clusterReadCaptures runs every capture through the offline flow engine (each capture in a
// fresh table, so flows never span files) and appends the ended flows to r.
func clusterReadCaptures(c *cli.Context, r *clusterRows, paths []string, labelDirs bool) error {
	bar := progress.New(c.App.ErrWriter, int64(len(paths)), "captures")
	defer bar.Finish()
	for _, path := range paths {
		label := ""
		if labelDirs {
			label = filepath.Base(filepath.Dir(path))
		}
		sink := func(f *flow.Flow, why flow.Reason) {
			if why == flow.Early {
				return
			}
			r.X.Grow(1)
			f.WriteRow(r.X)
			src, _ := f.Src()
			dst, dport := f.Dst()
			r.Src = append(r.Src, src.String())
			r.Dst = append(r.Dst, dst.String())
			r.DstPort = append(r.DstPort, dport)
			r.Proto = append(r.Proto, f.Proto())
			r.First = append(r.First, f.First())
			r.Last = append(r.Last, f.Last())
			r.Group = append(r.Group, path)
			r.Labels = append(r.Labels, label)
		}
		t, err := flow.New(flow.Config{Seed: c.Uint64(clusterFlagSeed)}, sink)
		if err != nil {
			return err
		}
		o := flow.Offline{Table: t}
		if err := o.ReadFile(path); err != nil {
			return err
		}
		t.Flush()
		r.Files = append(r.Files, path)
		bar.Add(1)
	}
	return nil
}
