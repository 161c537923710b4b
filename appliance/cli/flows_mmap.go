package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapCapture maps the regular file f read-only for reading it in place, with its
// pages mapped up front and read ahead. ok is false when f cannot be mapped (not a
// regular file, empty, or refused); the caller then reads it as a stream.
func mapCapture(f *os.File) (data []byte, unmap func() error, ok bool) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() <= 0 || int64(int(st.Size())) != st.Size() {
		return nil, nil, false
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, nil, false
	}
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL) // advice only: reading works without it
	return data, func() error { return unix.Munmap(data) }, true
}
