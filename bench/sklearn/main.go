// Command sklearn is flowsieve's side of the decision-tree comparison with
// scikit-learn (see compare.sh): it loads a data set with engine/dataset, makes the
// stratified train/test split, writes both halves for compare.py as raw float32
// matrices plus label files (so both sides train and test on identical rows and
// values), trains flowsieve's tree with the same parameters, and prints one JSON
// line with accuracy, macro-F1, fit time and predict ns/row.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/report"
	"github.com/flowsieve/flowsieve/engine/tree"
)

type result struct {
	Dataset    string  `json:"dataset"`
	Rows       int     `json:"rows"`
	Features   int     `json:"features"`
	Classes    int     `json:"classes"`
	TrainRows  int     `json:"train_rows"`
	TestRows   int     `json:"test_rows"`
	Accuracy   float64 `json:"accuracy"`
	MacroF1    float64 `json:"macro_f1"`
	FitSeconds float64 `json:"fit_seconds"`
	PredictNs  float64 `json:"predict_ns_per_row"`
	Depth      int     `json:"depth"`
	Leaves     int     `json:"leaves"`
	MaxDepth   int     `json:"max_depth"`
	Criterion  string  `json:"criterion"`
	FitRepeats int     `json:"fit_repeats"`
	HeapMiB    float64 `json:"peak_heap_mib"`
}

func main() {
	var (
		name     = flag.String("name", "", "data set name for the table")
		data     = flag.String("data", "", "comma-separated data files (or one glob)")
		out      = flag.String("out", "", "directory for the split files")
		split    = flag.Float64("test-split", 0.2, "held-out share of each class")
		seed     = flag.Uint64("seed", 1, "split and tree seed")
		depth    = flag.Int("max-depth", 0, "max depth (0: unlimited)")
		crit     = flag.String("criterion", "gini", "gini or entropy")
		repeats  = flag.Int("repeats", 3, "fit this many times, report the fastest")
		maxLeafs = flag.Int("max-leaf-nodes", 0, "max leaf nodes (0: unlimited)")
	)
	flag.Parse()
	if err := run(*name, *data, *out, *split, *seed, *depth, *crit, *repeats, *maxLeafs); err != nil {
		fmt.Fprintln(os.Stderr, "sklearn:", err)
		os.Exit(1)
	}
}

func run(name, data, out string, split float64, seed uint64, depth int, crit string, repeats, maxLeafs int) error {
	var paths []string
	for _, p := range strings.Split(data, ",") {
		m, err := filepath.Glob(p)
		if err != nil || len(m) == 0 {
			return fmt.Errorf("no files match %q", p)
		}
		paths = append(paths, m...)
	}
	d, err := dataset.Load(paths, dataset.Options{})
	if err != nil {
		return err
	}
	trainRows, testRows, err := dataset.StratifiedSplit(d.Labels, split, seed)
	if err != nil {
		return err
	}
	train, test := d.Subset(trainRows), d.Subset(testRows)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "train"), train); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "test"), test); err != nil {
		return err
	}
	ids, classes := dataset.Classes(d.Labels)
	y := make([]int32, len(trainRows))
	for k, i := range trainRows {
		y[k] = ids[i]
	}
	p := tree.Params{Criterion: tree.Criterion(crit), MaxDepth: depth, MaxLeafNodes: maxLeafs, Seed: seed}
	var t *tree.Tree
	best := time.Duration(math.MaxInt64)
	var peak uint64
	for range repeats {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		t, err = tree.Fit(train.X.Cols, y, len(classes), nil, p)
		el := time.Since(start)
		if err != nil {
			return err
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		peak = max(peak, after.TotalAlloc-before.TotalAlloc)
		best = min(best, el)
	}
	m, err := model.New(t, p.Criterion, "bench", d.X.Names, classes, nil)
	if err != nil {
		return err
	}
	if err := m.Save(filepath.Join(out, "flowsieve.model.json")); err != nil {
		return err
	}
	pr, err := m.Bind(test.X.Names)
	if err != nil {
		return err
	}
	dst := make([]int32, test.X.Len)
	prob := make([]float32, test.X.Len)
	// predict ns/row: repeat over the test set for at least 0.5 s, best of 3 rounds
	nsRow := math.Inf(1)
	for range 3 {
		reps := 0
		start := time.Now()
		for time.Since(start) < 500*time.Millisecond {
			pr.PredictBatch(test.X, dst, prob)
			reps++
		}
		nsRow = min(nsRow, float64(time.Since(start).Nanoseconds())/float64(reps*test.X.Len))
	}
	pred := make([]string, len(dst))
	for i, c := range dst {
		pred[i] = classes[c]
	}
	rep, err := report.Classify(test.Labels, pred)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result{Dataset: name, Rows: d.X.Len, Features: len(d.X.Names),
		Classes: len(classes), TrainRows: len(trainRows), TestRows: len(testRows), Accuracy: rep.Accuracy,
		MacroF1: rep.Macro.F1, FitSeconds: best.Seconds(), PredictNs: nsRow, Depth: t.Depth(), Leaves: t.Leaves(),
		MaxDepth: depth, Criterion: crit, FitRepeats: repeats, HeapMiB: float64(peak) / (1 << 20)})
}

// write stores d as base.X.f32 (rows × features float32, little endian, row-major,
// values as loaded: NaN/±Inf kept), base.y.txt (one label per line) and
// base.names.txt (feature names).
func write(base string, d *dataset.Dataset) error {
	f, err := os.Create(base + ".X.f32")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf [4]byte
	for i := range d.X.Len {
		for j := range d.X.Cols {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(d.X.Cols[j][i]))
			w.Write(buf[:])
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(base+".y.txt", []byte(strings.Join(d.Labels, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".names.txt", []byte(strings.Join(d.X.Names, "\n")+"\n"), 0o644)
}
