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
	}{
		{"unchanged", 0},
		{"lower priority", 7},
		{"higher priority (root only)", -5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mainNice := threadNice(t, unix.Getpid())
			var log bytes.Buffer
			w := &worker{id: 3, nice: tt.nice, log: slog.New(slog.NewTextHandler(&log, nil))}
			type seen struct{ tid, before, after int }
			got := make(chan seen, 1)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread() // as the worker's run does
				tid := unix.Gettid()
				before := threadNice(t, tid)
				w.renice()
				got <- seen{tid, before, threadNice(t, tid)}
			}()
			g := <-got
			want, refused := tt.nice, false
			switch {
			case tt.nice == 0:
				want = g.before
			case tt.nice < g.before && os.Geteuid() != 0:
				want, refused = g.before, true // no CAP_SYS_NICE
			}
			if g.after != want {
				t.Errorf("worker thread nice %d, want %d (log %q)", g.after, want, log.String())
			}
			if strings.Contains(log.String(), "worker_nice refused") != refused {
				t.Errorf("log %q", log.String())
			}
			if g.tid == unix.Getpid() {
				return // it ran on the main thread, which Go never ends
			}
			if n := threadNice(t, unix.Getpid()); n != mainNice {
				t.Errorf("the main thread changed to nice %d from %d", n, mainNice)
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
