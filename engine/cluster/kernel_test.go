package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelAgainstBruteForce checks the kernel (AVX2 where available, plus the portable
// one) against a float64 brute-force search for every tail length and group count.
func TestKernelAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, k := range []int{1, 3, 8, 9, 17} {
		for _, d := range []int{1, 7, 20} {
			for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 24, 31, 64, 256} {
				for _, mode := range []string{"go", "avx2", "avx512"} {
					if (mode == "avx2" && !useAVX2) || (mode == "avx512" && !useAVX512) {
						continue
					}
					t.Run(fmt.Sprintf("k=%d/d=%d/n=%d/%s", k, d, n, mode), func(t *testing.T) {
						saved2, saved512 := useAVX2, useAVX512
						useAVX2, useAVX512 = mode != "go", mode == "avx512"
						defer func() { useAVX2, useAVX512 = saved2, saved512 }()
						off := 3
						cols := make([][]float32, d)
						for j := range cols {
							cols[j] = make([]float32, off+n)
							for i := range cols[j] {
								cols[j][i] = float32(rng.NormFloat64() * 3)
							}
						}
						if n > 2 {
							cols[d-1][off+1] = float32(math.NaN())
						}
						centres := make([]float64, k*d)
						for i := range centres {
							centres[i] = rng.NormFloat64() * 3
						}
						a, b := make([]float32, d), make([]float32, d)
						for j := range a {
							a[j], b[j] = 0.5+rng.Float32(), rng.Float32()-0.5
						}
						l := newLayout(k, d)
						l.set(centres)
						ident := make([]int, d)
						for j := range ident {
							ident[j] = j
						}
						var s scratch
						lab, d2 := make([]int32, n), make([]float32, n)
						l.nearest(&s, cols, ident, a, b, off, n, lab, d2)
						for i := 0; i < n; i++ {
							best, bd := -1, math.Inf(1)
							nan := false
							for c := 0; c < k; c++ {
								sum := 0.0
								for j := 0; j < d; j++ {
									z := float64(a[j]*cols[j][off+i] + b[j])
									nan = nan || math.IsNaN(z)
									dv := z - centres[c*d+j]
									sum += dv * dv
								}
								if sum < bd {
									best, bd = c, sum
								}
							}
							if nan {
								if lab[i] != -1 || !math.IsInf(float64(d2[i]), 1) {
									t.Fatalf("row %d (NaN): cluster %d d² %v", i, lab[i], d2[i])
								}
								continue
							}
							if int(lab[i]) != best {
								alt := 0.0
								for j := 0; j < d; j++ {
									dv := float64(a[j]*cols[j][off+i]+b[j]) - centres[int(lab[i])*d+j]
									alt += dv * dv
								}
								if alt-bd > 1e-4*(1+bd) {
									t.Fatalf("row %d: cluster %d (d² %v), want %d (d² %v)", i, lab[i], alt, best, bd)
								}
							}
							if math.Abs(float64(d2[i])-bd) > 1e-4*(1+bd) {
								t.Fatalf("row %d: d² %v, want %v", i, d2[i], bd)
							}
						}
					})
				}
			}
		}
	}
}

func TestLog1pInto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	special := []float32{0, 1, -1, 1e-30, -1e-30, 1e-8, 0.5, 2, 1e38, -3.4e38, 65535, 1e-45, 0.41421357, 7, 1e6, 123456789, -0.25, 5.96e-8}
	src := append([]float32(nil), special...)
	for i := 0; i < 100003; i++ {
		src = append(src, float32(math.Exp(rng.Float64()*80-40))*float32(1-2*rng.IntN(2)))
	}
	dst := make([]float32, len(src))
	log1pInto(dst, src)
	worst := 0.0
	for i, v := range src {
		want := math.Copysign(math.Log1p(math.Abs(float64(v))), float64(v))
		got := float64(dst[i])
		if want == 0 {
			if got != 0 {
				t.Fatalf("log1p(%v) = %v, want 0", v, got)
			}
			continue
		}
		if e := math.Abs(got-want) / math.Abs(want); e > worst {
			worst = e
			if e > 4e-7 {
				t.Fatalf("log1p(%v) = %v, want %v (relative error %g)", v, got, want, e)
			}
		}
	}
	t.Logf("worst relative error %g (AVX2 %v)", worst, useAVX2)
	nan := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3, 4, 5, 6, 7, 8}
	log1pInto(nan, nan)
	for i := 0; i < 3; i++ {
		if !math.IsNaN(float64(nan[i])) && !math.IsInf(float64(nan[i]), 0) {
			t.Errorf("non-finite input %d gave finite %v", i, nan[i])
		}
	}
}

// TestPortablePathAgrees fits and predicts with the portable Go kernel and with the
// vector kernels: the clusterings must agree (they differ only in rounding).
func TestPortablePathAgrees(t *testing.T) {
	if !useAVX2 {
		t.Skip("no vector kernel on this CPU: the portable path is what every other test runs")
	}
	b, _ := blobs(4, 3000, 30, 6, 0.5)
	run := func() []int32 {
		m, err := Fit(b, Config{K: 6, Seed: 3, Transform: TransformLog1p})
		if err != nil {
			t.Fatal(err)
		}
		lab := make([]int32, b.Len)
		if err := m.Predict(b, lab, nil); err != nil {
			t.Fatal(err)
		}
		return lab
	}
	vec := run()
	saved2, saved512 := useAVX2, useAVX512
	useAVX2, useAVX512 = false, false
	defer func() { useAVX2, useAVX512 = saved2, saved512 }()
	goLab := run()
	labels := make([]string, len(vec))
	for i, c := range vec {
		labels[i] = fmt.Sprint(c)
	}
	if ari := AdjustedRand(goLab, labels); ari < 0.999 {
		t.Errorf("portable and vector kernels disagree: ARI %.4f", ari)
	}
}
