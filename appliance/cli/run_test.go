package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunArgumentErrors checks that run refuses incomplete or invalid settings before
// touching the system, naming what is wrong.
func TestRunArgumentErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no interfaces", []string{"run"}, "interfaces"},
		{"inline without out", []string{"run", "--in", "eth0"}, "interfaces.out"},
		{"bad mode", []string{"run", "--mode", "sideways", "--in", "a", "--out", "b"}, "mode"},
		{"bad queues", []string{"run", "--queues", "-1", "--in", "a", "--out", "b"}, "queues"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"flowsieve"}, c.args...), &out, &errb)
			if code != 2 {
				t.Fatalf("exit code %d, want 2; stderr: %s", code, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Fatalf("stderr %q does not name %q", errb.String(), c.want)
			}
		})
	}
}
