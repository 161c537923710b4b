package source

import "unsafe"

// prefetchLines asks the CPU to load the n cache lines from p on (PREFETCHT0)
// without waiting for them.
//
//go:noescape
func prefetchLines(p unsafe.Pointer, n uintptr)
