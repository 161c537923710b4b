package config

import (
	"testing"
	"time"
)

// TestMitigationEngineConfig: every key reaches the loop's configuration, and the
// loop accepts the defaults.
func TestMitigationEngineConfig(t *testing.T) {
	c, err := Load(Sources{Flags: map[string]string{"mitigation.min_pps": "500", "mitigation.end_after": "1s",
		"mitigation.max_benign_drop": "0.01", "mitigation.signature_ttl": "30s", "mitigation.factor": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Mitigation.EngineConfig()
	if e.Detector.MinPPS != 500 || e.Detector.EndTicks != 10 || e.Signature.MaxNormalDrop != 0.01 ||
		e.SignatureTTL != int64(30*time.Second) || e.Detector.Factor != 3 || e.SourceTTL != int64(time.Minute) {
		t.Fatalf("engine config %+v", e)
	}
}
