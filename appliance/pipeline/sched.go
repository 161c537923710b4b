package pipeline

import (
	"golang.org/x/sys/unix"
)

// renice sets the nice value of the calling thread (the worker's, locked to its
// goroutine) to w.nice. A refusal (no CAP_SYS_NICE) is logged and the worker keeps
// the process's value: the worker runs, only with more latency on a busy CPU.
func (w *worker) renice() {
	if w.nice == 0 {
		return
	}
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, w.nice); err != nil {
		if w.log != nil {
			w.log.Warn("worker_nice refused: the worker keeps the process's nice value", "worker", w.id, "nice", w.nice, "err", err)
		}
		return
	}
	if w.log != nil {
		w.log.Debug("worker reniced", "worker", w.id, "tid", tid, "nice", w.nice)
	}
}
