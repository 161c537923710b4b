package probe

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const hugePage = 2 << 20

// hugepages makes the attempt appliance/hugemem makes for the flow tables: 2 MB of
// anonymous memory on a 2 MB boundary, madvise(MADV_HUGEPAGE), touched, and then
// backed by a huge page (AnonHugePages of its mapping in /proc/self/smaps).
func hugepages() error {
	mode, err := thpMode()
	if err != nil {
		return err
	}
	if mode == "never" {
		return refused("transparent huge pages", errors.New("mode is never"))
	}
	m, err := unix.Mmap(-1, 0, 2*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	defer unix.Munmap(m)
	off := int(-uintptr(unsafe.Pointer(&m[0])) & (hugePage - 1))
	b := m[off : off+hugePage]
	if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil {
		return refused("madvise(MADV_HUGEPAGE)", err)
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	kb, err := anonHugeKB(uintptr(unsafe.Pointer(&b[0])))
	if err != nil {
		return err
	}
	if kb == 0 {
		return refused("2 MB page", fmt.Errorf("the kernel backed the region with 4 KB pages (transparent huge pages %q)", mode))
	}
	return nil
}

func thpMode() (string, error) {
	const path = "/sys/kernel/mm/transparent_hugepage/enabled"
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", refused("transparent huge pages", err)
		}
		return "", err
	}
	s := string(raw)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return "", fmt.Errorf("%s: no [mode] in %q", path, strings.TrimSpace(s))
	}
	return s[i+1 : j], nil
}

// anonHugeKB returns AnonHugePages of the mapping in /proc/self/smaps holding addr.
func anonHugeKB(addr uintptr) (int, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			var kb int
			if _, err := fmt.Sscanf(strings.TrimPrefix(line, "AnonHugePages:"), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("/proc/self/smaps line %q: %w", line, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/smaps: no mapping holds %#x", addr)
}
