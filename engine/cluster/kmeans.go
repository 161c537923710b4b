package cluster

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Config holds the k-means parameters. Zero values select the defaults noted, which
// follow scikit-learn's MiniBatchKMeans so results can be compared side by side.
type Config struct {
	K                 int       // number of clusters (required, ≥ 1)
	Seed              uint64    // random seed: the same data and seed give the same model
	BatchSize         int       // rows per mini-batch (default 1024)
	NInit             int       // k-means++ initialisations tried, best kept (default 3)
	MaxIter           int       // passes over the data at most (default 100)
	MaxNoImprovement  int       // stop after this many steps without a better smoothed inertia (default 10; < 0 disables)
	Tol               float64   // stop when centres move less than this (squared, per batch row; 0 disables)
	ReassignmentRatio float64   // centres with count < ratio·max count are moved to random rows (default 0.01; < 0 disables)
	InitSize          int       // rows sampled for k-means++ (default 3·BatchSize)
	Transform         Transform // feature transform (default none)
	Quantile          float64   // spread quantile of training distances (default 0.99)
	Threshold         float64   // anomaly threshold on the score (default 1)
}

func (c Config) withDefaults() (Config, error) {
	if c.K < 1 {
		return c, fmt.Errorf("%w: k = %d, want ≥ 1", ErrConfig, c.K)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1024
	}
	if c.NInit == 0 {
		c.NInit = 3
	}
	if c.MaxIter == 0 {
		c.MaxIter = 100
	}
	if c.MaxNoImprovement == 0 {
		c.MaxNoImprovement = 10
	}
	if c.ReassignmentRatio == 0 {
		c.ReassignmentRatio = 0.01
	}
	if c.InitSize == 0 {
		c.InitSize = 3 * c.BatchSize
	}
	if c.Quantile == 0 {
		c.Quantile = 0.99
	}
	if c.Threshold == 0 {
		c.Threshold = 1
	}
	t, err := ParseTransform(string(c.Transform))
	if err != nil {
		return c, err
	}
	c.Transform = t
	switch {
	case c.BatchSize < 1:
		return c, fmt.Errorf("%w: batch size %d, want ≥ 1", ErrConfig, c.BatchSize)
	case c.NInit < 1:
		return c, fmt.Errorf("%w: n_init %d, want ≥ 1", ErrConfig, c.NInit)
	case c.MaxIter < 1:
		return c, fmt.Errorf("%w: max_iter %d, want ≥ 1", ErrConfig, c.MaxIter)
	case c.InitSize < 1:
		return c, fmt.Errorf("%w: init size %d, want ≥ 1", ErrConfig, c.InitSize)
	case !(c.Quantile > 0 && c.Quantile <= 1):
		return c, fmt.Errorf("%w: quantile %v, want in (0, 1]", ErrConfig, c.Quantile)
	case !(c.Threshold > 0) || math.IsInf(c.Threshold, 0):
		return c, fmt.Errorf("%w: threshold %v, want > 0", ErrConfig, c.Threshold)
	case c.Tol < 0 || math.IsNaN(c.Tol):
		return c, fmt.Errorf("%w: tol %v, want ≥ 0", ErrConfig, c.Tol)
	}
	return c, nil
}

// matrix is data in the transformed space, column by column.
type matrix struct {
	cols [][]float32
	n    int
}

func newMatrix(d, n int) *matrix {
	m := &matrix{cols: make([][]float32, d), n: n}
	flat := make([]float32, d*n)
	for j := range m.cols {
		m.cols[j] = flat[j*n : (j+1)*n : (j+1)*n]
	}
	return m
}

// gather copies rows idx of src into m (which must have room for len(idx) rows).
func (m *matrix) gather(src *matrix, idx []int) {
	m.n = len(idx)
	for j, col := range src.cols {
		dst := m.cols[j][:len(idx)]
		for t, i := range idx {
			dst[t] = col[i]
		}
	}
}

// transformBatch maps the columns colIdx of x through the scaler into a new matrix,
// failing on the first value that is not finite.
func transformBatch(x *features.Batch, colIdx []int, s *Scaler) (*matrix, error) {
	m := newMatrix(len(colIdx), x.Len)
	if err := transformInto(m, x, colIdx, s); err != nil {
		return nil, err
	}
	return m, nil
}

func transformInto(m *matrix, x *features.Batch, colIdx []int, s *Scaler) error {
	m.n = x.Len
	for j, cj := range colIdx {
		src := x.Cols[cj][:x.Len]
		if i := firstNotFinite(src); i >= 0 {
			return fmt.Errorf("%w: row %d, feature %q is %v", ErrNotFinite, i, x.Names[cj], src[i])
		}
		s.apply(j, src, m.cols[j][:x.Len])
	}
	return nil
}

// firstNotFinite returns the index of the first NaN or infinite value of v, or −1.
func firstNotFinite(v []float32) int {
	// Four independent sums keep the adds from waiting on each other.
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i] - v[i]
		s1 += v[i+1] - v[i+1]
		s2 += v[i+2] - v[i+2]
		s3 += v[i+3] - v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i] - v[i]
	}
	if s0+s1+s2+s3 == 0 { // 0 when every x is finite, NaN otherwise
		return -1
	}
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// trainer is the mini-batch k-means state shared by Fit and MiniBatch.
type trainer struct {
	cfg     Config
	k, d    int
	rng     *rand.Rand
	centres []float64 // k × d, transformed space
	counts  []float64 // per-centre learning-rate denominators
	lay     *layout
	s       scratch
	ident   []int
	lab     []int32
	d2      []float32
	sums    []float64
	bcount  []float64
	perm    []int
	low     []int  // reassign's scratch: centres to move
	isLow   []bool // reassign's scratch: per centre

	sinceReassign int
	ewa, ewaMin   float64
	haveEWA       bool
	haveMin       bool
	noImprove     int
	steps         int
}

func newTrainer(cfg Config, d int) *trainer {
	t := &trainer{cfg: cfg, k: cfg.K, d: d,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		centres: make([]float64, cfg.K*d),
		counts:  make([]float64, cfg.K),
		lay:     newLayout(cfg.K, d),
		ident:   make([]int, d),
		sums:    make([]float64, cfg.K*d),
		bcount:  make([]float64, cfg.K),
		low:     make([]int, 0, cfg.K),
		isLow:   make([]bool, cfg.K),
	}
	for j := range t.ident {
		t.ident[j] = j
	}
	return t
}

// assign labels every row of m with its nearest centre (as loaded in t.lay).
func (t *trainer) assign(m *matrix, lab []int32, d2 []float32) {
	for off := 0; off < m.n; off += blockRows {
		n := min(blockRows, m.n-off)
		t.lay.nearest(&t.s, m.cols, t.ident, nil, nil, off, n, lab[off:off+n], d2[off:off+n])
	}
}

func (t *trainer) buffers(n int) {
	if cap(t.lab) < n {
		t.lab = make([]int32, n)
		t.d2 = make([]float32, n)
	}
	t.lab, t.d2 = t.lab[:n], t.d2[:n]
}

// inertiaOf returns the sum of squared distances of m's rows to the given centres.
func (t *trainer) inertiaOf(m *matrix, centres []float64) float64 {
	t.lay.set(centres)
	t.buffers(m.n)
	t.assign(m, t.lab, t.d2)
	var s float64
	for _, v := range t.d2 {
		s += float64(v)
	}
	return s
}

// sqDistTo sets out[i] to the squared distance of row i of m to point p.
func sqDistTo(m *matrix, p []float64, out []float64) {
	out = out[:m.n]
	for i := range out {
		out[i] = 0
	}
	for j, col := range m.cols {
		pj := p[j]
		for i, v := range col[:m.n] {
			dv := float64(v) - pj
			out[i] += dv * dv
		}
	}
}

// sqDistMany sets out[t·n+i] to the squared distance of row i of m to point t of ps
// (nc points of len(m.cols) values), a block of rows at a time so each block of the data
// is read once for all points.
func sqDistMany(m *matrix, ps []float64, nc int, out []float64) {
	n, d := m.n, len(m.cols)
	const block = 512
	for i0 := 0; i0 < n; i0 += block {
		i1 := min(i0+block, n)
		for t := 0; t < nc; t++ {
			clear(out[t*n+i0 : t*n+i1])
		}
		for j, col := range m.cols {
			c := col[i0:i1]
			for t := 0; t < nc; t++ {
				pj := ps[t*d+j]
				o := out[t*n+i0 : t*n+i1]
				o = o[:len(c)]
				for i, v := range c {
					dv := float64(v) - pj
					o[i] += dv * dv
				}
			}
		}
	}
}

// plusplus picks k centres from the rows of m with greedy k-means++ (Arthur and
// Vassilvitskii 2007; scikit-learn's variant: 2 + ⌊ln k⌋ candidates per step, the one
// that lowers the potential most is kept).
func (t *trainer) plusplus(m *matrix) []float64 {
	k, d, n := t.k, t.d, m.n
	centres := make([]float64, k*d)
	row := func(i int, dst []float64) {
		for j, col := range m.cols {
			dst[j] = float64(col[i])
		}
	}
	trials := 2 + int(math.Log(float64(k)))
	closest := make([]float64, n)
	cum := make([]float64, n)
	row(t.rng.IntN(n), centres[:d])
	sqDistTo(m, centres[:d], closest)
	pot := 0.0
	for _, v := range closest {
		pot += v
	}
	cands := make([]int, trials)
	candP := make([]float64, trials*d)
	candD := make([]float64, trials*n)
	for c := 1; c < k; c++ {
		acc := 0.0
		for i, v := range closest {
			acc += v
			cum[i] = acc
		}
		for tr := range cands {
			idx := sort.SearchFloat64s(cum, t.rng.Float64()*acc)
			if idx >= n {
				idx = n - 1
			}
			cands[tr] = idx
			row(idx, candP[tr*d:(tr+1)*d])
		}
		sqDistMany(m, candP, trials, candD)
		bestPot, best := math.Inf(1), -1
		for tr := range cands {
			cand := candD[tr*n : (tr+1)*n]
			np := 0.0
			for i, v := range cand {
				if closest[i] < v {
					v = closest[i]
				}
				cand[i] = v
				np += v
			}
			if np < bestPot {
				bestPot, best = np, tr
			}
		}
		row(cands[best], centres[c*d:(c+1)*d])
		copy(closest, candD[best*n:(best+1)*n])
		pot = bestPot
	}
	_ = pot
	return centres
}

// step runs one mini-batch update on m and returns the batch's summed squared distance
// before the update.
func (t *trainer) step(m *matrix) float64 {
	k, d := t.k, t.d
	t.lay.set(t.centres)
	t.buffers(m.n)
	t.assign(m, t.lab, t.d2)
	var inertia float64
	for _, v := range t.d2 {
		inertia += float64(v)
	}
	for i := range t.sums {
		t.sums[i] = 0
	}
	for c := range t.bcount {
		t.bcount[c] = 0
	}
	for _, l := range t.lab {
		if l >= 0 {
			t.bcount[l]++
		}
	}
	lab := t.lab[:m.n]
	for j, col := range m.cols {
		// Rows of one cluster often come in runs; four interleaved sets of sums keep
		// consecutive adds to the same centre independent of each other.
		const w = groupSize * 4
		var acc [4][w]float64
		if k <= w {
			col := col[:len(lab)]
			i := 0
			for ; i+4 <= len(lab); i += 4 {
				if l := lab[i]; l >= 0 {
					acc[0][l&(w-1)] += float64(col[i])
				}
				if l := lab[i+1]; l >= 0 {
					acc[1][l&(w-1)] += float64(col[i+1])
				}
				if l := lab[i+2]; l >= 0 {
					acc[2][l&(w-1)] += float64(col[i+2])
				}
				if l := lab[i+3]; l >= 0 {
					acc[3][l&(w-1)] += float64(col[i+3])
				}
			}
			for ; i < len(lab); i++ {
				if l := lab[i]; l >= 0 {
					acc[0][l&(w-1)] += float64(col[i])
				}
			}
			for c := 0; c < k; c++ {
				t.sums[c*d+j] = (acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c])
			}
			continue
		}
		for i, v := range col[:len(lab)] {
			if l := lab[i]; l >= 0 {
				t.sums[int(l)*d+j] += float64(v)
			}
		}
	}
	for c := 0; c < k; c++ {
		bc := t.bcount[c]
		if bc == 0 {
			continue
		}
		old := t.counts[c]
		nc := old + bc
		cen := t.centres[c*d : (c+1)*d]
		sum := t.sums[c*d : (c+1)*d]
		for j := range cen {
			cen[j] = (cen[j]*old + sum[j]) / nc
		}
		t.counts[c] = nc
	}
	t.sinceReassign += m.n
	if t.cfg.ReassignmentRatio > 0 {
		due := t.sinceReassign >= 10*k
		for _, c := range t.counts {
			if c == 0 {
				due = true
			}
		}
		if due {
			t.sinceReassign = 0
			t.reassign(m)
		}
	}
	t.steps++
	return inertia
}

// reassign moves centres whose count is below ReassignmentRatio·max to random rows of
// the batch, as scikit-learn does, so that centres stuck in empty regions get a new start.
func (t *trainer) reassign(m *matrix) {
	k, d := t.k, t.d
	maxc := 0.0
	for _, c := range t.counts {
		maxc = max(maxc, c)
	}
	limit := t.cfg.ReassignmentRatio * maxc
	low := t.low[:0]
	for c, v := range t.counts {
		if v < limit {
			low = append(low, c)
		}
	}
	if len(low) == 0 {
		return
	}
	if half := m.n / 2; len(low) > half {
		// Keep only the half-batch of centres with the smallest counts.
		slices.SortStableFunc(low, func(a, b int) int { return cmp.Compare(t.counts[a], t.counts[b]) })
		low = low[:half]
		if len(low) == 0 {
			return
		}
	}
	if len(low) >= k || len(low) > m.n {
		return
	}
	if cap(t.perm) < m.n {
		t.perm = make([]int, m.n)
	}
	perm := t.perm[:m.n]
	for i := range perm {
		perm[i] = i
	}
	isLow := t.isLow
	clear(isLow)
	for _, c := range low {
		isLow[c] = true
	}
	minKept := math.Inf(1)
	for c, v := range t.counts {
		if !isLow[c] {
			minKept = min(minKept, v)
		}
	}
	for r, c := range low {
		s := r + t.rng.IntN(m.n-r)
		perm[r], perm[s] = perm[s], perm[r]
		i := perm[r]
		for j, col := range m.cols {
			t.centres[c*d+j] = float64(col[i])
		}
		t.counts[c] = minKept
	}
}

// converged implements scikit-learn's early stopping on the exponentially weighted
// average of the per-row batch inertia.
func (t *trainer) converged(step, n, batch int, batchInertia, shift float64) bool {
	bi := batchInertia / float64(batch)
	if step == 0 {
		return false
	}
	if !t.haveEWA {
		t.ewa, t.haveEWA = bi, true
	} else {
		alpha := min(float64(batch)*2/float64(n+1), 1)
		t.ewa = t.ewa*(1-alpha) + bi*alpha
	}
	if t.cfg.Tol > 0 && shift <= t.cfg.Tol {
		return true
	}
	if !t.haveMin || t.ewa < t.ewaMin {
		t.noImprove, t.ewaMin, t.haveMin = 0, t.ewa, true
	} else {
		t.noImprove++
	}
	return t.cfg.MaxNoImprovement > 0 && t.noImprove >= t.cfg.MaxNoImprovement
}

// resolve maps each wanted feature name to its column in names.
func resolve(names, want []string) ([]int, error) {
	idx := make([]int, len(want))
	return idx, resolveInto(idx, names, want)
}

// resolveInto is resolve writing into idx (len(want) entries).
func resolveInto(idx []int, names, want []string) error {
	for j, w := range want {
		idx[j] = -1
		if j < len(names) && names[j] == w {
			idx[j] = j
			continue
		}
		for i, n := range names {
			if n == w {
				idx[j] = i
				break
			}
		}
		if idx[j] < 0 {
			return fmt.Errorf("%w: feature %q missing from the batch", ErrFeatures, w)
		}
	}
	return nil
}

// Fit clusters the rows of x (all its columns) with mini-batch k-means and returns the
// fitted model. It fails on empty input, fewer rows than clusters, or any NaN or
// infinite value (the error names the row and feature).
func Fit(x *features.Batch, cfg Config) (*Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if x == nil || x.Len == 0 || len(x.Cols) == 0 {
		return nil, ErrEmpty
	}
	if x.Len < cfg.K {
		return nil, fmt.Errorf("%w: %d rows, k = %d", ErrTooFewRows, x.Len, cfg.K)
	}
	ident := make([]int, len(x.Cols))
	for j := range ident {
		ident[j] = j
	}
	// Check finiteness before fitting the scaler so the error names the raw value.
	for j := range x.Cols {
		col := x.Column(j)
		if i := firstNotFinite(col); i >= 0 {
			return nil, fmt.Errorf("%w: row %d, feature %q is %v", ErrNotFinite, i, x.Names[j], col[i])
		}
	}
	sc, err := FitScaler(x, cfg.Transform)
	if err != nil {
		return nil, err
	}
	z, err := transformBatch(x, ident, sc)
	if err != nil {
		return nil, err
	}
	return fitMatrix(z, x.Names, sc, cfg)
}

func ones(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func randomRows(rng *rand.Rand, n, size int) []int {
	idx := make([]int, size)
	for i := range idx {
		idx[i] = rng.IntN(n)
	}
	return idx
}

// fitMatrix runs scikit-learn's MiniBatchKMeans.fit schedule on transformed data.
func fitMatrix(z *matrix, names []string, sc *Scaler, cfg Config) (*Model, error) {
	n, d, k := z.n, len(z.cols), cfg.K
	t := newTrainer(cfg, d)
	bs := min(cfg.BatchSize, n)
	initSize := min(cfg.InitSize, n)
	if initSize < k {
		initSize = min(n, 3*k)
	}
	val := newMatrix(d, initSize)
	val.gather(z, randomRows(t.rng, n, initSize))
	sample := newMatrix(d, initSize)
	var best []float64
	bestInertia := math.Inf(1)
	for r := 0; r < cfg.NInit; r++ {
		sample.gather(z, randomRows(t.rng, n, initSize))
		c := t.plusplus(sample)
		if in := t.inertiaOf(val, c); in < bestInertia || best == nil {
			best, bestInertia = c, in
		}
	}
	copy(t.centres, best)
	steps := cfg.MaxIter * n / bs
	batch := newMatrix(d, bs)
	idx := make([]int, bs)
	var prev []float64
	if cfg.Tol > 0 {
		prev = make([]float64, len(t.centres))
	}
	for s := 0; s < steps; s++ {
		for i := range idx {
			idx[i] = t.rng.IntN(n)
		}
		slices.Sort(idx) // walk each column forwards: the batch's row order does not matter
		batch.gather(z, idx)
		if prev != nil {
			copy(prev, t.centres)
		}
		bi := t.step(batch)
		shift := 0.0
		for i := range prev {
			dv := t.centres[i] - prev[i]
			shift += dv * dv
		}
		if t.converged(s, n, bs, bi, shift) {
			break
		}
	}
	return t.model(z, names, sc)
}

// model builds the fitted model from the trainer's centres, measuring inertia and the
// per-cluster spreads on the reference data ref (transformed space).
func (t *trainer) model(ref *matrix, names []string, sc *Scaler) (*Model, error) {
	k, d := t.k, t.d
	m := &Model{
		Features:  append([]string(nil), names...),
		Scaler:    sc,
		Centres:   make([][]float64, k),
		Counts:    append([]float64(nil), t.counts...),
		Spreads:   make([]float64, k),
		Threshold: t.cfg.Threshold,
		Quantile:  t.cfg.Quantile,
		Rows:      ref.n,
		Steps:     t.steps,
	}
	for c := range m.Centres {
		m.Centres[c] = append([]float64(nil), t.centres[c*d:(c+1)*d]...)
	}
	t.lay.set(t.centres)
	t.buffers(ref.n)
	t.assign(ref, t.lab, t.d2)
	// Exact inertia in float64 against the assigned centres.
	exact := make([]float64, ref.n)
	for j, col := range ref.cols {
		for i, v := range col[:ref.n] {
			dv := float64(v) - t.centres[int(t.lab[i])*d+j]
			exact[i] += dv * dv
		}
	}
	per := make([][]float64, k)
	for i, v := range exact {
		m.Inertia += v
		c := t.lab[i]
		per[c] = append(per[c], math.Sqrt(v))
	}
	for c, ds := range per {
		m.Spreads[c] = quantile(ds, t.cfg.Quantile)
	}
	fixSpreads(m.Spreads)
	if err := m.prepare(); err != nil {
		return nil, err
	}
	return m, nil
}

// quantile returns the nearest-rank q-quantile of v (sorting v), 0 for empty v.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[max(0, min(i, len(v)-1))]
}

// fixSpreads replaces zero spreads (empty clusters, or clusters of identical rows) by the
// smallest positive spread, or 1 when there is none, so scores stay finite.
func fixSpreads(s []float64) {
	low := math.Inf(1)
	for _, v := range s {
		if v > 0 && v < low {
			low = v
		}
	}
	if math.IsInf(low, 1) {
		low = 1
	}
	for i, v := range s {
		if !(v > 0) {
			s[i] = low
		}
	}
}
