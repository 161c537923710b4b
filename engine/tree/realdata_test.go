package tree

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
)

// sharedData returns ../shared/data relative to the module root, skipping when absent.
func sharedData(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("module root not found")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		tb.Skipf("shared data set not available at %s: %v", d, err)
	}
	return d
}

func loadReal(tb testing.TB, rel string) (*dataset.Dataset, []int32, []string) {
	tb.Helper()
	paths, _ := filepath.Glob(filepath.Join(sharedData(tb), rel))
	d, err := dataset.Load(paths, dataset.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ids, classes := dataset.Classes(d.Labels)
	return d, ids, classes
}

// BenchmarkTrainReal trains full-depth gini trees on the real data sets (compare with
// bench/sklearn/compare.sh for scikit-learn on the same data).
func BenchmarkTrainReal(b *testing.B) {
	for _, c := range []struct{ name, rel string }{
		{"nslkdd-20pct", "nsl-kdd/KDDTrain+_20Percent.txt"},
		{"cicids2017-improved", "cicids2017-improved/rnd_2500/*.csv"},
		{"kddcup99-10pct", "kddcup99/kddcup.data_10_percent.gz"},
	} {
		d, y, classes := loadReal(b, c.rel)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Fit(d.X.Cols, y, len(classes), nil, Params{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
