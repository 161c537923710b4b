package config

import (
	"fmt"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/signature"
)

// Mitigation configures the host- and packet-scale mitigation loop: per-victim
// aggregates, the victim detector, signatures learned and installed in the XDP
// program, and source verdicts for scanners (appliance/pipeline, engine/mitigate).
// These keys size the loop; what it decides (thresholds, actions, TTLs) is the
// policy's mitigation section.
type Mitigation struct {
	// The loop and its memory.
	Enabled bool `yaml:"enabled" flag:"mitigation" help:"Run the mitigation loop: detect victims under attack, learn per-packet signatures and install them in the XDP program, block scanning sources."`
	Ring    int  `yaml:"ring" help:"Frame records each worker queues for the mitigation loop; when full, records are not queued (counted as lost)."`
	Victims int  `yaml:"victims" help:"Destinations (and destination ports) the victim table tracks at once."`
	Sources int  `yaml:"sources" help:"Source addresses the aggregates track at once (fixed memory; spoofed floods churn through it)."`
	MaxRate int  `yaml:"max_rate" help:"Frame records per second the loop processes at most; above it, it samples one in k evenly (counted), so it does not take the workers' CPU."`
	// Signatures.
	LearnAt int `yaml:"learn_at" help:"Attack packets sampled before a signature is learned."`
}

// Limits of the mitigation keys.
const (
	maxMitigationRing  = 1 << 22
	maxMitigationTable = 1 << 26
)

func defaultMitigation() Mitigation {
	return Mitigation{
		Enabled: true, Ring: 1 << 13, MaxRate: 50000, Victims: 4096, Sources: 1 << 15, LearnAt: 300,
	}
}

// EngineConfig is the mitigation loop's configuration: its sizes from these keys,
// its thresholds, TTLs and prefix lengths from the policy's mitigation section
// (pm). It is the one place either maps to engine/mitigate.
func (m Mitigation) EngineConfig(pm policy.Mitigation) mitigate.Config {
	return pm.MitigateConfig(mitigate.Config{
		Aggregate: aggregate.Config{Sources: m.Sources, Seed: 1},
		Victims:   m.Victims,
		Signature: signature.Params{Seed: 1},
		LearnAt:   m.LearnAt,
	})
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
	between("mitigation.learn_at", m.LearnAt, 50, 4000)
	return errs
}
