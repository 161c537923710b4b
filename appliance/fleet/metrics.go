package fleet

import "github.com/prometheus/client_golang/prometheus"

func fleetDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("flowsieve_fleet_"+name, help, labels, nil)
}

var (
	descConnected = fleetDesc("connected", "1 while the member is connected to the NATS server, else 0.")
	descSessions  = fleetDesc("sessions_total", "Connections the member made to the server (a reconnect after a loss adds one).")
	descEnforced  = fleetDesc("enforced", "Fleet verdicts the member enforces in its block store now.")
	descVerdicts  = fleetDesc("verdicts_total",
		"Fleet verdicts the member handled, by event: applied (enforced), withdrawn (deleted or expired), refused (by the local allowlist), invalid (did not decode), unsupported (signatures).", "event")
	descPending      = fleetDesc("pending", "Operations (published verdicts, alerts) buffered for the server.")
	descDropped      = fleetDesc("dropped_total", "Buffered operations dropped because the buffer was full.")
	descModelVersion = fleetDesc("model_version", "Fleet model version in force (0: the local model).")
	descModelRefused = fleetDesc("model_refused_version", "Latest published model version that failed to load (0: none).")
)

// Collector returns a Prometheus collector of the member's state, read at
// scrape time (the daemon registers it with its /metrics).
func (m *Member) Collector() prometheus.Collector { return memberCollector{m} }

type memberCollector struct{ m *Member }

// Describe sends every metric's description.
func (c memberCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descSessions, descEnforced, descVerdicts, descPending, descDropped, descModelVersion, descModelRefused} {
		ch <- d
	}
}

// Collect reads the member's status.
func (c memberCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Status()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	gauge(descConnected, connected)
	counter(descSessions, uint64(st.Sessions))
	gauge(descEnforced, float64(st.Enforced))
	counter(descVerdicts, st.Applied, "applied")
	counter(descVerdicts, st.Withdrawn, "withdrawn")
	counter(descVerdicts, st.Refused, "refused")
	counter(descVerdicts, st.Invalid, "invalid")
	counter(descVerdicts, st.Unsupported, "unsupported")
	gauge(descPending, float64(st.Pending))
	counter(descDropped, st.Dropped)
	gauge(descModelVersion, float64(st.Model.Version))
	gauge(descModelRefused, float64(st.Model.Refused))
}
