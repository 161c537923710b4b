// Package training turns labelled flow rows into a model: the one path from a data
// set (engine/dataset, rebuilt from captures or loaded from flow tables) to a
// validated engine/model, shared by the train command, the dataset tooling and the
// benchmark harness. It is pure and deterministic: the same rows, options and seed
// give the same model, byte for byte.
package training

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Errors wrapped by Fit and ClassWeights.
var (
	ErrNoRows      = errors.New("training: no labelled rows")
	ErrClassWeight = errors.New("training: bad class weight")
)

// Options control Fit.
type Options struct {
	Tree tree.Params // tree parameters (Seed included); ClassWeight is set from ClassWeight below
	// ClassWeight: "" (every row weighs 1), "balanced" (n / (classes × count), so
	// every class weighs the same in total without copying rows), or NAME=W,NAME=W.
	ClassWeight string
	Scaler      *tree.Scaler // applied to the rows before training and stored in the model (nil: none)
	Decision    int          // decision point in packets the rows were taken at (0: flow end), stored in the model
	// BalanceSources weighs every source (Meta.Source) the same in total, within each
	// class, so one big source (the generated mix) does not outweigh the real ones.
	BalanceSources bool
}

// Fit trains a tree on every labelled row of d (rows labelled "" are left out),
// classes in sorted label order, and returns the model with its schema: the flow
// schema when every column is a flowsieve flow feature, else the data set's format.
func Fit(d *dataset.Dataset, o Options) (*model.Model, error) {
	var rows []int
	for i, l := range d.Labels {
		if l != "" {
			rows = append(rows, i)
		}
	}
	if len(rows) == 0 {
		return nil, ErrNoRows
	}
	if len(rows) < d.X.Len {
		d = d.Subset(rows)
	}
	y, classes := dataset.Classes(d.Labels)
	p := o.Tree
	var err error
	if p.ClassWeight, err = ClassWeights(o.ClassWeight, y, classes); err != nil {
		return nil, err
	}
	X := d.X.Cols
	if o.Scaler != nil {
		X = Scaled(o.Scaler, d.X)
	}
	var sw []float64
	if o.BalanceSources {
		sw = SourceWeights(d, y, len(classes))
	}
	t, err := tree.Fit(X, y, len(classes), sw, p)
	if err != nil {
		return nil, err
	}
	m, err := model.New(t, p.Criterion, Schema(d), d.X.Names, classes, o.Scaler)
	if err != nil {
		return nil, err
	}
	m.DecisionPoint.Packets = o.Decision
	m.File.DecisionPoint = m.DecisionPoint
	return m, nil
}

// SourceWeights returns per-row weights under which, within every class, each source
// of d weighs the class's rows over the number of its sources (rows without a source
// count as one source): count(class) / (sources of class × count(source, class)).
func SourceWeights(d *dataset.Dataset, y []int32, numClasses int) []float64 {
	type key struct {
		c   int32
		src string
	}
	n := map[key]int{}
	perClass := make([]int, numClasses)
	for i, c := range y {
		k := key{c, sourceOf(d, i)}
		if n[k] == 0 {
			perClass[c]++
		}
		n[k]++
	}
	count := make([]int, numClasses)
	for _, c := range y {
		count[c]++
	}
	w := make([]float64, len(y))
	for i, c := range y {
		w[i] = float64(count[c]) / (float64(perClass[c]) * float64(n[key{c, sourceOf(d, i)}]))
	}
	return w
}

func sourceOf(d *dataset.Dataset, i int) string {
	if i < len(d.Meta.Source) {
		return d.Meta.Source[i]
	}
	return ""
}

// Schema is the model schema of d's columns: model.SchemaFlow when every column is
// a flowsieve flow feature, else the data set's format.
func Schema(d *dataset.Dataset) string {
	for _, n := range d.X.Names {
		if _, ok := features.Index(n); !ok {
			return string(d.Format)
		}
	}
	return model.SchemaFlow
}

// ClassWeights parses a class-weight spec ("", "balanced" or NAME=W,...) for the
// class ids y of classes: nil when every class weighs 1.
func ClassWeights(spec string, y []int32, classes []string) ([]float64, error) {
	switch spec {
	case "":
		return nil, nil
	case "balanced":
		return tree.BalancedWeights(y, len(classes)), nil
	}
	w := make([]float64, len(classes))
	for i := range w {
		w[i] = 1
	}
	for _, part := range strings.Split(spec, ",") {
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not NAME=WEIGHT", ErrClassWeight, part)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: weight %q of %q is not a non-negative number", ErrClassWeight, val, name)
		}
		found := false
		for c, n := range classes {
			if n == name {
				w[c], found = v, true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: no class %q in the data (classes: %s)", ErrClassWeight, name, strings.Join(classes, ", "))
		}
	}
	return w, nil
}

// Scaled returns the columns of b transformed by s.
func Scaled(s *tree.Scaler, b *features.Batch) [][]float32 {
	X := make([][]float32, len(b.Cols))
	for f := range X {
		X[f] = make([]float32, b.Len)
		s.TransformColumn(f, X[f], b.Cols[f][:b.Len])
	}
	return X
}
