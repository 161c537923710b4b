package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/flow"

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

// ErrCaptureChanged is wrapped by the error of a mapped capture that shrank while
// it was being read.
var ErrCaptureChanged = errors.New("capture changed while being read")

// readMapped reads the mapped capture data (the file name) into o. If the file is
// truncated meanwhile, a read past its new end faults: that ends the capture with
// an error wrapping ErrCaptureChanged instead of crashing (the frames before it
// are in the table).
func readMapped(o *flow.Offline, data []byte, name string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fault, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: %w (truncated?): fault at byte %d", name, ErrCaptureChanged,
				int64(fault.Addr()-uintptr(unsafe.Pointer(unsafe.SliceData(data)))))
		}
	}()
	return o.ReadBytes(data, name)
}
