package cluster

import "math"

// The nearest-centre kernel works on a block of at most blockRows rows and on centres in
// groups of groupSize. For each row it computes, without allocating,
//
//	z_j   = a_j·x_j + b_j                    (the affine part of the transform)
//	xn    = Σ_j z_j²
//	s_c   = ‖c‖² − 2 Σ_j c_j z_j              (squared distance minus xn)
//
// walking the data column by column: for every feature, the column's values for the
// whole block are multiplied into the accumulators of every centre of the group, so the
// inner loop runs over contiguous float32 memory.
const (
	blockRows = 256
	groupSize = 8
)

// layout holds centres rearranged for the kernel: per group of groupSize centres,
// coef[g][j][c] = −2·c_j and cn[g][c] = ‖c‖² (+Inf for padding centres, which are
// therefore never nearest).
type layout struct {
	k, d, groups int
	coef         []float32 // groups × d × groupSize
	cn           []float32 // groups × groupSize
	ids          []int32   // groups × groupSize: centre index of each slot
	ones, zeros  []float32 // d each: the identity transform for the AVX2 kernel
}

func newLayout(k, d int) *layout {
	g := (k + groupSize - 1) / groupSize
	l := &layout{k: k, d: d, groups: g,
		coef:  make([]float32, g*d*groupSize),
		cn:    make([]float32, g*groupSize),
		ids:   make([]int32, g*groupSize),
		ones:  make([]float32, d),
		zeros: make([]float32, d)}
	for i := range l.ids {
		l.ids[i] = int32(i)
	}
	for j := range l.ones {
		l.ones[j] = 1
	}
	return l
}

// set loads centres (row-major k × d) into the layout.
func (l *layout) set(centres []float64) {
	for i := range l.cn {
		l.cn[i] = float32(math.Inf(1))
	}
	for i := range l.coef {
		l.coef[i] = 0
	}
	for c := 0; c < l.k; c++ {
		g, cc := c/groupSize, c%groupSize
		var n float64
		for j := 0; j < l.d; j++ {
			v := centres[c*l.d+j]
			n += v * v
			l.coef[(g*l.d+j)*groupSize+cc] = float32(-2 * v)
		}
		l.cn[g*groupSize+cc] = float32(n)
	}
}

// scratch is the per-call working memory of the kernel.
type scratch struct {
	z    [blockRows]float32
	acc  [groupSize * blockRows]float32
	best [blockRows]float32
	xn   [blockRows]float32
	idx  [blockRows]int32
}

// nearest fills lab[:n] and d2[:n] (squared distances) for rows off..off+n of cols,
// transformed by z = a_j·x + b_j (a == nil means the identity). n ≤ blockRows.
// Rows whose values are not finite get label −1 and distance +Inf.
func (l *layout) nearest(s *scratch, cols [][]float32, colIdx []int, a, b []float32, off, n int, lab []int32, d2 []float32) {
	lab, d2 = lab[:n], d2[:n]
	best, idx, xn := s.best[:n], s.idx[:n], s.xn[:n]
	inf := float32(math.Inf(1))
	for i := range best {
		best[i], idx[i], xn[i] = inf, -1, 0
	}
	if useAVX2 && n >= 8 {
		m := n &^ 7
		l.nearestAVX2(s, cols, colIdx, a, b, off, m)
		if m < n {
			l.nearestGo(s, cols, colIdx, a, b, off+m, n-m, m)
		}
	} else {
		l.nearestGo(s, cols, colIdx, a, b, off, n, 0)
	}
	for i := range lab {
		v := best[i] + xn[i]
		if v < 0 {
			v = 0
		}
		if idx[i] < 0 || v != v || v > math.MaxFloat32 {
			lab[i], d2[i] = -1, inf
			continue
		}
		lab[i], d2[i] = idx[i], v
	}
}

// nearestGo is the portable kernel; it writes results at s.best[at:], s.idx[at:], s.xn[at:].
func (l *layout) nearestGo(s *scratch, cols [][]float32, colIdx []int, a, b []float32, off, n, at int) {
	z := s.z[:n]
	best, idx, xn := s.best[at:at+n], s.idx[at:at+n], s.xn[at:at+n]
	for g := 0; g < l.groups; g++ {
		acc := s.acc[:groupSize*n]
		cn := l.cn[g*groupSize : (g+1)*groupSize]
		for c := 0; c < groupSize; c++ {
			row := acc[c*n : (c+1)*n]
			for i := range row {
				row[i] = cn[c]
			}
		}
		for j := 0; j < l.d; j++ {
			src := cols[colIdx[j]][off : off+n]
			if a != nil {
				aj, bj := a[j], b[j]
				for i, v := range src {
					z[i] = aj*v + bj
				}
			} else {
				copy(z, src)
			}
			if g == 0 {
				for i, v := range z {
					xn[i] += v * v
				}
			}
			coef := l.coef[(g*l.d+j)*groupSize : (g*l.d+j+1)*groupSize]
			for c, cf := range coef {
				axpy(cf, z, acc[c*n:(c+1)*n])
			}
		}
		base := int32(g * groupSize)
		for c := 0; c < groupSize; c++ {
			row := acc[c*n : (c+1)*n]
			for i, v := range row {
				if v < best[i] {
					best[i], idx[i] = v, base+int32(c)
				}
			}
		}
	}
}

// axpy adds alpha·x to y.
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += alpha * x[i]
		y[i+1] += alpha * x[i+1]
		y[i+2] += alpha * x[i+2]
		y[i+3] += alpha * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}
