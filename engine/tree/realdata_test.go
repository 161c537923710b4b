package tree

import (
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
)

func loadReal(tb testing.TB, rel string) (*dataset.Dataset, []int32, []string) {
	tb.Helper()
	paths, _ := filepath.Glob(filepath.Join(shareddata.Dir(tb), rel))
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
