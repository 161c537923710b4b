package metrics

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// MaxVictimSeries bounds the victims exported per scrape (the ones with most
// packets per second), so an attack on many destinations cannot blow up the
// label cardinality; signatures are bounded by their slots (xdp.SignatureSlots).
const MaxVictimSeries = 64

// mitigationTimeout bounds one scrape's calls to the backend.
const mitigationTimeout = 2 * time.Second

// mitDesc describes a metric of MitigationCollector (not in Names: the daemon's
// Collector does not describe it).
func mitDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

// The mitigation metrics, indexes into mitDescs.
const (
	mitUp = iota
	mitSigInstalled
	mitSigHits
	mitSigBenign
	mitSigAttack
	mitSigSince
	mitVictims
	mitVictimPPS
	mitVictimBPS
	mitVictimSources
	mitVictimMitigation
	numMitDescs
)

var mitDescs = [numMitDescs]*prometheus.Desc{
	mitUp: mitDesc("mitigation_up",
		"1 when this scrape read the daemon's signatures and victims, 0 when it failed (see the log)."),
	mitSigInstalled: mitDesc("signatures_installed", "Per-packet signatures installed in the XDP program."),
	mitSigHits: mitDesc("signature_hits_total",
		"Packets a signature matched in the kernel, by slot and the victim it is scoped to (a slot reused for another victim starts again).", "slot", "victim"),
	mitSigBenign: mitDesc("signature_benign_drop_ratio",
		"Share of held-back normal packets the signature would drop, estimated before installing it.", "slot", "victim"),
	mitSigAttack: mitDesc("signature_attack_match_ratio",
		"Share of held-back attack packets the signature matched before installing it.", "slot", "victim"),
	mitSigSince: mitDesc("signature_installed_timestamp_seconds",
		"When the signature was installed (unix seconds).", "slot", "victim", "kind", "action"),
	mitVictims: mitDesc("victims_under_attack", "Destinations the victim detector tracks as under attack."),
	mitVictimPPS: mitDesc("victim_packets_per_second",
		"Packet rate to a victim under attack over the detector's short window, by attack kind (at most 64 victims, the busiest).", "victim", "kind"),
	mitVictimBPS:     mitDesc("victim_bytes_per_second", "Byte rate to a victim under attack over the detector's short window.", "victim"),
	mitVictimSources: mitDesc("victim_sources", "Estimated distinct sources sending to a victim under attack.", "victim"),
	mitVictimMitigation: mitDesc("victim_mitigation",
		"1 for how a victim under attack is protected: signature, rate_limit, sources or none (still learning).", "victim", "mitigation"),
}

// MitigationCollector reads a MitigationBackend's signatures and victims at
// scrape time: per signature its hits and the checks it passed, per victim its
// rates, sources and mitigation.
type MitigationCollector struct {
	b control.MitigationBackend
}

// NewMitigationCollector returns a collector of b.
func NewMitigationCollector(b control.MitigationBackend) *MitigationCollector {
	return &MitigationCollector{b: b}
}

// Describe sends every metric's description.
func (c *MitigationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range mitDescs {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// Collect reads the signatures and victims.
func (c *MitigationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), mitigationTimeout)
	defer cancel()
	sigs, err := c.b.SignaturesList(ctx)
	if err != nil {
		gauge(ch, mitDescs[mitUp], 0)
		return
	}
	victims, err := c.b.VictimsList(ctx)
	if err != nil {
		gauge(ch, mitDescs[mitUp], 0)
		return
	}
	gauge(ch, mitDescs[mitUp], 1)
	gauge(ch, mitDescs[mitSigInstalled], float64(len(sigs)))
	seen := make(map[int]bool, len(sigs))
	for _, s := range sigs {
		if seen[s.Slot] {
			continue // one series per slot, whatever the backend sent
		}
		seen[s.Slot] = true
		slot := strconv.Itoa(s.Slot)
		counter(ch, mitDescs[mitSigHits], s.Hits, slot, s.Victim)
		gauge(ch, mitDescs[mitSigBenign], s.BenignDrop, slot, s.Victim)
		gauge(ch, mitDescs[mitSigAttack], s.AttackMatch, slot, s.Victim)
		if !s.Installed.IsZero() {
			gauge(ch, mitDescs[mitSigSince], float64(s.Installed.UnixNano())/1e9, slot, s.Victim, s.Kind, s.Action)
		}
	}
	gauge(ch, mitDescs[mitVictims], float64(len(victims)))
	done := make(map[string]bool, MaxVictimSeries)
	for _, i := range busiest(victims, MaxVictimSeries) {
		v := &victims[i]
		if done[v.Addr] {
			continue
		}
		done[v.Addr] = true
		gauge(ch, mitDescs[mitVictimPPS], v.PacketsPerSecond, v.Addr, v.Kind)
		gauge(ch, mitDescs[mitVictimBPS], v.BytesPerSecond, v.Addr)
		gauge(ch, mitDescs[mitVictimSources], float64(v.Sources), v.Addr)
		mit := v.Mitigation
		if mit == "" {
			mit = "none"
		}
		gauge(ch, mitDescs[mitVictimMitigation], 1, v.Addr, mit)
	}
}

// busiest returns the indexes of the at most k victims with most packets per
// second, busiest first (ties in list order), without sorting the whole list.
func busiest(l []control.VictimInfo, k int) []int {
	top := make([]int, 0, k+1)
	for i := range l {
		pps := l[i].PacketsPerSecond
		if len(top) == k && !(pps > l[top[k-1]].PacketsPerSecond) {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, pps, func(j int, pps float64) int {
			if l[j].PacketsPerSecond >= pps {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, at, i)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}
