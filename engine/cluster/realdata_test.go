package cluster

import (
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"path/filepath"
	"sort"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
)

// finiteRows returns the rows of x whose values are all finite (CICFlowMeter writes
// NaN/Inf rates for zero-length flows).
func finiteRows(x *features.Batch) *features.Batch {
	out := features.NewBatch(x.Names, x.Len)
	row := make([]float32, len(x.Names))
	for i := 0; i < x.Len; i++ {
		x.Row(i, row)
		if firstNotFinite(row) < 0 {
			out.AppendRow(row)
		}
	}
	return out
}

// TestAnomalyOnCICIDS2017 trains on benign flows only and scores held-out benign flows
// and attack flows. The threshold is calibrated (about 1% of unseen benign flows reach
// a score of 1, the p99 spread), and the score must rank attacks above benign flows
// (area under the ROC curve). It logs the share of attacks flagged at the threshold:
// attacks that look like short benign exchanges (port scans, FTP brute force) score
// higher than benign flows but stay within the loose p99 radius.
func TestAnomalyOnCICIDS2017(t *testing.T) {
	dir := shareddata.Dir(t, "cicids2017-improved", "rnd_2500")
	load := func(name string) *features.Batch {
		ds, err := dataset.Load([]string{filepath.Join(dir, name)}, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return finiteRows(ds.X)
	}
	benign := load("BENIGN_2500.csv")
	train := features.NewBatch(benign.Names, benign.Len)
	held := features.NewBatch(benign.Names, benign.Len)
	row := make([]float32, len(benign.Names))
	for i := 0; i < benign.Len; i++ {
		if i%5 == 0 {
			held.AppendRow(benign.Row(i, row))
		} else {
			train.AppendRow(benign.Row(i, row))
		}
	}
	m, err := Fit(train, Config{K: 8, Seed: 1, Transform: TransformLog1p})
	if err != nil {
		t.Fatal(err)
	}
	scores := func(x *features.Batch) []float64 {
		_, score := scoreRows(t, m, x)
		out := make([]float64, x.Len)
		for i, v := range score {
			out[i] = float64(v)
		}
		return out
	}
	auc := func(neg, pos []float64) float64 {
		// P(score(attack) > score(benign)), ties count half.
		sort.Float64s(neg)
		sum := 0.0
		for _, p := range pos {
			lo := sort.SearchFloat64s(neg, p)
			hi := sort.Search(len(neg), func(i int) bool { return neg[i] > p })
			sum += float64(lo) + float64(hi-lo)/2
		}
		return sum / float64(len(neg)*len(pos))
	}
	rate := func(x *features.Batch) float64 {
		_, score := scoreRows(t, m, x)
		return float64(anomalies(m, score)) / float64(x.Len)
	}
	base := rate(held)
	t.Logf("held-out benign flows flagged: %.1f%%", 100*base)
	if base < 0.002 || base > 0.04 {
		t.Errorf("%.1f%% of held-out benign flows flagged, want about 1%% (the p99 spread)", 100*base)
	}
	for _, name := range []string{"Portscan_2500.csv", "DDoS_2500.csv", "DoS_Hulk_2500.csv", "SSH-Patator_2500.csv", "FTP-Patator_2500.csv", "DoS_Slowloris_2500.csv"} {
		x := load(name)
		r, a := rate(x), auc(scores(held), scores(x))
		t.Logf("%-24s flagged at threshold 1: %5.1f%%   AUC vs held-out benign: %.3f", name, 100*r, a)
		if a < 0.7 {
			t.Errorf("%s: AUC %.3f, want ≥ 0.7", name, a)
		}
		hs := scores(held)
		sort.Float64s(hs)
		thr := hs[len(hs)*95/100]
		n := 0
		for _, v := range scores(x) {
			if v >= thr {
				n++
			}
		}
		t.Logf("%-24s flagged at threshold %.2f (5%% of held-out benign): %5.1f%%", name, thr, 100*float64(n)/float64(x.Len))
	}
}

// BenchmarkFitCIC fits k=8 (standardised, scikit-learn's defaults otherwise) on the
// finite rows of the whole CIC-IDS2017 sample.
func BenchmarkFitCIC(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join(shareddata.Dir(b, "cicids2017-improved", "rnd_2500"), "*.csv"))
	ds, err := dataset.Load(paths, dataset.Options{})
	if err != nil {
		b.Fatal(err)
	}
	x := finiteRows(ds.X)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Fit(x, Config{K: 8, Seed: uint64(i), Transform: TransformStandardize}); err != nil {
			b.Fatal(err)
		}
	}
}
