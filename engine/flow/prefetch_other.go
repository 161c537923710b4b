//go:build !amd64

package flow

import "unsafe"

// prefetchSink keeps the loads of the pure-Go prefetch fallbacks from being removed.
var prefetchSink uint64

// prefetchLine loads the byte at p (no prefetch instruction without assembly).
func prefetchLine(p unsafe.Pointer) { prefetchSink += uint64(*(*uint8)(p)) }

// prefetchRecord loads one word of each line of record f that updating it from side
// `side` touches (all six lines when all is set); see the amd64 version.
func prefetchRecord(f *Flow, side uintptr, all bool) {
	prefetchSink += f.Key.LoA0 + f.Acc.Touch(int(side), all)
}
