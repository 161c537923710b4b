package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// writeMitigation prints the policy's mitigation values, every default filled in.
func writeMitigation(w io.Writer, settings [][2]string) {
	if len(settings) == 0 {
		return
	}
	fmt.Fprintln(w, "mitigation (victims, signatures, sources; defaults filled in):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range settings {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
}

// reportMitigation fills the mitigation part of a policy report from p.
func reportMitigation(r *policyReport, p *policy.Policy) {
	m := p.Mitigation()
	spec := m.Spec()
	r.Mitigation, r.mitigation = &spec, m.Settings()
}
