package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMitigationKeys(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml, key, want string
	}{
		{"ring", "mitigation:\n  ring: 8\n", "mitigation.ring", "between 64 and"},
		{"factor", "mitigation:\n  factor: 0.5\n", "mitigation.factor", "between 1 and 1000"},
		{"factor not a number", "mitigation:\n  factor: lots\n", "mitigation.factor", "invalid number"},
		{"benign drop", "mitigation:\n  max_benign_drop: 1.5\n", "mitigation.max_benign_drop", "share between 0 and 1"},
		{"end after", "mitigation:\n  end_after: 250ms\n", "mitigation.end_after", "multiple of 100ms"},
		{"signature ttl", "mitigation:\n  signature_ttl: 10ms\n", "mitigation.signature_ttl", "between 1s and 24h"},
		{"learn at", "mitigation:\n  learn_at: 10\n", "mitigation.learn_at", "between 50 and 4000"},
		{"max signatures", "mitigation:\n  max_signatures: 0\n", "mitigation.max_signatures", "between 1 and 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Sources{File: path})
			var ke *KeyError
			if !errors.As(err, &ke) || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), path+":") {
				t.Errorf("got %v, want an error for %s at %s:line with %q", err, tc.key, path, tc.want)
			}
		})
	}
}

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
