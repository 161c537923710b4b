package config

import (
	"fmt"
	"time"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/engine/victim"
)

// Mitigation configures the host- and packet-scale mitigation loop: per-victim
// aggregates, the victim detector, signatures learned and installed in the XDP
// program, and source verdicts for scanners (appliance/pipeline, engine/mitigate).
type Mitigation struct {
	// The loop and its memory.
	Enabled bool `yaml:"enabled" flag:"mitigation" help:"Run the mitigation loop: detect victims under attack, learn per-packet signatures and install them in the XDP program, block scanning sources."`
	Ring    int  `yaml:"ring" help:"Frame records each worker queues for the mitigation loop; when full, records are not queued (counted as lost)."`
	Victims int  `yaml:"victims" help:"Destinations (and destination ports) the victim table tracks at once."`
	Sources int  `yaml:"sources" help:"Source addresses the aggregates track at once (fixed memory; spoofed floods churn through it)."`
	MaxRate int  `yaml:"max_rate" help:"Frame records per second the loop processes at most; above it, it samples one in k evenly (counted), so it does not take the workers' CPU."`
	// The victim detector.
	MinPPS     int           `yaml:"min_pps" help:"A destination is never under attack below this many packets per second."`
	Factor     float64       `yaml:"factor" help:"Nor below this many times its learned baseline rate."`
	ScanPorts  int           `yaml:"scan_ports" help:"Distinct destination ports within 1-2 s that make a scan."`
	ScanPPS    int           `yaml:"scan_pps" help:"A scan needs at least this many packets per second."`
	MinSources int           `yaml:"min_sources" help:"Floods other than SYN, RST and fragment floods need at least this many distinct sources."`
	EndAfter   time.Duration `yaml:"end_after" help:"An attack ends after its rate stays below half the onset threshold this long (a multiple of 100ms)."`
	// Signatures.
	LearnAt       int           `yaml:"learn_at" help:"Attack packets sampled before a signature is learned."`
	SignatureTTL  time.Duration `yaml:"signature_ttl" help:"A signature is removed this long after the last packet it dropped."`
	MaxBenignDrop float64       `yaml:"max_benign_drop" help:"A signature is rejected when it would drop more than this share (0..1) of the victim's normal packets held back to check it."`
	MaxSignatures int           `yaml:"max_signatures" help:"Signatures learned per victim (each from what the earlier ones let through); the XDP program walks them as one tree."`
	// Source verdicts.
	SourceTTL  time.Duration `yaml:"source_ttl" help:"Lifetime of a source verdict given to a scanning source."`
	MaxSources int           `yaml:"max_sources" help:"Source verdicts in force at most."`
}

// Limits of the mitigation keys.
const (
	maxMitigationRing  = 1 << 22
	maxMitigationTable = 1 << 26
)

func defaultMitigation() Mitigation {
	return Mitigation{
		Enabled: true, Ring: 1 << 13, MaxRate: 50000, Victims: 4096, Sources: 1 << 15, MinPPS: 2000, Factor: 5,
		ScanPorts: 200, ScanPPS: 100, MinSources: 16, EndAfter: 2 * time.Second, LearnAt: 300,
		SignatureTTL: 10 * time.Second, MaxBenignDrop: 0.005, MaxSignatures: 4,
		SourceTTL: time.Minute, MaxSources: 65536,
	}
}

// EngineConfig is the mitigation loop's configuration from these keys: the one
// place they map to engine/mitigate (a policy's mitigation rules can feed it too).
func (m Mitigation) EngineConfig() mitigate.Config {
	return mitigate.Config{
		Aggregate: aggregate.Config{Sources: m.Sources, Seed: 1},
		Victims:   m.Victims,
		Detector: victim.Config{MinPPS: float64(m.MinPPS), Factor: m.Factor, ScanPorts: float64(m.ScanPorts),
			ScanPPS: float64(m.ScanPPS), MinSources: float64(m.MinSources), EndTicks: int(m.EndAfter / (time.Duration(aggregate.SlotNS)))},
		Signature:     signature.Params{MaxNormalDrop: m.MaxBenignDrop, Seed: 1},
		LearnAt:       m.LearnAt,
		SignatureTTL:  int64(m.SignatureTTL),
		SourceTTL:     int64(m.SourceTTL),
		MaxSignatures: m.MaxSignatures,
		MaxSources:    m.MaxSources,
	}
}

func (c *Config) validateMitigation() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.keyError(key, fmt.Errorf(format, args...)))
	}
	m := c.Mitigation
	between := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(key, "must be between %d and %d, got %d", lo, hi, v)
		}
	}
	between("mitigation.ring", m.Ring, 64, maxMitigationRing)
	between("mitigation.victims", m.Victims, 16, maxMitigationTable)
	between("mitigation.sources", m.Sources, 64, maxMitigationTable)
	between("mitigation.max_rate", m.MaxRate, 100, 1<<26)
	between("mitigation.min_pps", m.MinPPS, 1, 1<<30)
	between("mitigation.scan_ports", m.ScanPorts, 4, 65536)
	between("mitigation.scan_pps", m.ScanPPS, 1, 1<<30)
	between("mitigation.min_sources", m.MinSources, 1, 1<<30)
	between("mitigation.learn_at", m.LearnAt, 50, 4000)
	between("mitigation.max_signatures", m.MaxSignatures, 1, 16)
	between("mitigation.max_sources", m.MaxSources, 1, maxMitigationTable)
	if m.Factor < 1 || m.Factor > 1000 {
		bad("mitigation.factor", "must be between 1 and 1000, got %v", m.Factor)
	}
	if m.MaxBenignDrop <= 0 || m.MaxBenignDrop >= 1 {
		bad("mitigation.max_benign_drop", "must be a share between 0 and 1 (exclusive), got %v", m.MaxBenignDrop)
	}
	slot := time.Duration(aggregate.SlotNS)
	if m.EndAfter < slot || m.EndAfter > time.Hour || m.EndAfter%slot != 0 {
		bad("mitigation.end_after", "must be a multiple of %v between %v and 1h, got %q", slot, slot, c.raw("mitigation.end_after"))
	}
	for _, k := range []struct {
		key string
		d   time.Duration
	}{{"mitigation.signature_ttl", m.SignatureTTL}, {"mitigation.source_ttl", m.SourceTTL}} {
		if k.d < time.Second || k.d > 24*time.Hour {
			bad(k.key, "must be between 1s and 24h, got %q", c.raw(k.key))
		}
	}
	return errs
}
