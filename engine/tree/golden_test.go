package tree_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
)

// TestGoldenSklearn loads trees exported from scikit-learn (tools/make_golden.py) and
// checks that flowsieve predicts exactly scikit-learn's class and probability for every
// input row, including rows placed just below, at and just above every threshold.
func TestGoldenSklearn(t *testing.T) {
	models, err := filepath.Glob("testdata/*.model.json")
	if err != nil || len(models) == 0 {
		t.Fatalf("no golden files in testdata (run tools/make_golden.py): %v", err)
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".model.json")
		t.Run(name, func(t *testing.T) {
			m, err := model.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join("testdata", name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			recs, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			head, rows := recs[0], recs[1:]
			d := len(head) - 2
			b := features.NewBatch(head[:d], len(rows))
			row := make([]float32, d)
			wantClass := make([]string, len(rows))
			wantProb := make([]float32, len(rows))
			for i, r := range rows {
				for j := range d {
					v, err := strconv.ParseFloat(r[j], 32)
					if err != nil {
						t.Fatal(err)
					}
					row[j] = float32(v)
				}
				b.AppendRow(row)
				wantClass[i] = r[d]
				p, _ := strconv.ParseFloat(r[d+1], 32)
				wantProb[i] = float32(p)
			}
			p, err := m.Bind(head[:d])
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]int32, b.Len)
			prob := make([]float32, b.Len)
			p.PredictBatch(b, dst, prob)
			for i := range rows {
				c, pr := p.PredictRow(b.Row(i, row))
				if m.ClassName(dst[i]) != wantClass[i] || prob[i] != wantProb[i] || c != dst[i] || pr != prob[i] {
					t.Fatalf("row %d (%v): flowsieve %s %v (row path %s %v), scikit-learn %s %v",
						i+2, rows[i][:d], m.ClassName(dst[i]), prob[i], m.ClassName(c), pr, wantClass[i], wantProb[i])
				}
			}
			t.Logf("%d rows equal, %d nodes, depth %d", len(rows), len(m.Tree.Nodes), m.Tree.Depth())
		})
	}
}
