package cluster

// useAVX2 selects the AVX2+FMA kernel (kernel_amd64.s) when the CPU and OS support it;
// useAVX512 the AVX-512 one (16 rows per step) on top of it.
var (
	useAVX2   = hasAVX2FMA()
	useAVX512 = useAVX2 && hasAVX512F()
)

func hasAVX512F() bool {
	if lo, _ := xgetbv(); lo&0xe6 != 0xe6 { // opmask and ZMM state enabled by the OS
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<16) != 0
}

func hasAVX2FMA() bool {
	_, _, c1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if lo, _ := xgetbv(); lo&6 != 6 { // XMM and YMM state enabled by the OS
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}

func cpuid(leaf, sub uint32) (a, b, c, d uint32)
func xgetbv() (lo, hi uint32)

// kernel8 runs the nearest-centre kernel for one group of 8 centres over n rows
// (a multiple of 8) starting at row off: see layout.nearest. cols points at the first
// column slice header, colIdx at d column indices; a and b hold the per-feature affine
// transform, coef d×8 coefficients, cn and ids the 8 centre norms and indices; best,
// idx and xn receive n values each (xn only when doXn is not zero).
//
//go:noescape
func kernel16(cols *[]float32, colIdx *int, d, off, n int, a, b, coef, cn *float32, ids *int32, best *float32, idx *int32, xn *float32, doXn int)

//go:noescape
func kernel8(cols *[]float32, colIdx *int, d, off, n int, a, b, coef, cn *float32, ids *int32, best *float32, idx *int32, xn *float32, doXn int)

// nearestAVX2 is nearestGo for n rows (a multiple of 8), written to s at index 0.
func (l *layout) nearestAVX2(s *scratch, cols [][]float32, colIdx []int, a, b []float32, off, n int) {
	if a == nil {
		a, b = l.ones, l.zeros
	}
	wide := 0
	if useAVX512 {
		wide = n &^ 15
	}
	for g := 0; g < l.groups; g++ {
		do := 0
		if g == 0 {
			do = 1
		}
		coef, cn, ids := &l.coef[g*l.d*groupSize], &l.cn[g*groupSize], &l.ids[g*groupSize]
		if wide > 0 {
			kernel16(&cols[0], &colIdx[0], l.d, off, wide, &a[0], &b[0], coef, cn, ids,
				&s.best[0], &s.idx[0], &s.xn[0], do)
		}
		if wide < n {
			kernel8(&cols[0], &colIdx[0], l.d, off+wide, n-wide, &a[0], &b[0], coef, cn, ids,
				&s.best[wide], &s.idx[wide], &s.xn[wide], do)
		}
	}
}

// log1p8 writes the signed log1p of n values (a multiple of 8); see kernel_amd64.s.
//
//go:noescape
func log1p8(dst, src *float32, n int)

// log1pInto sets dst[i] to the signed log1p of src[i] (dst may be src). With AVX2 every
// value, tail included, goes through the same vector code, so results do not depend on
// where a value sits in a block.
func log1pInto(dst, src []float32) {
	dst = dst[:len(src)]
	if !useAVX2 {
		for i, v := range src {
			dst[i] = slog1p(v)
		}
		return
	}
	n := len(src) &^ 7
	if n > 0 {
		log1p8(&dst[0], &src[0], n)
	}
	if n < len(src) {
		var tmp [8]float32
		copy(tmp[:], src[n:])
		log1p8(&tmp[0], &tmp[0], 8)
		copy(dst[n:], tmp[:])
	}
}
