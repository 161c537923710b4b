//go:build !amd64

package cluster

var (
	useAVX2   = false
	useAVX512 = false
)

func (l *layout) nearestAVX2(s *scratch, cols [][]float32, colIdx []int, a, b []float32, off, n int) {
	panic("cluster: AVX2 kernel unavailable")
}

// log1pInto sets dst[i] to the signed log1p of src[i] (dst may be src).
func log1pInto(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = slog1p(v)
	}
}
