//go:build unix

package engine

import "syscall"

// processCPU returns the CPU time this process has used (user + system), in ns.
// Benchmarks report CPU ns per packet next to wall time because the shared test
// machine is often oversubscribed, which inflates wall time but not CPU time.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
