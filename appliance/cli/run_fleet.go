package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/fleet"
	"github.com/flowsieve/flowsieve/appliance/pipeline"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// joinFleet makes the daemon a fleet member when fleet.url is set: it
// enforces the fleet's verdicts through the daemon's block store (b, or a new
// control backend of p when the control socket is off), hot-swaps published
// models with fleet.model: follow, shares the source and prefix DROP verdicts
// its policy makes, and sends its DROP, ALERT and TAG verdicts as EVE lines to
// the fleet's alert stream. It returns nil without a fleet.
func joinFleet(cfg *config.Config, p *pipeline.Pipeline, b *pipeline.Control, log *slog.Logger) (*fleet.Member, error) {
	if !cfg.Fleet.Enabled() {
		return nil, nil
	}
	if b == nil {
		var err error
		if b, _, err = pipeline.NewControl(p); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
	}
	o := fleet.OptionsFrom(cfg.Fleet)
	o.Logger = log
	mc := fleet.MemberConfig{Enforcer: b}
	if cfg.Fleet.Model == config.FleetModelFollow {
		mc.Models, mc.ModelDir = b, filepath.Join(cfg.StateDir, "fleet-models")
	}
	m, err := fleet.Join(context.Background(), o, mc)
	if err != nil {
		return nil, err
	}
	p.SetLearned(func(pfx netip.Prefix, ttl time.Duration, label string, scope policy.Scope) {
		s := fleet.ScopeSource
		if scope == policy.ScopePrefix {
			s = fleet.ScopePrefix
		}
		if err := m.Publish(s, pfx, min(ttl, cfg.Fleet.MaxTTL), "learned by "+m.Name(), label); err != nil {
			log.Debug("fleet: not shared", "prefix", pfx, "err", err)
		}
	})
	p.SetAlertSink(m.AlertJSON)
	log.Info("fleet: joined", "url", cfg.Fleet.URL, "name", m.Name(), "model", cfg.Fleet.Model)
	return m, nil
}
