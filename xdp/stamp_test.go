package xdp

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestLoadStamp: without a forced method the loader uses what ChooseStamp picks; each
// method the kernel allows loads; a method the kernel refuses fails the load with the
// verifier's error still reachable by errors.As; an unknown method is refused before
// any system call.
func TestLoadStamp(t *testing.T) {
	kerneltest.Require(t)
	want, _ := ChooseStamp()
	d := loadOnly(t, Options{})
	if d.Stamp() != want {
		t.Errorf("loaded with stamp %s, ChooseStamp says %s", d.Stamp(), want)
	}
	d.Close()
	metaErr := HaveMetadata()
	for _, tc := range []struct {
		stamp   Stamp
		refused error // the probe's reason when the kernel refuses it
	}{
		{StampNone, nil},
		{StampHead, HaveAdjustHead()},
		{StampMeta, metaErr},
	} {
		t.Run(tc.stamp.String(), func(t *testing.T) {
			s := tc.stamp
			d, err := Load(Options{Interfaces: []string{"lo"}, Stamp: &s})
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("load with stamp %s: %v", s, err)
				}
				defer d.Close()
				if d.Stamp() != s {
					t.Errorf("Stamp() = %s, want %s", d.Stamp(), s)
				}
				return
			}
			if err == nil {
				d.Close()
				t.Fatalf("stamp %s loaded although the probe says: %v", s, tc.refused)
			}
			var ve *ebpf.VerifierError
			if !errors.As(err, &ve) {
				t.Errorf("load error is not an *ebpf.VerifierError: %v", err)
			}
		})
	}
	bad := Stamp(7)
	if _, err := Load(Options{Interfaces: []string{"lo"}, Stamp: &bad}); !errors.Is(err, ErrOptions) {
		t.Errorf("stamp 7: %v, want ErrOptions", err)
	}
}
