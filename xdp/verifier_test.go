package xdp

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
)

// TestVerifierLog checks that a wrapped verifier error prints the whole log and
// still gives its *ebpf.VerifierError, and the cause under it, to errors.As/Is.
func TestVerifierLog(t *testing.T) {
	log := []string{"0: (85) call bpf_xdp_adjust_meta#54", "program of this type cannot use helper bpf_xdp_adjust_meta#54", "processed 1 insns"}
	ve := &ebpf.VerifierError{Cause: syscall.EINVAL, Log: log}
	err := fmt.Errorf("xdp: load program: %w", &verifierError{ve})
	var got *ebpf.VerifierError
	if !errors.As(err, &got) || got != ve {
		t.Fatalf("errors.As found %v in %v", got, err)
	}
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("%v does not wrap EINVAL", err)
	}
	for _, line := range log[:2] {
		if !strings.Contains(err.Error(), line) {
			t.Errorf("message lacks the log line %q:\n%s", line, err)
		}
	}
}
