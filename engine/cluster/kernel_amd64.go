package cluster

var useAVX2 = false

func (l *layout) nearestAVX2(s *scratch, cols [][]float32, colIdx []int, a, b []float32, off, n int) {
	l.nearestGo(s, cols, colIdx, a, b, off, n, 0)
}
