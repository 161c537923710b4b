// Command kmeans is the Go half of the side-by-side check against scikit-learn's
// MiniBatchKMeans (compare.py, compare.sh): it fits engine/cluster on a float32
// row-major matrix written by compare.py and prints the centres, steps and timings as
// JSON, or with -throughput the PartialFit rate on batches of -batch rows.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"time"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
)

func main() {
	path := flag.String("x", "", "float32 row-major matrix file")
	d := flag.Int("d", 0, "columns of the matrix")
	k := flag.Int("k", 8, "clusters")
	batch := flag.Int("batch", 1024, "mini-batch size")
	nInit := flag.Int("n-init", 3, "k-means++ initialisations")
	maxIter := flag.Int("max-iter", 100, "passes over the data at most")
	seed := flag.Uint64("seed", 1, "random seed")
	throughput := flag.Bool("throughput", false, "measure PartialFit rows/s instead of fitting")
	seconds := flag.Float64("seconds", 2, "duration of the throughput measurement")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*path, *d, *k, *batch, *nInit, *maxIter, *seed, *throughput, *seconds); err != nil {
		fmt.Fprintln(os.Stderr, "kmeans:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func load(path string, d int) (*features.Batch, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if d <= 0 || len(raw)%(4*d) != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-column float32 rows", path, len(raw), d)
	}
	n := len(raw) / (4 * d)
	names := make([]string, d)
	for j := range names {
		names[j] = fmt.Sprintf("x%d", j)
	}
	b := features.NewBatch(names, n)
	row := make([]float32, d)
	var u uint32
	for i := 0; i < n; i++ {
		for j := range row {
			o := 4 * (i*d + j)
			u = uint32(raw[o]) | uint32(raw[o+1])<<8 | uint32(raw[o+2])<<16 | uint32(raw[o+3])<<24
			row[j] = math.Float32frombits(u)
		}
		b.AppendRow(row)
	}
	return b, nil
}

func run(path string, d, k, batch, nInit, maxIter int, seed uint64, throughput bool, seconds float64) error {
	x, err := load(path, d)
	if err != nil {
		return err
	}
	cfg := cluster.Config{K: k, Seed: seed, BatchSize: batch, NInit: nInit, MaxIter: maxIter}
	enc := json.NewEncoder(os.Stdout)
	if throughput {
		return enc.Encode(map[string]float64{"partial_fit_rows_per_s": partialFitRate(x, cfg, seconds)})
	}
	start := time.Now()
	m, err := cluster.Fit(x, cfg)
	if err != nil {
		return err
	}
	return enc.Encode(map[string]any{"centres": m.Centres, "inertia": m.Inertia, "steps": m.Steps,
		"fit_seconds": time.Since(start).Seconds()})
}

// partialFitRate feeds consecutive slices of x (batch rows each, wrapping around) to
// PartialFit for about the given number of seconds and returns rows per second.
func partialFitRate(x *features.Batch, cfg cluster.Config, seconds float64) float64 {
	mb, err := cluster.NewMiniBatch(x.Names, nil, cfg)
	if err != nil {
		panic(err)
	}
	bs := cfg.BatchSize
	chunk := &features.Batch{Names: x.Names, Cols: make([][]float32, len(x.Cols))}
	view := func(s int) *features.Batch {
		for j := range chunk.Cols {
			chunk.Cols[j] = x.Cols[j][s : s+bs]
		}
		chunk.Len = bs
		return chunk
	}
	mb.PartialFit(view(0))
	rows, i := 0, 0
	start := time.Now()
	for time.Since(start).Seconds() < seconds {
		s := (i * bs) % (x.Len - bs)
		if err := mb.PartialFit(view(s)); err != nil {
			panic(err)
		}
		rows += bs
		i++
	}
	return float64(rows) / time.Since(start).Seconds()
}
