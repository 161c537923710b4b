package harness

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "embed"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// EngineResult is the engine alone over a capture from memory, and its tree's
// accuracy on the held-out flows.
type EngineResult struct {
	PPS          float64 `json:"engine_pps"`
	Frames       int     `json:"frames"`
	TrainRows    int     `json:"train_rows"`
	TestRows     int     `json:"test_rows"`
	FitSeconds   float64 `json:"fit_seconds"`
	PredictNsRow float64 `json:"predict_ns_per_row"`
	Accuracy     float64 `json:"accuracy"`
}

// SklearnResult is scikit-learn on the same flow rows.
type SklearnResult struct {
	Version       string  `json:"version"`
	FitSeconds    float64 `json:"fit_seconds"`
	PredictNsRow  float64 `json:"predict_ns_per_row"`
	Accuracy      float64 `json:"accuracy"`
	KMeansSeconds float64 `json:"minibatch_kmeans_fit_seconds"`
}

// SklearnPython is the interpreter with python3-sklearn (Debian's).
const SklearnPython = "/usr/bin/python3"

//go:embed sklearn_bench.py
var sklearnScript []byte

var treeParams = tree.Params{MaxDepth: 12, MinSamplesLeaf: 2, Seed: 1}

// dropAttacks passes BENIGN and drops every other class.
func dropAttacks() (*policy.Policy, error) {
	return policy.Compile(policy.Spec{
		Default: policy.ActionSpec{Action: "DROP"},
		Rules:   []policy.RuleSpec{{Name: "benign", Labels: policy.Labels{"BENIGN"}, ActionSpec: policy.ActionSpec{Action: "PASS"}}},
	})
}

// MeasureEngine trains a tree on train at the decision point, runs test through
// engine/inspect from memory (bench/engine.MeasureEngine) and scores the tree on
// test's flows. With dir set and python3-sklearn installed it also runs
// scikit-learn on the same rows (nil when unavailable).
func MeasureEngine(train, test *benchengine.Capture, decision int, dir string) (*EngineResult, *SklearnResult, error) {
	m, err := benchengine.Train(train, decision, treeParams)
	if err != nil {
		return nil, nil, err
	}
	res := &EngineResult{Frames: len(test.Frames)}
	pol, err := dropAttacks()
	if err != nil {
		return nil, nil, err
	}
	ms, err := inspect.NewModels(m, pol)
	if err != nil {
		return nil, nil, err
	}
	if res.PPS, _, err = benchengine.MeasureEngine(test.Frames, ms, inspect.Config{Flow: flow.Config{Capacity: 1 << 18}}); err != nil {
		return nil, nil, err
	}
	trRows, err := benchengine.Rows(train, decision)
	if err != nil {
		return nil, nil, err
	}
	teRows, err := benchengine.Rows(test, decision)
	if err != nil {
		return nil, nil, err
	}
	res.TrainRows, res.TestRows = trRows.X.Len, teRows.X.Len
	if res.FitSeconds, err = fitSeconds(trRows); err != nil {
		return nil, nil, err
	}
	pred, err := m.BindFlow()
	if err != nil {
		return nil, nil, err
	}
	cls := make([]int32, teRows.X.Len)
	prob := make([]float32, teRows.X.Len)
	t0 := time.Now()
	pred.PredictBatch(teRows.X, cls, prob)
	res.PredictNsRow = float64(time.Since(t0).Nanoseconds()) / float64(max(1, teRows.X.Len))
	ok, n := 0, 0
	for i, l := range teRows.Labels {
		if l == "" {
			continue
		}
		n++
		if m.ClassName(cls[i]) == l {
			ok++
		}
	}
	if n > 0 {
		res.Accuracy = float64(ok) / float64(n)
	}
	if dir == "" {
		return res, nil, nil
	}
	sk, err := runSklearn(dir, trRows, teRows)
	return res, sk, err
}

// runSklearn writes both row sets for sklearn_bench.py and runs it; nil, nil when
// /usr/bin/python3 has no sklearn.
func runSklearn(dir string, train, test *benchengine.Flows) (*SklearnResult, error) {
	if err := exec.Command(SklearnPython, "-c", "import sklearn").Run(); err != nil {
		return nil, nil
	}
	for name, f := range map[string]*benchengine.Flows{"train": train, "test": test} {
		if err := writeRows(filepath.Join(dir, name), f); err != nil {
			return nil, err
		}
	}
	script := filepath.Join(dir, "sklearn_bench.py")
	if err := os.WriteFile(script, sklearnScript, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(SklearnPython, script, dir)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("harness: sklearn: %v: %s", err, stderr.String())
	}
	var r SklearnResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("harness: sklearn output %q: %w", out, err)
	}
	return &r, nil
}

// writeRows writes rows as base.X.f32 (row-major little-endian float32, non-finite
// values as ±MaxFloat32 as flowsieve treats them), base.y.txt and base.shape.
func writeRows(base string, f *benchengine.Flows) error {
	n, d := f.X.Len, len(f.X.Cols)
	buf := make([]byte, 0, n*d*4)
	for i := range n {
		for j := range d {
			v := f.X.Cols[j][i]
			switch {
			case math.IsNaN(float64(v)) || math.IsInf(float64(v), 1):
				v = math.MaxFloat32
			case math.IsInf(float64(v), -1):
				v = -math.MaxFloat32
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	if err := os.WriteFile(base+".X.f32", buf, 0o644); err != nil {
		return err
	}
	labels := make([]string, n)
	for i, l := range f.Labels {
		if l == "" {
			l = Unlabelled
		}
		labels[i] = strings.ReplaceAll(l, "\n", " ")
	}
	if err := os.WriteFile(base+".y.txt", []byte(strings.Join(labels, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".shape", fmt.Appendf(nil, "%d %d\n", n, d), 0o644)
}

// fitSeconds times tree.Fit alone (the fastest of three) on the labelled rows, as
// bench/engine.Train fits them, so it compares with scikit-learn's fit.
func fitSeconds(fl *benchengine.Flows) (float64, error) {
	var classes []string
	var rows []int
	for i, l := range fl.Labels {
		if l != "" {
			rows = append(rows, i)
			classes = append(classes, l)
		}
	}
	slices.Sort(classes)
	classes = slices.Compact(classes)
	y := make([]int32, len(rows))
	cols := make([][]float32, len(fl.X.Cols))
	for j := range cols {
		cols[j] = make([]float32, len(rows))
	}
	for k, i := range rows {
		c, _ := slices.BinarySearch(classes, fl.Labels[i])
		y[k] = int32(c)
		for j := range cols {
			cols[j][k] = fl.X.Cols[j][i]
		}
	}
	best := math.Inf(1)
	for range 3 {
		t0 := time.Now()
		if _, err := tree.Fit(cols, y, len(classes), nil, treeParams); err != nil {
			return 0, err
		}
		best = min(best, time.Since(t0).Seconds())
	}
	return best, nil
}
