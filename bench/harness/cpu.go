package harness

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// rusage returns this process's user+system CPU seconds.
func rusage() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

type procStat struct{ busy, total uint64 }

// readProcStat reads the machine's aggregate CPU jiffies.
func readProcStat() procStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return procStat{}
	}
	var v [8]uint64
	fmt.Sscanf(string(b), "cpu %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])
	var s procStat
	for i, x := range v {
		s.total += x
		if i != 3 && i != 4 { // idle, iowait
			s.busy += x
		}
	}
	return s
}

func (s procStat) busyShare(before procStat) float64 {
	if s.total <= before.total {
		return 0
	}
	return float64(s.busy-before.busy) / float64(s.total-before.total)
}
