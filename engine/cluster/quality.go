package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Transform returns the rows of x mapped into the model's distance space (columns in
// model feature order): what PCA plots and silhouettes are computed on.
func (m *Model) Transform(x *features.Batch) (*features.Batch, error) {
	idx, err := resolve(x.Names, m.Features)
	if err != nil {
		return nil, err
	}
	out := features.NewBatch(m.Features, x.Len)
	out.Len = x.Len
	for j, c := range idx {
		m.Scaler.apply(j, x.Cols[c][:x.Len], out.Cols[j][:x.Len])
	}
	return out, nil
}

// Silhouette returns the mean silhouette coefficient (Rousseeuw 1987) of the model's
// clustering of x, computed in the model's distance space on a random sample of at
// most sample rows drawn with seed (the cost grows with sample²). It is in [−1, 1];
// higher means tighter, better separated clusters. Rows that are alone in their cluster
// (within the sample) score 0, as in scikit-learn.
func (m *Model) Silhouette(x *features.Batch, sample int, seed uint64) (float64, error) {
	if x.Len < 2 {
		return 0, fmt.Errorf("%w: silhouette needs at least 2 rows", ErrTooFewRows)
	}
	z, err := m.Transform(x)
	if err != nil {
		return 0, err
	}
	lab := make([]int32, x.Len)
	if err := m.Predict(x, lab, nil); err != nil {
		return 0, err
	}
	rows := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)).Perm(x.Len)
	if sample > 0 && len(rows) > sample {
		rows = rows[:sample]
	}
	s := len(rows)
	d := len(z.Cols)
	pts := make([]float64, s*d)
	for t, i := range rows {
		for j := 0; j < d; j++ {
			pts[t*d+j] = float64(z.Cols[j][i])
		}
	}
	k := m.K()
	count := make([]int, k)
	for _, i := range rows {
		if lab[i] >= 0 {
			count[lab[i]]++
		}
	}
	sum := make([]float64, k)
	total, used := 0.0, 0
	for a, ia := range rows {
		ca := lab[ia]
		if ca < 0 {
			continue
		}
		for c := range sum {
			sum[c] = 0
		}
		pa := pts[a*d : (a+1)*d]
		for b, ib := range rows {
			if b == a || lab[ib] < 0 {
				continue
			}
			pb := pts[b*d : (b+1)*d]
			var dd float64
			for j, v := range pa {
				dv := v - pb[j]
				dd += dv * dv
			}
			sum[lab[ib]] += math.Sqrt(dd)
		}
		used++
		if count[ca] < 2 {
			continue
		}
		in := sum[ca] / float64(count[ca]-1)
		out := math.Inf(1)
		for c, v := range sum {
			if int32(c) != ca && count[c] > 0 {
				out = min(out, v/float64(count[c]))
			}
		}
		if math.IsInf(out, 1) {
			continue
		}
		if mx := max(in, out); mx > 0 {
			total += (out - in) / mx
		}
	}
	if used == 0 {
		return 0, nil
	}
	return total / float64(used), nil
}

// InertiaOf returns the sum of squared distances of x's rows to their nearest centres
// (in the model's distance space): the k-means objective on new data. Rows with NaN or
// infinite values are an error.
func (m *Model) InertiaOf(x *features.Batch) (float64, error) {
	lab := make([]int32, x.Len)
	dist := make([]float32, x.Len)
	if err := m.Predict(x, lab, dist); err != nil {
		return 0, err
	}
	s := 0.0
	for i, d := range dist {
		if lab[i] < 0 {
			return 0, fmt.Errorf("%w: row %d", ErrNotFinite, i)
		}
		s += float64(d) * float64(d)
	}
	return s, nil
}
