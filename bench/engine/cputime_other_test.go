//go:build !unix

package engine

// processCPU is not available here: CPU-time metrics are reported as 0.
func processCPU() int64 { return 0 }
