package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
)

// blobs returns n rows of d features drawn around k well separated random centres,
// and the generating centre of every row.
func blobs(seed uint64, n, d, k int, spread float64) (*features.Batch, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	names := make([]string, d)
	for j := range names {
		names[j] = fmt.Sprintf("f%d", j)
	}
	centres := make([][]float64, k)
	for c := range centres {
		centres[c] = make([]float64, d)
		for j := range centres[c] {
			centres[c][j] = rng.Float64() * 20
		}
	}
	b := features.NewBatch(names, n)
	truth := make([]int, n)
	row := make([]float32, d)
	for i := 0; i < n; i++ {
		c := rng.IntN(k)
		truth[i] = c
		for j := range row {
			row[j] = float32(centres[c][j] + rng.NormFloat64()*spread)
		}
		b.AppendRow(row)
	}
	return b, truth
}

// bruteNearest returns the nearest centre and squared distance of row i, in float64.
func bruteNearest(m *Model, b *features.Batch, i int) (int, float64) {
	d := len(m.Features)
	z := make([]float32, d)
	for j := 0; j < d; j++ {
		m.Scaler.apply(j, b.Cols[j][i:i+1], z[j:j+1])
	}
	best, bd := -1, math.Inf(1)
	for c, cen := range m.Centres {
		s := 0.0
		for j, v := range z {
			dv := float64(v) - cen[j]
			s += dv * dv
		}
		if s < bd {
			best, bd = c, s
		}
	}
	return best, bd
}

func TestFitRecoversBlobs(t *testing.T) {
	for _, tc := range []struct {
		k, d int
		tr   Transform
	}{{3, 2, TransformNone}, {8, 76, TransformStandardize}, {5, 10, TransformLog1p}, {12, 20, TransformStandardize}} {
		t.Run(fmt.Sprintf("k=%d/d=%d/%s", tc.k, tc.d, tc.tr), func(t *testing.T) {
			b, truth := blobs(7, 5000, tc.d, tc.k, 0.3)
			m, err := Fit(b, Config{K: tc.k, Seed: 1, Transform: tc.tr})
			if err != nil {
				t.Fatal(err)
			}
			lab := make([]int32, b.Len)
			dist := make([]float32, b.Len)
			if err := m.Predict(b, lab, dist); err != nil {
				t.Fatal(err)
			}
			// Every generating centre must map to one cluster (purity 1).
			to := map[int]int32{}
			bad := 0
			for i, c := range truth {
				if v, ok := to[c]; ok && v != lab[i] {
					bad++
				}
				to[c] = lab[i]
			}
			if bad > b.Len/100 {
				t.Errorf("%d of %d rows split from their blob", bad, b.Len)
			}
			// Predict agrees with a float64 brute-force search.
			for i := 0; i < b.Len; i += 7 {
				c, d2 := bruteNearest(m, b, i)
				if int(lab[i]) != c {
					_, alt := bruteNearestTo(m, b, i, int(lab[i]))
					if alt-d2 > 1e-3*(1+d2) {
						t.Fatalf("row %d: predicted %d (d²=%v), brute force %d (d²=%v)", i, lab[i], alt, c, d2)
					}
				}
				if got := float64(dist[i]) * float64(dist[i]); math.Abs(got-d2) > 1e-3*(1+d2) {
					t.Fatalf("row %d: distance² %v, brute force %v", i, got, d2)
				}
			}
		})
	}
}

func bruteNearestTo(m *Model, b *features.Batch, i, c int) (int, float64) {
	d := len(m.Features)
	s := 0.0
	for j := 0; j < d; j++ {
		var z [1]float32
		m.Scaler.apply(j, b.Cols[j][i:i+1], z[:])
		dv := float64(z[0]) - m.Centres[c][j]
		s += dv * dv
	}
	return c, s
}

func TestDeterminism(t *testing.T) {
	b, _ := blobs(3, 3000, 12, 6, 1)
	fit := func(seed uint64) *Model {
		m, err := Fit(b, Config{K: 6, Seed: seed, BatchSize: 256, Transform: TransformStandardize})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2, m3 := fit(5), fit(5), fit(6)
	var e1, e2, e3 bytes.Buffer
	m1.Encode(&e1)
	m2.Encode(&e2)
	m3.Encode(&e3)
	if !bytes.Equal(e1.Bytes(), e2.Bytes()) {
		t.Error("same seed gave different models")
	}
	if bytes.Equal(e1.Bytes(), e3.Bytes()) {
		t.Error("different seeds gave identical models (seed unused?)")
	}
}

func TestDegenerateInput(t *testing.T) {
	b, _ := blobs(3, 100, 4, 3, 1)
	empty := features.NewBatch([]string{"a", "b"}, 0)
	few := features.NewBatch([]string{"a"}, 4)
	few.AppendRow([]float32{1})
	few.AppendRow([]float32{2})
	nan, _ := blobs(3, 100, 4, 3, 1)
	nan.Cols[2][37] = float32(math.NaN())
	inf, _ := blobs(3, 100, 4, 3, 1)
	inf.Cols[1][5] = float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		b    *features.Batch
		cfg  Config
		want error
		msg  string
	}{
		{"empty", empty, Config{K: 2}, ErrEmpty, ""},
		{"nil", nil, Config{K: 2}, ErrEmpty, ""},
		{"fewer rows than k", few, Config{K: 3}, ErrTooFewRows, "2 rows"},
		{"nan", nan, Config{K: 3}, ErrNotFinite, `row 37, feature "f2"`},
		{"inf", inf, Config{K: 3, Transform: TransformLog1p}, ErrNotFinite, `row 5, feature "f1"`},
		{"k zero", b, Config{K: 0}, ErrConfig, "k = 0"},
		{"bad transform", b, Config{K: 2, Transform: "sqrt"}, ErrConfig, "sqrt"},
		{"bad quantile", b, Config{K: 2, Quantile: 2}, ErrConfig, "quantile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(tc.b, tc.cfg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestConstantColumnsAndDuplicates(t *testing.T) {
	// A constant column contributes nothing; identical rows (fewer distinct points than
	// k) still fit, with finite spreads and scores.
	b := features.NewBatch([]string{"const", "x"}, 40)
	for i := 0; i < 40; i++ {
		b.AppendRow([]float32{5, float32(i % 2)})
	}
	for _, tr := range []Transform{TransformNone, TransformStandardize, TransformLog1p} {
		m, err := Fit(b, Config{K: 4, Seed: 1, Transform: tr})
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		if m.Scaler.Kind != TransformNone && m.Scaler.Scale[0] != 1 {
			t.Errorf("%s: constant column scale %v, want 1", tr, m.Scaler.Scale[0])
		}
		lab, score := scoreRows(t, m, b)
		for i, s := range score {
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) || lab[i] < 0 {
				t.Fatalf("%s: row %d: cluster %d score %v", tr, i, lab[i], s)
			}
		}
		if m.Inertia > 1e-9 {
			t.Errorf("%s: inertia %v on two distinct points with k=4, want 0", tr, m.Inertia)
		}
	}
}

// scoreRows returns the cluster and anomaly score m gives each row of x.
func scoreRows(t testing.TB, m *Model, x *features.Batch) ([]int32, []float32) {
	t.Helper()
	lab := make([]int32, x.Len)
	score := make([]float32, x.Len)
	if err := m.Score(x, lab, score); err != nil {
		t.Fatal(err)
	}
	return lab, score
}

// anomalies counts the scores m calls anomalous.
func anomalies(m *Model, score []float32) int {
	n := 0
	for _, s := range score {
		if m.Anomalous(s) {
			n++
		}
	}
	return n
}

func TestPredictNaNRow(t *testing.T) {
	b, _ := blobs(3, 300, 5, 3, 1)
	m, err := Fit(b, Config{K: 3, Seed: 1, Transform: TransformStandardize})
	if err != nil {
		t.Fatal(err)
	}
	b.Cols[3][10] = float32(math.NaN())
	b.Cols[0][11] = float32(math.Inf(-1))
	lab, score := scoreRows(t, m, b)
	for _, i := range []int{10, 11} {
		if lab[i] != -1 || !math.IsInf(float64(score[i]), 1) || !m.Anomalous(score[i]) {
			t.Errorf("row %d: cluster %d score %v, want -1 and +Inf (anomaly)", i, lab[i], score[i])
		}
	}
	if lab[12] < 0 {
		t.Errorf("row 12 unaffected, got cluster %d", lab[12])
	}
}

func TestAnomalyScore(t *testing.T) {
	b, _ := blobs(9, 4000, 6, 4, 0.5)
	m, err := Fit(b, Config{K: 4, Seed: 2, Transform: TransformStandardize})
	if err != nil {
		t.Fatal(err)
	}
	lab, score := scoreRows(t, m, b)
	anom := anomalies(m, score)
	// By construction about 1% of training rows lie beyond their cluster's p99.
	if frac := float64(anom) / float64(b.Len); frac > 0.03 || frac < 0.002 {
		t.Errorf("%.2f%% of training rows anomalous, want ≈ 1%%", 100*frac)
	}
	far := features.NewBatch(b.Names, 1)
	far.AppendRow([]float32{500, -500, 500, 500, 500, 500})
	if err := m.Score(far, lab[:1], score[:1]); err != nil {
		t.Fatal(err)
	}
	if !m.Anomalous(score[0]) || score[0] < 10 {
		t.Errorf("far point score %v, want ≫ 1", score[0])
	}
}

func TestPredictByNameAndMissing(t *testing.T) {
	b, _ := blobs(3, 500, 4, 3, 1)
	m, err := Fit(b, Config{K: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int32, b.Len)
	m.Predict(b, want, nil)
	// Same columns in another order, plus an extra column.
	r := features.NewBatch([]string{"extra", "f3", "f1", "f0", "f2"}, b.Len)
	for i := 0; i < b.Len; i++ {
		r.AppendRow([]float32{9, b.Cols[3][i], b.Cols[1][i], b.Cols[0][i], b.Cols[2][i]})
	}
	got := make([]int32, b.Len)
	if err := m.Predict(r, got, nil); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d: %d after reordering columns, %d before", i, got[i], want[i])
		}
	}
	miss := features.NewBatch([]string{"f0", "f1"}, 1)
	miss.AppendRow([]float32{1, 2})
	if err := m.Predict(miss, got, nil); !errors.Is(err, ErrFeatures) || !strings.Contains(err.Error(), `"f2"`) {
		t.Errorf("missing feature: err = %v", err)
	}
	if err := m.Predict(b, got[:3], nil); !errors.Is(err, ErrFeatures) {
		t.Errorf("short destination: err = %v", err)
	}
}

func TestPredictAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	b, _ := blobs(3, 1000, 76, 8, 1)
	for _, tr := range []Transform{TransformStandardize, TransformLog1p} {
		m, err := Fit(b, Config{K: 8, Seed: 1, Transform: tr, MaxIter: 2})
		if err != nil {
			t.Fatal(err)
		}
		lab := make([]int32, b.Len)
		dist := make([]float32, b.Len)
		m.Predict(b, lab, dist)
		if a := testing.AllocsPerRun(20, func() { m.Predict(b, lab, dist) }); a != 0 {
			t.Errorf("%s: Predict allocates %v times per call", tr, a)
		}
	}
}

func TestFileRoundTrip(t *testing.T) {
	b, _ := blobs(3, 800, 5, 3, 1)
	m, err := Fit(b, Config{K: 3, Seed: 1, Transform: TransformLog1p, Threshold: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/km.json"
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	l1, l2 := make([]int32, b.Len), make([]int32, b.Len)
	s1, s2 := make([]float32, b.Len), make([]float32, b.Len)
	m.Score(b, l1, s1)
	m2.Score(b, l2, s2)
	for i := range l1 {
		if l1[i] != l2[i] || s1[i] != s2[i] {
			t.Fatalf("row %d: (%d, %v) before save, (%d, %v) after", i, l1[i], s1[i], l2[i], s2[i])
		}
	}
	if m2.Threshold != 1.5 || m2.Scaler.Kind != TransformLog1p {
		t.Errorf("threshold %v transform %s after load", m2.Threshold, m2.Scaler.Kind)
	}
}

func TestLoadValidation(t *testing.T) {
	b, _ := blobs(3, 200, 3, 2, 1)
	m, err := Fit(b, Config{K: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		edit  func(s *Spec)
	}{
		{"format", func(s *Spec) { s.Format = "tree" }},
		{"version", func(s *Spec) { s.Version = 9 }},
		{"features", func(s *Spec) { s.Features = nil }},
		{"features[1]", func(s *Spec) { s.Features = []string{"f0", "f0", "f2"} }},
		{"transform", func(s *Spec) { s.Transform = "cube" }},
		{"mean", func(s *Spec) { s.Mean = s.Mean[:1] }},
		{"scale[2]", func(s *Spec) { s.Scale = []float64{1, 1, 0} }},
		{"centres[1]", func(s *Spec) { s.Centres = [][]float64{s.Centres[0], {1}} }},
		{"centres[0][1]", func(s *Spec) { s.Centres = [][]float64{{0, math.NaN(), 0}, s.Centres[1]} }},
		{"spreads", func(s *Spec) { s.Spreads = s.Spreads[:1] }},
		{"spreads[0]", func(s *Spec) { s.Spreads = []float64{-1, 1} }},
		{"threshold", func(s *Spec) { s.Threshold = 0 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			s := m.Spec()
			s.Features = append([]string(nil), s.Features...)
			tc.edit(&s)
			_, err := s.Model()
			if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.field)) {
				t.Fatalf("err = %v, want ErrModel naming %q", err, tc.field)
			}
		})
	}
	if _, err := Decode(strings.NewReader(`{"format":"flowsieve-kmeans","bogus":1}`)); !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: err = %v", err)
	}
	if _, err := Decode(strings.NewReader(`{"format":`)); !errors.Is(err, ErrModel) {
		t.Errorf("truncated: err = %v", err)
	}
}

func TestPartialFitStream(t *testing.T) {
	b, truth := blobs(4, 20000, 10, 5, 0.3)
	mb, err := NewMiniBatch(b.Names, nil, Config{K: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	chunk := features.NewBatch(b.Names, 1000)
	row := make([]float32, len(b.Names))
	if err := mb.PartialFit(features.NewBatch(b.Names, 0)); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty batch: err = %v", err)
	}
	for off := 0; off < b.Len; off += 1000 {
		chunk.Reset()
		for i := off; i < off+1000; i++ {
			chunk.AppendRow(b.Row(i, row))
		}
		if err := mb.PartialFit(chunk); err != nil {
			t.Fatal(err)
		}
	}
	m, err := mb.Model(b)
	if err != nil {
		t.Fatal(err)
	}
	lab := make([]int32, b.Len)
	m.Predict(b, lab, nil)
	if p := Purity(lab, intsToStrings(truth)); p < 0.99 {
		t.Errorf("streaming purity %.3f, want ≥ 0.99", p)
	}
	chunk.Cols[2][4] = float32(math.NaN())
	if err := mb.PartialFit(chunk); !errors.Is(err, ErrNotFinite) {
		t.Errorf("NaN batch: err = %v", err)
	}
}

func intsToStrings(v []int) []string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return s
}

// BenchmarkPredict measures nearest-centre prediction with distances (standardised
// model) over a 1024-row batch, which stays in cache like the appliance's batches;
// BenchmarkPredictLarge streams 65536 rows from memory.
func BenchmarkPredict(b *testing.B) {
	for _, k := range []int{2, 8, 16} {
		for _, d := range []int{10, 76} {
			b.Run(fmt.Sprintf("k=%d/d=%d", k, d), func(b *testing.B) { benchPredict(b, k, d, 1024) })
		}
	}
}

func BenchmarkPredictLarge(b *testing.B) {
	b.Run("k=8/d=76/rows=65536", func(b *testing.B) { benchPredict(b, 8, 76, 65536) })
}

func benchPredict(b *testing.B, k, d, rows int) {
	benchPredictWith(b, k, d, rows, TransformStandardize)
}

func benchPredictWith(b *testing.B, k, d, rows int, tr Transform) {
	x, _ := blobs(1, rows, d, k, 1)
	m, err := Fit(x, Config{K: k, Seed: 1, Transform: tr, MaxIter: 2})
	if err != nil {
		b.Fatal(err)
	}
	lab := make([]int32, x.Len)
	dist := make([]float32, x.Len)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Predict(x, lab, dist)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*x.Len), "ns/row")
}

func BenchmarkPredictLog1p(b *testing.B) { benchPredictWith(b, 8, 76, 1024, TransformLog1p) }

func BenchmarkPartialFit(b *testing.B) {
	for _, k := range []int{8} {
		for _, d := range []int{76} {
			b.Run(fmt.Sprintf("k=%d/d=%d/batch=1024", k, d), func(b *testing.B) {
				x, _ := blobs(1, 1024*16, d, k, 1)
				mb, err := NewMiniBatch(x.Names, nil, Config{K: k, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				chunks := make([]*features.Batch, 16)
				row := make([]float32, d)
				for c := range chunks {
					chunks[c] = features.NewBatch(x.Names, 1024)
					for i := 0; i < 1024; i++ {
						chunks[c].AppendRow(x.Row(c*1024+i, row))
					}
				}
				mb.PartialFit(chunks[0])
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					mb.PartialFit(chunks[i%16])
				}
				b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

func TestSilhouetteAndAgreement(t *testing.T) {
	b, truth := blobs(11, 3000, 5, 4, 0.2)
	good, err := Fit(b, Config{K: 4, Seed: 1, Transform: TransformStandardize})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := Fit(b, Config{K: 2, Seed: 1, Transform: TransformStandardize})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := good.Silhouette(b, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := bad.Silhouette(b, 1000, 1)
	if sg < 0.7 || sg <= sb {
		t.Errorf("silhouette k=4 (true) %.3f, k=2 %.3f: want the true k clearly best", sg, sb)
	}
	lab := make([]int32, b.Len)
	good.Predict(b, lab, nil)
	labels := intsToStrings(truth)
	if ari := AdjustedRand(lab, labels); ari < 0.99 {
		t.Errorf("ARI %.3f on separated blobs", ari)
	}
	for i := range lab {
		lab[i] = int32(i % 4)
	}
	if ari := AdjustedRand(lab, labels); math.Abs(ari) > 0.02 {
		t.Errorf("ARI %.3f for an unrelated partition, want ≈ 0", ari)
	}
	if p := Purity([]int32{0, 0, 1, 1}, []string{"a", "b", "c", "c"}); p != 0.75 {
		t.Errorf("purity %v, want 0.75", p)
	}
}

func TestInertiaOf(t *testing.T) {
	b, _ := blobs(2, 2000, 8, 4, 0.5)
	m, err := Fit(b, Config{K: 4, Seed: 1, Transform: TransformStandardize})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.InertiaOf(b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-m.Inertia) > 1e-3*m.Inertia {
		t.Errorf("InertiaOf(training data) = %v, training inertia %v", got, m.Inertia)
	}
	b.Cols[0][3] = float32(math.NaN())
	if _, err := m.InertiaOf(b); !errors.Is(err, ErrNotFinite) {
		t.Errorf("NaN row: err = %v", err)
	}
}

func BenchmarkFit(b *testing.B) {
	x, _ := blobs(1, 25000, 79, 8, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Fit(x, Config{K: 8, Seed: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPredictConcurrent(t *testing.T) {
	b, _ := blobs(3, 2000, 20, 5, 1)
	m, err := Fit(b, Config{K: 5, Seed: 1, Transform: TransformLog1p})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int32, b.Len)
	m.Predict(b, want, nil)
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got := make([]int32, b.Len)
			for r := 0; r < 20; r++ {
				if err := m.Predict(b, got, nil); err != nil {
					errs <- err.Error()
					return
				}
				for i := range got {
					if got[i] != want[i] {
						errs <- fmt.Sprintf("row %d: %d, want %d", i, got[i], want[i])
						return
					}
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

func TestPartialFitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	// Skewed data (one big blob, small others) keeps reassignment busy.
	b, _ := blobs(8, 2048, 20, 3, 0.5)
	mb, err := NewMiniBatch(b.Names, nil, Config{K: 12, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.PartialFit(b); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(20, func() { mb.PartialFit(b) }); a != 0 {
		t.Errorf("PartialFit allocates %v times per call", a)
	}
}
