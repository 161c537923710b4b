package configs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/model"
)

func TestDefaultModel(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatalf("the embedded default model does not load: %v", err)
	}
	if m.File.Schema != model.SchemaFlow || m.DecisionPoint.Packets <= 0 || len(m.Classes) < 2 {
		t.Errorf("default model: schema %q, decision %d packets, classes %v", m.File.Schema, m.DecisionPoint.Packets, m.Classes)
	}
	if m.File.Training == nil || m.File.Training.Tool != "flowsieve" || m.File.Training.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("default model was not built reproducibly (make model): %+v", m.File.Training)
	}
	if m.Cluster == nil || m.Cluster.Quantile != 0.995 {
		t.Errorf("default model has no open-set clusters at the 99.5th percentile (make model): %v", m.Cluster)
	}
	for _, name := range []string{"", DefaultModelName} {
		if _, err := LoadModel(name); err != nil {
			t.Errorf("LoadModel(%q): %v", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(path, defaultModel, 0o644)
	if _, err := LoadModel(path); err != nil {
		t.Errorf("LoadModel(file): %v", err)
	}
	if _, err := LoadModel(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file loads")
	}
}
