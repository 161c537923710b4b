package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	yTrue = []string{"DDoS", "BENIGN", "BENIGN", "PortScan", "DDoS", "BENIGN", "Web Attack - Brute Force", "PortScan", "BENIGN", "DDoS"}
	yPred = []string{"DDoS", "BENIGN", "DDoS", "PortScan", "DDoS", "BENIGN", "BENIGN", "BENIGN", "BENIGN", "Infiltration"}
)

// The expected texts are scikit-learn 1.2's classification_report(yTrue, yPred,
// zero_division=0) with digits 2 and 4, copied verbatim.
const sklearn2 = `                          precision    recall  f1-score   support

                  BENIGN       0.60      0.75      0.67         4
                    DDoS       0.67      0.67      0.67         3
            Infiltration       0.00      0.00      0.00         0
                PortScan       1.00      0.50      0.67         2
Web Attack - Brute Force       0.00      0.00      0.00         1

                accuracy                           0.60        10
               macro avg       0.45      0.38      0.40        10
            weighted avg       0.64      0.60      0.60        10
`

const sklearn4 = `                          precision    recall  f1-score   support

                  BENIGN     0.6000    0.7500    0.6667         4
                    DDoS     0.6667    0.6667    0.6667         3
            Infiltration     0.0000    0.0000    0.0000         0
                PortScan     1.0000    0.5000    0.6667         2
Web Attack - Brute Force     0.0000    0.0000    0.0000         1

                accuracy                         0.6000        10
               macro avg     0.4533    0.3833    0.4000        10
            weighted avg     0.6400    0.6000    0.6000        10
`

func TestClassificationMatchesSklearn(t *testing.T) {
	r, err := Classify(yTrue, yPred)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		digits int
		want   string
	}{{2, sklearn2}, {4, sklearn4}} {
		var b strings.Builder
		if err := r.WriteText(&b, c.digits); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("digits %d:\n%s\nwant\n%s", c.digits, b.String(), c.want)
		}
	}
}

func TestJSON(t *testing.T) {
	r, _ := Classify(yTrue, yPred)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Accuracy   *float64 `json:"accuracy"`
		MacroF1    *float64 `json:"macro_f1"`
		WeightedF1 *float64 `json:"weighted_f1"`
		Classes    map[string]map[string]float64
		Confusion  struct {
			Labels []string
			Matrix [][]int
		}
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Accuracy == nil || *got.Accuracy != 0.6 || got.MacroF1 == nil || got.WeightedF1 == nil {
		t.Fatalf("top-level keys wrong: %s", data)
	}
	b := got.Classes["BENIGN"]
	if b["precision"] != 0.6 || b["recall"] != 0.75 || b["support"] != 4 || b["f1"] == 0 {
		t.Errorf("BENIGN = %v", b)
	}
	if len(got.Confusion.Labels) != 5 || got.Confusion.Matrix[0][0] != 3 || got.Confusion.Matrix[1][3] != 0 || got.Confusion.Matrix[1][1] != 2 {
		t.Errorf("confusion = %+v", got.Confusion)
	}
}

func TestConfusion(t *testing.T) {
	r, _ := Classify(yTrue, yPred)
	// rows: BENIGN, DDoS, Infiltration, PortScan, Web Attack
	want := [][]int{{3, 1, 0, 0, 0}, {0, 2, 1, 0, 0}, {0, 0, 0, 0, 0}, {1, 0, 0, 1, 0}, {1, 0, 0, 0, 0}}
	for i := range want {
		for j := range want[i] {
			if r.Confusion[i][j] != want[i][j] {
				t.Fatalf("confusion = %v, want %v", r.Confusion, want)
			}
		}
	}
	var b strings.Builder
	r.WriteConfusion(&b)
	if !strings.Contains(b.String(), "Web Attack - Brute Force [4]") {
		t.Errorf("text matrix:\n%s", b.String())
	}
	if _, err := Classify([]string{"a"}, nil); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestPlotConfusion(t *testing.T) {
	r, _ := Classify(yTrue, yPred)
	path := filepath.Join(t.TempDir(), "cm.png")
	if err := r.PlotConfusion(path, "test"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 1000 || string(data[1:4]) != "PNG" {
		t.Fatalf("not a PNG (%d bytes, %v)", len(data), err)
	}
}
