package config

import (
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// TestMitigationEngineConfig: the sizing keys and the policy's thresholds both
// reach the loop's configuration, and the loop accepts the defaults.
func TestMitigationEngineConfig(t *testing.T) {
	c, err := Load(Sources{Flags: map[string]string{"mitigation.learn_at": "80", "mitigation.victims": "512"}})
	if err != nil {
		t.Fatal(err)
	}
	pm := policy.DefaultMitigation()
	pm.Victim.MinPPS, pm.Signature.TTL = 500, 30*time.Second
	e := c.Mitigation.EngineConfig(pm)
	if e.LearnAt != 80 || e.Victims != 512 || e.Detector.MinPPS != 500 || e.SignatureTTL != int64(30*time.Second) ||
		e.Detector.Factor != 5 || e.SourceTTL != int64(time.Minute) {
		t.Fatalf("engine config %+v", e)
	}
}
