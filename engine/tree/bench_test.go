package tree

import (
	"fmt"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"

	"github.com/flowsieve/flowsieve/engine/features"
)

// synthetic returns n rows of the flow schema's width with a fixed seed: heavy-tailed
// positive values and 6 classes that depend on several features plus 10% label noise,
// so trees grow to any depth asked for.
func synthetic(n int, seed uint64) (*features.Batch, []int32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := features.NewFlowBatch(n)
	y := make([]int32, n)
	row := make([]float32, features.NumFeatures)
	for i := range n {
		for j := range row {
			row[j] = float32(rng.ExpFloat64() * float64(1+j%7))
		}
		s := int(row[2]*3) + int(row[5]*2) ^ int(row[11]) + int(row[17]*5)
		y[i] = int32(s % 6)
		if rng.Float64() < 0.1 {
			y[i] = int32(rng.IntN(6))
		}
		b.AppendRow(row)
	}
	return b, y
}

// naiveNode and naivePredict are the baseline evaluator: a straightforward flat array
// of nodes with float64 thresholds and a leaf flag, one row at a time.
type naiveNode struct {
	feature     int
	threshold   float64
	left, right int
	leaf        bool
	class       int32
}

func naiveFlat(t *Tree) []naiveNode {
	out := make([]naiveNode, len(t.Nodes))
	for i, n := range t.Nodes {
		c, _ := n.Class()
		out[i] = naiveNode{feature: int(n.Feature), threshold: n.Threshold, left: int(n.Left), right: int(n.Right), leaf: n.Leaf(), class: int32(c)}
	}
	return out
}

func naivePredict(nodes []naiveNode, b *features.Batch, dst []int32) {
	for r := 0; r < b.Len; r++ {
		i := 0
		for !nodes[i].leaf {
			if float64(b.Cols[nodes[i].feature][r]) <= nodes[i].threshold {
				i = nodes[i].left
			} else {
				i = nodes[i].right
			}
		}
		dst[r] = nodes[i].class
	}
}

func benchTree(b testing.TB, depth int) (*Tree, *features.Batch) {
	train, y := synthetic(200_000, 1)
	t, err := Fit(train.Cols, y, 6, nil, Params{MaxDepth: depth, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	test, _ := synthetic(4096, 2)
	return t, test
}

// BenchmarkPredict measures ns per row over 4096-row batches for the compiled
// evaluator and, in the same run, the naive flat-array baseline: on trees of depth 10
// and 20 trained on synthetic data, and (when ../shared/data is there) on CIC-IDS2017
// flows (cicids2017-improved, all 25,127 rows predicted in 4096-row batches).
func BenchmarkPredict(b *testing.B) {
	for _, depth := range []int{10, 20} {
		t, test := benchTree(b, depth)
		benchPredict(b, fmt.Sprintf("depth=%d", depth), t, test)
	}
	paths, _ := filepath.Glob(filepath.Join(shareddata.Dir(b), "cicids2017-improved", "rnd_2500", "*.csv"))
	d, err := dataset.Load(paths, dataset.Options{})
	if err != nil {
		b.Fatal(err)
	}
	y, classes := dataset.Classes(d.Labels)
	for _, depth := range []int{10, 20} {
		t, err := Fit(d.X.Cols, y, len(classes), nil, Params{MaxDepth: depth, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		// the first 4096 rows of a shuffled copy, so batches mix classes like live traffic
		rows := rand.New(rand.NewPCG(1, 1)).Perm(d.X.Len)[:4096]
		benchPredict(b, fmt.Sprintf("cic/depth=%d", depth), t, d.Subset(rows).X)
	}
}

func benchPredict(b *testing.B, name string, t *Tree, test *features.Batch) {
	c, err := Compile(t, nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]int32, test.Len)
	prob := make([]float32, test.Len)
	b.Run(name+"/compiled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.PredictBatch(test, dst, prob)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*test.Len), "ns/row")
	})
	naive := naiveFlat(t)
	b.Run(name+"/naive", func(b *testing.B) {
		for b.Loop() {
			naivePredict(naive, test, dst)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*test.Len), "ns/row")
	})
	row := make([]float32, len(test.Cols))
	b.Run(name+"/row", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			test.Row(i%test.Len, row)
			c.PredictRow(row)
			i++
		}
	})
}

// BenchmarkTrain measures training on synthetic data by size (full depth, gini).
func BenchmarkTrain(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		train, y := synthetic(n, 1)
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Fit(train.Cols, y, 6, nil, Params{Seed: 1, MaxDepth: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
