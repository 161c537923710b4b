// Package hugemem provides memory backed by 2 MB pages for the flow tables: anonymous
// mappings the kernel is asked to back with transparent huge pages
// (madvise(MADV_HUGEPAGE)), every page touched up front.
//
// Why: a table of a million flows spreads ~500 MB of records over memory, and a
// packet's record is almost never covered by the TLB. On 4 KB pages nearly every
// packet waits for a page walk (nested, in a VM), which even a prefetch cannot
// hide. On 2 MB pages the table's few hundred pages fit the TLB (in a VM whose host
// maps guest memory with 4 KB pages, the walks remain but get shorter), and the
// table's prefetching hides the rest of the memory latency: compare the mem=heap and
// mem=huge results of BenchmarkFlowUpdateBatch. The Go heap cannot give this: the
// runtime does not ask for huge pages, and with
// /sys/kernel/mm/transparent_hugepage/enabled in its usual "madvise" mode the kernel
// gives them only to memory that asked.
package hugemem

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageSize is the size of the huge pages asked for (x86-64 and arm64 with 4 KB base pages).
const PageSize = 2 << 20

// thpEnabled is the kernel's transparent huge page mode file.
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"

// ErrClosed is returned by Alloc after Close.
var ErrClosed = errors.New("hugemem: arena closed")

// Arena hands out huge-page memory and unmaps all of it at Close. Its Alloc method
// is a flow.Config.Memory. It is safe for concurrent use.
type Arena struct {
	log    *slog.Logger
	mu     sync.Mutex
	maps   [][]byte // whole mappings, for munmap
	closed bool
	warned bool // the reason for 4 KB pages was logged
}

// New returns an empty arena that logs to log (nil: slog.Default()).
func New(log *slog.Logger) *Arena {
	if log == nil {
		log = slog.Default()
	}
	return &Arena{log: log}
}

// Alloc returns n bytes of zeroed memory starting on a 2 MB boundary, valid until
// Close. It asks for 2 MB pages and touches every page, so no page fault is left for
// the packet path; where the kernel does not give huge pages (transparent huge
// pages off, madvise refused) the memory is on 4 KB pages and the reason is logged
// once. Only a failing mmap (out of memory) is an error.
func (a *Arena) Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("hugemem: allocation of %d bytes", n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	size := (n + PageSize - 1) &^ (PageSize - 1)
	// One page more than needed, so the memory can start on a 2 MB boundary (the
	// kernel maps huge pages only at 2 MB-aligned virtual addresses).
	m, err := unix.Mmap(-1, 0, size+PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("hugemem: mmap of %d bytes: %w", size+PageSize, err)
	}
	off := (PageSize - int(uintptr(unsafe.Pointer(&m[0]))%PageSize)) % PageSize
	b := m[off : off+size : off+size]
	if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil {
		a.fallback(fmt.Sprintf("madvise(MADV_HUGEPAGE): %v", err))
	} else if mode := thpMode(); mode == "never" || mode == "" {
		a.fallback(fmt.Sprintf("transparent huge pages are %q in %s", mode, thpEnabled))
	}
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 0 // fault every page in now (a huge page with its first byte)
	}
	a.maps = append(a.maps, m)
	return b[:n:n], nil
}

// fallback logs, once per arena, why the memory is on 4 KB pages.
func (a *Arena) fallback(reason string) {
	if !a.warned {
		a.warned = true
		a.log.Warn("flow tables on 4 KB pages: slower with many flows (TLB misses)", "reason", reason)
	}
}

// Close unmaps all the memory Alloc returned; nothing may use it afterwards.
func (a *Arena) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	var errs []error
	for _, m := range a.maps {
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, fmt.Errorf("hugemem: munmap: %w", err))
		}
	}
	a.maps = nil
	return errors.Join(errs...)
}

// thpMode returns the kernel's transparent huge page mode ("always", "madvise",
// "never"), or "" when it cannot be read.
func thpMode() string {
	b, err := os.ReadFile(thpEnabled)
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// HugeBytes returns how many bytes of the mapping holding b the kernel backs with
// huge pages now (AnonHugePages of /proc/self/smaps), to check that Alloc got them.
func HugeBytes(b []byte) (int, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("hugemem: %w", err)
	}
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		// A mapping's header line starts with its address range, "lo-hi".
		if f := strings.Fields(line); len(f) > 1 && !strings.HasSuffix(f[0], ":") {
			var lo, hi uint64
			if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err == nil {
				in = lo <= addr && addr < hi
			}
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			var kb int
			if _, err := fmt.Sscanf(strings.TrimPrefix(line, "AnonHugePages:"), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("hugemem: smaps line %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("hugemem: no mapping holds %#x in /proc/self/smaps", addr)
}
