package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/tree"
)

func trained(t *testing.T, scaler bool) (*Model, *features.Batch, []int32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	b := features.NewFlowBatch(2000)
	y := make([]int32, 2000)
	row := make([]float32, features.NumFeatures)
	for i := range y {
		for j := range row {
			row[j] = float32(rng.ExpFloat64() * 100)
		}
		if row[features.FlowDuration] > 80 {
			y[i] = 1
		}
		if row[features.TotalFwdPackets] > 200 {
			y[i] = 2
		}
		b.AppendRow(row)
	}
	var s *tree.Scaler
	X := b.Cols
	if scaler {
		log := make([]bool, features.NumFeatures)
		log[features.FlowDuration] = true
		s = tree.FitScaler(b.Cols, b.Len, log, true)
		X = make([][]float32, len(b.Cols))
		for f := range X {
			X[f] = make([]float32, b.Len)
			s.TransformColumn(f, X[f], b.Cols[f][:b.Len])
		}
	}
	tr, err := tree.Fit(X, y, 3, nil, tree.Params{MaxDepth: 6})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(tr, tree.Gini, SchemaFlow, features.Names[:], []string{"a", "b", "c"}, s)
	if err != nil {
		t.Fatal(err)
	}
	return m, b, y
}

func TestRoundTripAndPredict(t *testing.T) {
	for _, scaled := range []bool{false, true} {
		m, b, y := trained(t, scaled)
		m.Training = &Training{Files: []string{"x.csv"}, Rows: b.Len, HeldOut: &Metrics{Accuracy: 0.9}}
		m.File.Training = m.Training
		path := filepath.Join(t.TempDir(), "m.json")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		m2, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if (m2.Scaler != nil) != scaled || m2.Training.HeldOut.Accuracy != 0.9 {
			t.Fatalf("scaler/training lost in the round trip")
		}
		// bind to a batch with the columns in reverse order
		names := append([]string(nil), features.Names[:]...)
		for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
			names[i], names[j] = names[j], names[i]
		}
		rev := features.NewBatch(names, b.Len)
		row := make([]float32, features.NumFeatures)
		for r := range b.Len {
			b.Row(r, row)
			for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
			rev.AppendRow(row)
		}
		p, err := m2.Bind(names)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]int32, b.Len)
		p.PredictBatch(rev, dst, nil)
		correct := 0
		for r := range b.Len {
			c, _ := p.PredictRow(rev.Row(r, row))
			if c != dst[r] {
				t.Fatalf("row %d: PredictRow %d, PredictBatch %d", r, c, dst[r])
			}
			if c == y[r] {
				correct++
			}
		}
		if correct < b.Len*95/100 {
			t.Errorf("scaled=%v: %d/%d training rows right", scaled, correct, b.Len)
		}
		if a := testing.AllocsPerRun(5, func() { p.PredictBatch(rev, dst, nil) }); a != 0 {
			t.Errorf("PredictBatch allocates %v", a)
		}
	}
}

func TestBindMissingFeature(t *testing.T) {
	m, _, _ := trained(t, false)
	if _, err := m.Bind([]string{"Flow Duration"}); !errors.Is(err, ErrBind) {
		t.Errorf("err = %v, want ErrBind", err)
	}
}

func TestLoadRejects(t *testing.T) {
	m, _, _ := trained(t, true)
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	tests := []struct {
		name  string
		edit  func(f map[string]any)
		field string
	}{
		{"format", func(f map[string]any) { f["format"] = "x" }, "format"},
		{"version", func(f map[string]any) { f["version"] = 99 }, "version"},
		{"unknown feature", func(f map[string]any) { f["features"].([]any)[3] = "Bogus" }, "features[3]"},
		{"duplicate class", func(f map[string]any) { f["classes"] = []any{"a", "a", "c"} }, "classes[1]"},
		{"feature index", func(f map[string]any) { tr(f)["feature"].([]any)[0] = 999 }, "tree.feature[0]"},
		{"child pointer", func(f map[string]any) { tr(f)["right"].([]any)[0] = 100000 }, "tree.right[0]"},
		{"value width", func(f map[string]any) { tr(f)["value"].([]any)[1] = []any{1.0} }, "tree.value[1]"},
		{"array length", func(f map[string]any) { tr(f)["left"] = tr(f)["left"].([]any)[:3] }, "tree.left"},
		{"scaler", func(f map[string]any) { f["scaler"].(map[string]any)["scale"].([]any)[2] = 0 }, "scaler.scale[2]"},
		{"decision point", func(f map[string]any) { f["decision_point"] = map[string]any{"packets": -1} }, "decision_point.packets"},
		{"depth", func(f map[string]any) { tr(f)["depth"] = 40 }, "tree.depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f map[string]any
			if err := json.Unmarshal(good, &f); err != nil {
				t.Fatal(err)
			}
			tt.edit(f)
			data, _ := json.Marshal(f)
			_, err := Decode(bytes.NewReader(data))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrModel) {
				t.Fatalf("err = %v, want field %q", err, tt.field)
			}
		})
	}
	if _, err := Decode(strings.NewReader(`{"format": "flowsieve-model", "bogus": 1}`)); !errors.Is(err, ErrModel) {
		t.Errorf("unknown member: err = %v", err)
	}
	for _, bad := range []string{`"x"`, `1e999`} {
		var f map[string]any
		json.Unmarshal(good, &f)
		data, _ := json.Marshal(f)
		data = bytes.Replace(data, []byte(`"threshold":[`), []byte(`"threshold":[`+bad+`,`), 1)
		if _, err := Decode(bytes.NewReader(data)); !errors.Is(err, ErrModel) {
			t.Errorf("threshold %s: err = %v", bad, err)
		}
	}
	// other schemas may use any feature names
	var f map[string]any
	json.Unmarshal(good, &f)
	f["schema"] = "nslkdd"
	f["features"].([]any)[3] = "src_bytes"
	data, _ := json.Marshal(f)
	if _, err := Decode(bytes.NewReader(data)); err != nil {
		t.Errorf("data-set schema rejected: %v", err)
	}
}

func tr(f map[string]any) map[string]any { return f["tree"].(map[string]any) }
