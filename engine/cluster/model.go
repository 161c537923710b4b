package cluster

import (
	"fmt"
	"math"
	"sync"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Model is a fitted k-means model. It is immutable once built and safe for concurrent
// use; Predict and Score allocate nothing in steady state.
type Model struct {
	Features  []string    // feature (column) names, in order
	Scaler    *Scaler     // transform fitted on the training data
	Centres   [][]float64 // k × len(Features), in the transformed space
	Counts    []float64   // rows each centre absorbed during training
	Spreads   []float64   // per cluster: Quantile of training distances to the centre
	Threshold float64     // score at or above which a row is an anomaly
	Inertia   float64     // sum of squared distances on the training data
	Rows      int         // training rows
	Steps     int         // mini-batch steps run
	Quantile  float64     // quantile of training distances used as spread

	lay   *layout
	a, b  []float32 // the kernel's affine transform per feature (standardisation)
	logIn bool      // log1p the values before the kernel (TransformLog1p)
	pool  sync.Pool
}

type predictScratch struct {
	s      scratch
	names  []string // the batch names the column map was built for
	colIdx []int
	lab    [blockRows]int32
	d2     [blockRows]float32
	z      [][]float32 // log1p path: transformed block
	zIdx   []int
}

// K returns the number of clusters.
func (m *Model) K() int { return len(m.Centres) }

// prepare validates the model and builds the kernel layout.
func (m *Model) prepare() error {
	d := len(m.Features)
	if d == 0 {
		return fmt.Errorf("%w: no features", ErrModel)
	}
	k := len(m.Centres)
	if k == 0 {
		return fmt.Errorf("%w: no centres", ErrModel)
	}
	m.lay = newLayout(k, d)
	flat := make([]float64, 0, k*d)
	for _, c := range m.Centres {
		flat = append(flat, c...)
	}
	m.lay.set(flat)
	m.logIn = m.Scaler.Kind == TransformLog1p
	m.a, m.b = make([]float32, d), make([]float32, d)
	for j := range m.a {
		m.a[j] = float32(1 / m.Scaler.Scale[j])
		m.b[j] = float32(-m.Scaler.Mean[j] / m.Scaler.Scale[j])
	}
	m.pool.New = func() any {
		p := &predictScratch{colIdx: make([]int, d)}
		if m.logIn {
			p.z = make([][]float32, d)
			flat := make([]float32, d*blockRows)
			p.zIdx = make([]int, d)
			for j := range p.z {
				p.z[j] = flat[j*blockRows : (j+1)*blockRows]
				p.zIdx[j] = j
			}
		}
		return p
	}
	return nil
}

// columns maps the model's features to b's columns, reusing the last map when the
// batch carries the same names slice.
func (m *Model) columns(p *predictScratch, b *features.Batch) error {
	if len(p.names) == len(b.Names) && len(b.Names) > 0 && &p.names[0] == &b.Names[0] {
		return nil
	}
	idx, err := resolve(b.Names, m.Features)
	if err != nil {
		return err
	}
	copy(p.colIdx, idx)
	p.names = b.Names
	return nil
}

// Predict writes, for every row of b, the nearest cluster into dst and, when dist is
// not nil, the Euclidean distance to it (in the transformed space) into dist. Columns
// are found by name; the column map is cached per Names slice, so reuse a batch's Names
// rather than editing it in place. Rows with NaN or infinite values get cluster −1 and
// distance +Inf.
func (m *Model) Predict(b *features.Batch, dst []int32, dist []float32) error {
	if len(dst) < b.Len {
		return fmt.Errorf("%w: cluster slice holds %d rows, batch has %d", ErrFeatures, len(dst), b.Len)
	}
	if dist != nil && len(dist) < b.Len {
		return fmt.Errorf("%w: distance slice holds %d rows, batch has %d", ErrFeatures, len(dist), b.Len)
	}
	p := m.pool.Get().(*predictScratch)
	defer m.pool.Put(p)
	if err := m.columns(p, b); err != nil {
		return err
	}
	for j, c := range p.colIdx {
		if len(b.Cols[c]) < b.Len {
			return fmt.Errorf("%w: column %q has %d values, batch has %d rows", ErrFeatures, m.Features[j], len(b.Cols[c]), b.Len)
		}
	}
	for off := 0; off < b.Len; off += blockRows {
		n := min(blockRows, b.Len-off)
		lab, d2 := dst[off:off+n], p.d2[:n]
		if !m.logIn {
			m.lay.nearest(&p.s, b.Cols, p.colIdx, m.a, m.b, off, n, lab, d2)
		} else {
			for j, c := range p.colIdx {
				log1pInto(p.z[j][:n], b.Cols[c][off:off+n])
			}
			m.lay.nearest(&p.s, p.z, p.zIdx, m.a, m.b, 0, n, lab, d2)
		}
		if dist != nil {
			out := dist[off : off+n]
			for i, v := range d2 {
				out[i] = float32(math.Sqrt(float64(v)))
			}
		}
	}
	return nil
}

// Score writes, for every row of b, the nearest cluster into dst and the anomaly score
// into score: the distance to that cluster's centre divided by the cluster's spread
// (its Quantile of training distances). Scores at or above Threshold are anomalies.
// Rows with NaN or infinite values get cluster −1 and score +Inf.
func (m *Model) Score(b *features.Batch, dst []int32, score []float32) error {
	if score == nil {
		return fmt.Errorf("%w: nil score slice", ErrFeatures)
	}
	if err := m.Predict(b, dst, score); err != nil {
		return err
	}
	for i, c := range dst[:b.Len] {
		if c >= 0 {
			score[i] = float32(float64(score[i]) / m.Spreads[c])
		}
	}
	return nil
}

// Anomalous reports whether a score marks an anomaly (score ≥ Threshold).
func (m *Model) Anomalous(score float32) bool { return float64(score) >= m.Threshold }

// CentreOriginal returns centre c in the original feature units.
func (m *Model) CentreOriginal(c int) []float64 {
	v := append([]float64(nil), m.Centres[c]...)
	m.Scaler.Invert(v)
	return v
}

// MiniBatch is streaming mini-batch k-means: feed it batches with PartialFit as they
// arrive, then take a Model. The transform must be fitted beforehand (or be none).
type MiniBatch struct {
	t      *trainer
	names  []string
	scaler *Scaler
	buf    *matrix
	colIdx []int
	init   bool
}

// NewMiniBatch returns a streaming learner over the named features; scaler may be nil
// (no transform). cfg.Transform is ignored: the scaler decides.
func NewMiniBatch(names []string, scaler *Scaler, cfg Config) (*MiniBatch, error) {
	cfg.Transform = ""
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := len(names)
	if d == 0 {
		return nil, fmt.Errorf("%w: no features", ErrConfig)
	}
	if scaler == nil {
		scaler = &Scaler{Kind: TransformNone, Mean: make([]float64, d), Scale: ones(d)}
	}
	if len(scaler.Mean) != d || len(scaler.Scale) != d {
		return nil, fmt.Errorf("%w: scaler has %d features, want %d", ErrConfig, len(scaler.Mean), d)
	}
	return &MiniBatch{t: newTrainer(cfg, d), names: append([]string(nil), names...), scaler: scaler,
		buf: newMatrix(d, 0), colIdx: make([]int, d)}, nil
}

// PartialFit runs one mini-batch step on the rows of b (columns found by name). The
// first call initialises the centres with k-means++ on b, so it needs at least k rows.
// It fails on NaN or infinite values, naming row and feature, and changes nothing then.
func (mb *MiniBatch) PartialFit(b *features.Batch) error {
	if b.Len == 0 {
		return ErrEmpty
	}
	if !mb.init && b.Len < mb.t.k {
		return fmt.Errorf("%w: first batch has %d rows, k = %d", ErrTooFewRows, b.Len, mb.t.k)
	}
	if err := resolveInto(mb.colIdx, b.Names, mb.names); err != nil {
		return err
	}
	if cap(mb.buf.cols[0]) < b.Len {
		mb.buf = newMatrix(len(mb.names), b.Len)
	}
	for j := range mb.buf.cols {
		mb.buf.cols[j] = mb.buf.cols[j][:cap(mb.buf.cols[j])]
	}
	if err := transformInto(mb.buf, b, mb.colIdx, mb.scaler); err != nil {
		return err
	}
	if !mb.init {
		size := min(mb.t.cfg.InitSize, b.Len)
		size = max(size, mb.t.k)
		s := newMatrix(len(mb.names), size)
		s.gather(mb.buf, randomRows(mb.t.rng, b.Len, size))
		copy(mb.t.centres, mb.t.plusplus(s))
		mb.init = true
	}
	mb.t.step(mb.buf)
	return nil
}

// Model returns the model learnt so far, with inertia and spreads measured on ref (for
// example a recent sample of the stream).
func (mb *MiniBatch) Model(ref *features.Batch) (*Model, error) {
	if !mb.init {
		return nil, fmt.Errorf("%w: PartialFit was never called", ErrEmpty)
	}
	if ref == nil || ref.Len == 0 {
		return nil, fmt.Errorf("%w: reference batch for spreads", ErrEmpty)
	}
	idx, err := resolve(ref.Names, mb.names)
	if err != nil {
		return nil, err
	}
	z, err := transformBatch(ref, idx, mb.scaler)
	if err != nil {
		return nil, err
	}
	return mb.t.model(z, mb.names, mb.scaler)
}
