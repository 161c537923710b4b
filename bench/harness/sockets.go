package harness

import (
	"fmt"
	"strings"
)

// DaemonSockets sums the daemon's AF_XDP socket statistics over its queues and
// interfaces (XDP_STATISTICS, from its flowsieve_afxdp_total metrics): how often
// the kernel found no frame to fill or no room to deliver, i.e. whether the
// user-space path kept up.
type DaemonSockets struct {
	Received uint64 `json:"received"` // frames the workers took off their RX rings
	// RxDropped: frames the kernel dropped at a socket (no fill buffer among them).
	RxDropped uint64 `json:"rx_dropped"`
	// RxFillRingEmptyDescs: times the kernel found the fill ring empty.
	RxFillRingEmptyDescs uint64 `json:"rx_fill_ring_empty_descs"`
	// RxRingFull: frames dropped because the RX ring was full.
	RxRingFull uint64 `json:"rx_ring_full"`
	// Overloaded: the kernel dropped frames at a socket or found its fill ring
	// empty — the user-space path did not keep up with what the XDP program sent it.
	Overloaded bool `json:"overloaded"`
}

// daemonSockets reads the sums out of the daemon's metrics (counters, as
// daemon.counters returns them).
func daemonSockets(m map[string]uint64) *DaemonSockets {
	s := &DaemonSockets{}
	for k, v := range m {
		if !strings.HasPrefix(k, "flowsieve_afxdp_total{") {
			continue
		}
		switch {
		case strings.Contains(k, `counter="received"`):
			s.Received += v
		case strings.Contains(k, `counter="rx_dropped"`):
			s.RxDropped += v
		case strings.Contains(k, `counter="fill_ring_empty"`):
			s.RxFillRingEmptyDescs += v
		case strings.Contains(k, `counter="rx_ring_full"`):
			s.RxRingFull += v
		}
	}
	s.Overloaded = s.RxDropped+s.RxRingFull+s.RxFillRingEmptyDescs > 0
	return s
}

// String says in words whether the user-space path kept up.
func (s *DaemonSockets) String() string {
	if s == nil {
		return "no daemon"
	}
	verdict := "kept up"
	if s.Overloaded {
		verdict = "**overloaded**"
	}
	return fmt.Sprintf("user-space path %s: %d frames received by the workers; kernel: rx_dropped %d, rx_ring_full %d, fill ring empty %d times",
		verdict, s.Received, s.RxDropped, s.RxRingFull, s.RxFillRingEmptyDescs)
}

// classifications returns the daemon's flows classified per predicted label
// (flowsieve_classifications_total) out of its metrics.
func classifications(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	const pre = `flowsieve_classifications_total{label="`
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, pre); ok {
			if i := strings.IndexByte(rest, '"'); i >= 0 {
				out[rest[:i]] += v
			}
		}
	}
	return out
}

// Detection is the daemon's classification of a replay whose flows all carry one
// ground-truth label (a capture of one attack, or of benign traffic): of the
// flows it classified, how many got that label and how many any attack label
// (what the policy drops).
type Detection struct {
	Label      string `json:"label"`
	Classified uint64 `json:"flows_classified"`
	AsLabel    uint64 `json:"flows_as_label"`
	AsAttack   uint64 `json:"flows_as_attack"` // any label but BENIGN
	// LabelRate is AsLabel/Classified; AttackRate AsAttack/Classified (for a benign
	// capture: the false-positive rate).
	LabelRate  float64 `json:"label_rate"`
	AttackRate float64 `json:"attack_rate"`
	// Drained: the daemon had ended every flow before its counters were read
	// (else flows still live are missing from Classified).
	Drained bool `json:"drained"`
}

// detection returns the detection of a single-label replay, nil for mixed ones.
func detection(r *Replay, drained bool) *Detection {
	label := ""
	for name, l := range r.PerLabel {
		if name == NonIP || l.Offered == 0 {
			continue
		}
		if label != "" {
			return nil
		}
		label = name
	}
	if label == "" || label == Unlabelled {
		return nil
	}
	d := &Detection{Label: label, Drained: drained}
	for l, n := range r.Classified {
		d.Classified += n
		if l == label {
			d.AsLabel += n
		}
		if l != Benign {
			d.AsAttack += n
		}
	}
	if d.Classified > 0 {
		d.LabelRate = float64(d.AsLabel) / float64(d.Classified)
		d.AttackRate = float64(d.AsAttack) / float64(d.Classified)
	}
	return d
}
