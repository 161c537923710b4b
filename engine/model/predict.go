package model

import (
	"fmt"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Predictor applies a model to batches with a given column layout: the model's features
// are found in the batch by name once, when binding, so prediction does no lookups.
// A Predictor of a model with a scaler keeps scratch space and must not be shared
// between goroutines (make one per worker); without a scaler it is safe to share.
type Predictor struct {
	m       *Model
	tree    *tree.Compiled
	cols    []int // batch column of every model feature
	scratch *features.Batch
	row     []float32
}

// ErrBind reports that a batch lacks a feature the model needs.
var ErrBind = fmt.Errorf("%w: batch lacks a model feature", ErrModel)

// Bind returns a predictor for batches whose columns are named names.
func (m *Model) Bind(names []string) (*Predictor, error) {
	pos := make(map[string]int, len(names))
	for j, n := range names {
		if _, dup := pos[n]; !dup {
			pos[n] = j
		}
	}
	p := &Predictor{m: m, cols: make([]int, len(m.Features))}
	for f, n := range m.Features {
		j, ok := pos[n]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrBind, n)
		}
		p.cols[f] = j
	}
	var err error
	if m.Scaler == nil {
		p.tree, err = tree.Compile(m.Tree, p.cols)
	} else {
		// scaled features are written to a scratch batch in model order
		p.tree, err = tree.Compile(m.Tree, nil)
		p.scratch = features.NewBatch(m.Features, 0)
		p.row = make([]float32, len(m.Features))
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// BindFlow returns a predictor for batches in the engine's flow schema (features.Names).
func (m *Model) BindFlow() (*Predictor, error) { return m.Bind(features.Names[:]) }

// Model returns the model the predictor applies.
func (p *Predictor) Model() *Model { return p.m }

// Compiled returns the compiled tree (its columns are batch columns when the model has
// no scaler, model features otherwise).
func (p *Predictor) Compiled() *tree.Compiled { return p.tree }

// PredictBatch predicts every row of b into dst (class ids) and prob (probability of
// the class; may be nil). It allocates only when a scaled model meets a batch larger
// than any before.
func (p *Predictor) PredictBatch(b *features.Batch, dst []int32, prob []float32) {
	if p.scratch == nil {
		p.tree.PredictBatch(b, dst, prob)
		return
	}
	s := p.scratch
	s.Reset()
	s.Grow(b.Len)
	s.Len = b.Len
	for f, j := range p.cols {
		p.m.Scaler.TransformColumn(f, s.Cols[f][:b.Len], b.Cols[j][:b.Len])
	}
	p.tree.PredictBatch(s, dst, prob)
}

// PredictRow predicts one row laid out like the bound batch.
func (p *Predictor) PredictRow(row []float32) (class int32, prob float32) {
	if p.scratch == nil {
		return p.tree.PredictRow(row)
	}
	for f, j := range p.cols {
		p.row[f] = p.m.Scaler.Apply(f, row[j])
	}
	return p.tree.PredictRow(p.row)
}
