// Package xdptest gives tests the XDP program's real maps, pinned in a bpffs
// directory of their own that is removed when the test ends. Both functions
// first call kerneltest.Require.
package xdptest

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

var seq atomic.Int32

// Load loads the XDP program and its maps (1024 flow and 1024 prefix entries),
// pinned in a fresh directory named after name. The datapath is closed and the
// directory removed when tb ends.
func Load(tb testing.TB, name string) (*xdp.Datapath, string) {
	tb.Helper()
	kerneltest.Require(tb)
	pin := fmt.Sprintf("/sys/fs/bpf/fs-%s-%d-%d", name, os.Getpid(), seq.Add(1))
	d, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, PinDir: pin, KeepState: true, FlowEntries: 1024, PrefixEntries: 1024})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(); os.RemoveAll(pin) })
	return d, pin
}

// Pinned loads the maps as Load does and closes the datapath at once, leaving
// them pinned as a daemon with keep_state_on_exit leaves them when it stops.
// It returns the pin directory.
func Pinned(tb testing.TB, name string) string {
	tb.Helper()
	d, pin := Load(tb, name)
	if err := d.Close(); err != nil {
		tb.Fatal(err)
	}
	return pin
}
