//go:build !amd64

package source

import "unsafe"

// prefetchLines does nothing without a prefetch instruction (no assembly here):
// the loads then wait for memory when they come.
func prefetchLines(p unsafe.Pointer, n uintptr) {}
