package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// TestWriteLatency: stages that ran are listed with their figures, empty ones are not,
// and nothing is printed when no stage ran.
func TestWriteLatency(t *testing.T) {
	var b bytes.Buffer
	writeLatency(&b, []control.StageLatency{
		{Queue: 0, Stage: "residence", Count: 10, MeanUS: 12.5, P50US: 8.2, P99US: 65.5},
		{Queue: 0, Stage: "poll", Count: 0},
		{Queue: 1, Stage: "inspect", Count: 3, MeanUS: 1, P50US: 1, P99US: 2},
	})
	out := b.String()
	for _, want := range []string{"STAGE", "residence", "12.5", "65.5", "inspect"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "poll") {
		t.Errorf("a stage that never ran is listed:\n%s", out)
	}
	b.Reset()
	writeLatency(&b, []control.StageLatency{{Stage: "poll"}})
	if b.Len() != 0 {
		t.Errorf("printed %q for no data", b.String())
	}
}
