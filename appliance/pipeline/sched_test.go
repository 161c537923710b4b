package pipeline

import (
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRenice checks that a worker sets its own thread's nice value and nothing
// else's, and that a refused value is logged rather than fatal.
func TestRenice(t *testing.T) {
	tests := []struct {
		name string
		nice int
		want int // nice value of the worker's thread afterwards; -100: the process's
	}{
		{"unchanged", 0, -100},
		{"lower priority", 7, 7},
		{"higher priority (root only)", -5, -5},
	}
	base := threadNice(t, unix.Getpid())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == -100 {
				want = base
			}
			privileged := os.Geteuid() == 0
			if tt.nice < base && !privileged {
				want = base // refused without CAP_SYS_NICE
			}
			var log bytes.Buffer
			w := &worker{id: 3, nice: tt.nice, log: slog.New(slog.NewTextHandler(&log, nil))}
			got := make(chan int, 1)
			go func() {
				runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
				w.renice()
				got <- threadNice(t, unix.Gettid())
			}()
			if g := <-got; g != want {
				t.Errorf("worker thread nice %d, want %d (log %q)", g, want, log.String())
			}
			if n := threadNice(t, unix.Getpid()); n != base {
				t.Errorf("the process's main thread changed to nice %d from %d", n, base)
			}
			if refused := strings.Contains(log.String(), "worker_nice refused"); refused != (tt.nice < base && !privileged) {
				t.Errorf("log %q", log.String())
			}
		})
	}
}

// threadNice reads the nice value of thread (or process) id.
func threadNice(t *testing.T, id int) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, id)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p // the system call returns 20 - nice
}
