package flow

import "unsafe"

// prefetchLine asks the CPU to load the cache line holding p (PREFETCHT0), without
// waiting for it: the instruction retires at once, so the loads of many packets
// overlap with the work on earlier ones (a plain Go load would stall the CPU's
// in-order retirement until the line arrives).
//
//go:noescape
func prefetchLine(p unsafe.Pointer)

// prefetchRecord prefetches the lines of record f that updating it from side `side`
// touches: the key's line, the shared line and the side's line of the accumulator;
// all six lines when all is set (a new flow, a rare TCP flag). The line offsets
// (0, 64, 128+64×side) are pinned by TestFlowRecordLayout and features.TestAccLayout.
//
//go:noescape
func prefetchRecord(f *Flow, side uintptr, all bool)
