package tree

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
)

// withSpecials sprinkles NaN and ±Inf into a batch.
func withSpecials(b *features.Batch, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -0}
	for j := range b.Cols {
		for i := 0; i < b.Len; i++ {
			if rng.IntN(50) == 0 {
				b.Cols[j][i] = specials[rng.IntN(len(specials))]
			}
		}
	}
}

func TestCompiledMatchesReference(t *testing.T) {
	train, y := synthetic(20_000, 1)
	withSpecials(train, 1)
	for _, p := range []Params{
		{MaxDepth: 6, Seed: 1},
		{MaxDepth: 20, Seed: 2, Criterion: Entropy},
		{MaxLeafNodes: 50, Seed: 3},
		{MinSamplesLeaf: 20, Seed: 4},
	} {
		tr, err := Fit(train.Cols, y, 6, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Validate(); err != nil {
			t.Fatal(err)
		}
		c, err := Compile(tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, branchFree := range []bool{false, true} {
			c.branchFree = branchFree
			for _, size := range []int{1, 7, 8, 1000, 1003} {
				test, _ := synthetic(size, 9)
				withSpecials(test, 2)
				dst := make([]int32, size)
				prob := make([]float32, size)
				// the flat fast path and, with a copied column, the generic path
				c.PredictBatch(test, dst, prob)
				split := &features.Batch{Names: test.Names, Cols: append([][]float32(nil), test.Cols...), Len: test.Len}
				split.Cols[1] = append([]float32(nil), test.Cols[1]...)
				dst2 := make([]int32, size)
				c.PredictBatch(split, dst2, nil)
				row := make([]float32, features.NumFeatures)
				for r := range size {
					leaf := tr.Predict(test.Row(r, row))
					want, wp := leaf.Class()
					got, gp := c.PredictRow(row)
					if dst[r] != int32(want) || dst2[r] != int32(want) || got != int32(want) || prob[r] != float32(wp) || gp != float32(wp) {
						t.Fatalf("%+v branch-free %v size %d row %d: batch %d/%d, row %d, want %d (p %v %v %v)", p, branchFree, size, r, dst[r], dst2[r], got, want, prob[r], gp, wp)
					}
				}
			}
		}
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	train, y := synthetic(5000, 1)
	tr, _ := Fit(train.Cols, y, 6, nil, Params{MaxDepth: 12})
	c, err := Compile(tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]int32, train.Len)
	prob := make([]float32, train.Len)
	row := make([]float32, features.NumFeatures)
	if a := testing.AllocsPerRun(10, func() { c.PredictBatch(train, dst, prob) }); a != 0 {
		t.Errorf("PredictBatch allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { c.PredictRow(row) }); a != 0 {
		t.Errorf("PredictRow allocates %v times", a)
	}
}

func TestFloat32Below(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for range 100000 {
		th := (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(20)-10))
		f := Float32Below(th)
		x := float32(th)
		for _, v := range []float32{x, math.Nextafter32(x, 1e30), math.Nextafter32(x, -1e30), f} {
			if (float64(v) <= th) != (v <= f) {
				t.Fatalf("threshold %v: x=%v float64 says %v, float32 %v says %v", th, v, float64(v) <= th, f, v <= f)
			}
		}
	}
}

func TestFitParams(t *testing.T) {
	train, y := synthetic(5000, 1)
	tests := []struct {
		name  string
		p     Params
		check func(t *testing.T, tr *Tree)
	}{
		{"max depth", Params{MaxDepth: 3}, func(t *testing.T, tr *Tree) {
			if d := tr.Depth(); d != 3 {
				t.Errorf("depth %d, want 3", d)
			}
		}},
		{"max leaf nodes", Params{MaxLeafNodes: 17}, func(t *testing.T, tr *Tree) {
			if l := tr.Leaves(); l != 17 {
				t.Errorf("%d leaves, want 17", l)
			}
		}},
		{"min samples leaf", Params{MinSamplesLeaf: 40}, func(t *testing.T, tr *Tree) {
			for i, n := range tr.Nodes {
				if n.Samples < 40 {
					t.Fatalf("node %d has %d samples", i, n.Samples)
				}
			}
		}},
		{"min samples split", Params{MinSamplesSplit: 500}, func(t *testing.T, tr *Tree) {
			for i, n := range tr.Nodes {
				if !n.Leaf() && n.Samples < 500 {
					t.Fatalf("node %d with %d samples was split", i, n.Samples)
				}
			}
		}},
		{"min impurity decrease", Params{MinImpurityDecrease: 0.01}, func(t *testing.T, tr *Tree) {
			if l := tr.Leaves(); l > 40 {
				t.Errorf("%d leaves: min impurity decrease not applied", l)
			}
		}},
		{"full tree fits the training data", Params{}, func(t *testing.T, tr *Tree) {
			// leaves are pure unless identical rows carry different labels
			row := make([]float32, features.NumFeatures)
			wrong := 0
			for r := range train.Len {
				c, _ := tr.Predict(train.Row(r, row)).Class()
				if int32(c) != y[r] {
					wrong++
				}
			}
			if wrong != 0 {
				t.Errorf("%d training rows misclassified by an unlimited tree", wrong)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Fit(train.Cols, y, 6, nil, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Validate(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, tr)
		})
	}
}

func TestFitDeterministic(t *testing.T) {
	train, y := synthetic(3000, 1)
	a, _ := Fit(train.Cols, y, 6, nil, Params{Seed: 7})
	b, _ := Fit(train.Cols, y, 6, nil, Params{Seed: 7})
	if len(a.Nodes) != len(b.Nodes) {
		t.Fatalf("%d vs %d nodes", len(a.Nodes), len(b.Nodes))
	}
	for i := range a.Nodes {
		if a.Nodes[i].Feature != b.Nodes[i].Feature || a.Nodes[i].Threshold != b.Nodes[i].Threshold {
			t.Fatalf("node %d differs", i)
		}
	}
}

func TestWeights(t *testing.T) {
	// 95 rows of class 0 and 5 of class 1 that a depth-1 tree cannot separate: with
	// balanced weights the minority wins the mixed leaf.
	n := 100
	x := make([]float32, n)
	y := make([]int32, n)
	for i := range n {
		x[i] = float32(i % 2)
		if i < 5 {
			y[i] = 1
			x[i] = 1
		}
	}
	X := [][]float32{x}
	plain, _ := Fit(X, y, 2, nil, Params{MaxDepth: 1})
	bal, _ := Fit(X, y, 2, nil, Params{MaxDepth: 1, ClassWeight: BalancedWeights(y, 2)})
	if c, _ := plain.Predict([]float32{1}).Class(); c != 0 {
		t.Errorf("unweighted: class %d, want 0", c)
	}
	if c, _ := bal.Predict([]float32{1}).Class(); c != 1 {
		t.Errorf("balanced: class %d, want 1", c)
	}
	sw := make([]float64, n)
	for i := range sw {
		sw[i] = 1
		if y[i] == 1 {
			sw[i] = 20
		}
	}
	wt, _ := Fit(X, y, 2, sw, Params{MaxDepth: 1})
	if c, _ := wt.Predict([]float32{1}).Class(); c != 1 {
		t.Errorf("sample weights: class %d, want 1", c)
	}
}

func TestFitErrors(t *testing.T) {
	X := [][]float32{{1, 2, 3}}
	y := []int32{0, 1, 0}
	tests := []struct {
		name string
		X    [][]float32
		y    []int32
		p    Params
		want error
	}{
		{"criterion", X, y, Params{Criterion: "mse"}, ErrParams},
		{"depth", X, y, Params{MaxDepth: -1}, ErrParams},
		{"leaf nodes", X, y, Params{MaxLeafNodes: 1}, ErrParams},
		{"class weights", X, y, Params{ClassWeight: []float64{1}}, ErrParams},
		{"class out of range", X, []int32{0, 5, 0}, Params{}, ErrData},
		{"short column", [][]float32{{1}}, y, Params{}, ErrData},
		{"no rows", X, nil, Params{}, ErrData},
	}
	for _, tt := range tests {
		if _, err := Fit(tt.X, tt.y, 2, nil, tt.p); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := func() *Tree {
		return &Tree{NumFeatures: 2, NumClasses: 2, Nodes: []Node{
			{Feature: 1, Threshold: 0.5, Left: 1, Right: 2, Value: []float64{1, 1}},
			{Feature: -1, Left: -1, Right: -1, Value: []float64{1, 0}},
			{Feature: -1, Left: -1, Right: -1, Value: []float64{0, 1}},
		}}
	}
	tests := []struct {
		name   string
		break_ func(*Tree)
		field  string
	}{
		{"feature out of range", func(t *Tree) { t.Nodes[0].Feature = 2 }, "nodes[0].feature"},
		{"threshold NaN", func(t *Tree) { t.Nodes[0].Threshold = math.NaN() }, "nodes[0].threshold"},
		{"right out of range", func(t *Tree) { t.Nodes[0].Right = 7 }, "nodes[0].right"},
		{"cycle", func(t *Tree) { t.Nodes[0].Right = 0 }, "nodes[0].right"},
		{"left not next", func(t *Tree) { t.Nodes[0].Left = 2 }, "nodes[0].left"},
		{"value length", func(t *Tree) { t.Nodes[2].Value = []float64{1} }, "nodes[2].value"},
		{"negative value", func(t *Tree) { t.Nodes[1].Value[0] = -1 }, "nodes[1].value"},
		{"unreachable", func(t *Tree) { t.Nodes = append(t.Nodes, t.Nodes[2]) }, "nodes"},
		{"leaf with child", func(t *Tree) { t.Nodes[1].Left = 2 }, "nodes[1].left"},
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		tr := good()
		tt.break_(tr)
		err := tr.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrTree) {
			t.Errorf("%s: err = %v, want field %q", tt.name, err, tt.field)
		}
	}
}
