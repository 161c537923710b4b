package modeltest

import (
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
)

func TestPortSplit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.json")
	WritePortSplit(t, path, 1000, 4)
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.DecisionPoint.Packets != 4 {
		t.Errorf("decision point %d packets, want 4", m.DecisionPoint.Packets)
	}
	p, err := m.BindFlow()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		port int
		want string
	}{{22, "BENIGN"}, {443, "BENIGN"}, {980, "BENIGN"}, {1010, "ATTACK"}, {5000, "ATTACK"}}
	b := features.NewBatch(features.Names[:], len(tests))
	row := make([]float32, features.NumFeatures)
	for _, tt := range tests {
		row[features.DstPort] = float32(tt.port)
		b.AppendRow(row)
	}
	got := make([]int32, b.Len)
	p.PredictBatch(b, got, nil)
	for i, tt := range tests {
		if c := m.ClassName(got[i]); c != tt.want {
			t.Errorf("port %d: %s, want %s", tt.port, c, tt.want)
		}
	}
}
