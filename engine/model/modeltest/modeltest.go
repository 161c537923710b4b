// Package modeltest makes the tiny models tests run the appliance with: a tree of one
// split on the destination port, trained by engine/tree like any model, so a test
// knows which flows the model calls BENIGN and which ATTACK.
package modeltest

import (
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Classes of the port-split model, in class-index order.
var Classes = []string{"ATTACK", "BENIGN"}

// PortSplit trains a flow model with one split on the destination port: flows to
// ports below split are BENIGN, the others ATTACK, decided after early packets.
// It trains on ports 20, 50, … 1910, so split must lie in (20, 1910].
func PortSplit(split, early int) (*model.Model, error) {
	const rows = 64
	cols := make([][]float32, features.NumFeatures)
	for j := range cols {
		cols[j] = make([]float32, rows)
	}
	y := make([]int32, rows)
	for i := range rows {
		port := 20 + 30*i
		cols[features.DstPort][i] = float32(port)
		if port < split {
			y[i] = 1 // BENIGN
		}
	}
	tr, err := tree.Fit(cols, y, len(Classes), nil, tree.Params{Seed: 1})
	if err != nil {
		return nil, err
	}
	m, err := model.New(tr, tree.Gini, model.SchemaFlow, features.Names[:], Classes, nil)
	if err != nil {
		return nil, err
	}
	m.DecisionPoint.Packets = early
	return m, nil
}

// WritePortSplit saves PortSplit(split, early) to path, failing tb on error.
func WritePortSplit(tb testing.TB, path string, split, early int) {
	tb.Helper()
	m, err := PortSplit(split, early)
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Save(path); err != nil {
		tb.Fatal(err)
	}
}
