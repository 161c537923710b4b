//go:build !amd64

package cluster

var (
	useAVX2   = false
	useAVX512 = false
)

func (l *layout) nearestAVX2(s *scratch, cols [][]float32, colIdx []int, a, b []float32, off, n int) {
	panic("cluster: AVX2 kernel unavailable")
}
