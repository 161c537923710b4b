package xdp

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func netIfaces() ([]net.Interface, error) { return net.Interfaces() }

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// setsockoptUmemReg registers UMEM (x/sys/unix has no typed setter for it).
func setsockoptUmemReg(fd int, reg *unix.XDPUmemReg) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(reg)), unsafe.Sizeof(*reg), 0)
	runtime.KeepAlive(reg)
	if errno != 0 {
		return errno
	}
	return nil
}

func readHeader(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("bpf", "flowsieve.h"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogger sends the loader's log to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
