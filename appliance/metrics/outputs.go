package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/appliance/pipeline"
)

var (
	descAlerts = desc("alerts_total",
		"EVE alert log events by outcome: emitted (queued), dropped (queue full), written (file), sent (socket), unsent (socket not connected), rotated, reopened, errors.", "outcome")
	descExport = desc("export_flows_total",
		"Finished flows for IPFIX export by outcome: exported, lost (a worker's export ring was full), unlabelled (exported without a verdict), verdicts_lost (the exporter's verdict queue was full), errors (send failures).", "outcome")
)

// Names returns the name of every metric the collector describes, from the
// descriptions themselves (what the dashboard test checks queries against).
func Names() []string { return slices.Clone(names) }

// collectOutputs reads the alert log's and the flow exporter's counters.
func collectOutputs(ch chan<- prometheus.Metric, o *pipeline.OutputStats) {
	if o.Alerts != nil {
		st := o.Alerts.Stats()
		for _, kv := range []struct {
			name string
			v    uint64
		}{
			{"emitted", st.Emitted}, {"dropped", st.Dropped}, {"written", st.Written}, {"sent", st.Sent},
			{"unsent", st.Unsent}, {"rotated", st.Rotated}, {"reopened", st.Reopened}, {"errors", st.Errors},
		} {
			counter(ch, descAlerts, kv.v, kv.name)
		}
	}
	counter(ch, descExport, o.FlowsExported.Load(), "exported")
	counter(ch, descExport, o.FlowsLost.Load(), "lost")
	counter(ch, descExport, o.FlowsUnlabelled.Load(), "unlabelled")
	counter(ch, descExport, o.VerdictsLost.Load(), "verdicts_lost")
	counter(ch, descExport, o.ExportErrors.Load(), "errors")
}
