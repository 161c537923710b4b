package pipeline

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// renice sets the nice value of the calling thread (the worker's, locked to its
// goroutine) to w.nice. A refusal (no CAP_SYS_NICE) is logged and the worker keeps
// the process's value: the worker runs, only with more latency on a busy CPU. A
// reniced thread is locked once more, so that the worker's deferred unlock leaves it
// locked and it ends with the worker's goroutine instead of going back to the Go
// scheduler with the worker's nice value.
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
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	if w.log != nil {
		w.log.Debug("worker reniced", "worker", w.id, "tid", tid, "nice", w.nice)
	}
}
