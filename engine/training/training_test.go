package training

import (
	"bytes"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"github.com/flowsieve/flowsieve/engine/tree"
)

func constant(l string) dataset.Labeler {
	return func(netip.Addr, netip.Addr, uint16, uint16, uint8, int64, int64) string { return l }
}

// TestFitRealBalanced trains with balanced class weights on the flows of Malcolm's
// protocol mixes and the esnet scans (where the defect of negative leaf weights was
// found), saves the model and loads it again, twice, byte for byte.
func TestFitRealBalanced(t *testing.T) {
	dir := shareddata.Dir(t)
	benign, _ := filepath.Glob(filepath.Join(dir, "malcolm-pcap/pcaps/protocols/*.pcap"))
	scans, _ := filepath.Glob(filepath.Join(dir, "esnet-curated-pcaps/attacks/scanners/*/*.pcap"))
	d, _, err := dataset.FromCaptures([]dataset.Source{
		{Name: "malcolm", Role: dataset.RoleBenign, Paths: benign, Label: constant("BENIGN")},
		{Name: "esnet-scans", Role: dataset.RoleAttack, Paths: scans, Label: constant("PortScan")},
	}, dataset.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	save := func() []byte {
		m, err := Fit(d, Options{Tree: tree.Params{Seed: 1, MaxDepth: 12, MinSamplesLeaf: 5}, ClassWeight: "balanced"})
		if err != nil {
			t.Fatal(err)
		}
		if m.File.Schema != model.SchemaFlow {
			t.Errorf("schema %q", m.File.Schema)
		}
		var buf bytes.Buffer
		if err := m.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := model.Decode(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("the trained model does not load: %v", err)
		}
		return buf.Bytes()
	}
	if a, b := save(), save(); !bytes.Equal(a, b) {
		t.Error("two trainings on the same rows and seed give different model files")
	}
}

func TestClassWeights(t *testing.T) {
	y := []int32{0, 0, 0, 1}
	classes := []string{"A", "B"}
	cases := []struct {
		spec string
		want []float64
		err  error
	}{
		{"", nil, nil},
		{"balanced", []float64{4.0 / 6, 2}, nil},
		{"B=3", []float64{1, 3}, nil},
		{"B", nil, ErrClassWeight},
		{"C=1", nil, ErrClassWeight},
		{"A=-1", nil, ErrClassWeight},
		{"A=NaN", nil, ErrClassWeight},
	}
	for _, c := range cases {
		w, err := ClassWeights(c.spec, y, classes)
		if !errors.Is(err, c.err) {
			t.Errorf("%q: err %v, want %v", c.spec, err, c.err)
			continue
		}
		if len(w) != len(c.want) {
			t.Errorf("%q: %v, want %v", c.spec, w, c.want)
			continue
		}
		for i := range w {
			if d := w[i] - c.want[i]; d > 1e-12 || d < -1e-12 {
				t.Errorf("%q: %v, want %v", c.spec, w, c.want)
			}
		}
	}
}

func TestFitNoRows(t *testing.T) {
	d := &dataset.Dataset{X: features.NewFlowBatch(0)}
	if _, err := Fit(d, Options{}); !errors.Is(err, ErrNoRows) {
		t.Errorf("err %v, want ErrNoRows", err)
	}
}

func TestSourceWeights(t *testing.T) {
	d := &dataset.Dataset{X: features.NewFlowBatch(0), Meta: dataset.Meta{Source: []string{"big", "big", "big", "small", "x"}}}
	y := []int32{0, 0, 0, 0, 1}
	w := SourceWeights(d, y, 2)
	// class 0: 4 rows, 2 sources: big rows 4/(2·3), small's row 4/(2·1); class 1: 1/(1·1).
	want := []float64{4.0 / 6, 4.0 / 6, 4.0 / 6, 2, 1}
	for i := range w {
		if d := w[i] - want[i]; d > 1e-12 || d < -1e-12 {
			t.Fatalf("weights %v, want %v", w, want)
		}
	}
	// Each class keeps its total weight, each of its sources gets an equal share.
	if s := w[0] + w[1] + w[2]; s-w[3] > 1e-12 || w[3]-s > 1e-12 {
		t.Errorf("big weighs %v in total, small %v", s, w[3])
	}
}
