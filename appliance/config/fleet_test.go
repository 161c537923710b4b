package config

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestFleetKeys(t *testing.T) {
	path := writeFile(t, "flowsieve.yaml", "fleet:\n  url: nats://127.0.0.1:4222, tls://nats.example:4443\n  name: edge-1\n"+
		"  nkey_seed: user.nk\n  model: follow\n  default_ttl: 10m\n  tls:\n    ca: ca.pem\n")
	c, err := Load(Sources{File: path})
	if err != nil {
		t.Fatal(err)
	}
	f := c.Fleet
	if !f.Enabled() || f.Name != "edge-1" || f.Model != FleetModelFollow || f.DefaultTTL != 10*time.Minute {
		t.Errorf("fleet = %+v", f)
	}
	if want := filepath.Join(filepath.Dir(path), "user.nk"); f.NKeySeed != want {
		t.Errorf("nkey_seed = %q, want %q (relative to the config file)", f.NKeySeed, want)
	}
	if Default().Fleet.Enabled() {
		t.Error("the default configuration is in a fleet")
	}
}

func TestFleetErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // substrings; "{F}" stands for the file's path
	}{
		{"scheme", "fleet:\n  url: http://127.0.0.1:4222\n", []string{`config: {F}:2: fleet.url: NATS URL "http://127.0.0.1:4222": scheme must be nats or tls`}},
		{"no port", "fleet:\n  url: nats://127.0.0.1\n", []string{`config: {F}:2: fleet.url: NATS URL nats://127.0.0.1: no port`}},
		{"second url", "fleet:\n  url: nats://a:1,nats//b\n", []string{`config: {F}:2: fleet.url: invalid NATS URL "nats//b"`}},
		{"name", "fleet:\n  name: edge.1\n", []string{`config: {F}:2: fleet.name: name "edge.1" may hold only letters, digits, - and _`}},
		{"both credentials", "fleet:\n  credentials: /a.creds\n  nkey_seed: /b.nk\n", []string{`config: {F}:3: fleet.nkey_seed: exclusive with fleet.credentials (/a.creds)`}},
		{"cert without key", "fleet:\n  tls:\n    cert: /c.pem\n", []string{`config: {F}:3: fleet.tls.cert: fleet.tls.cert and fleet.tls.key go together`}},
		{"model", "fleet:\n  model: latest\n", []string{`config: {F}:2: fleet.model: must be one of follow, pinned, got "latest"`}},
		{"ttl above max", "fleet:\n  default_ttl: 2h\n  max_ttl: 1h\n", []string{`config: {F}:2: fleet.default_ttl: must be > 0 and at most fleet.max_ttl (1h0m0s), got "2h"`}},
		{"max ttl", "fleet:\n  max_ttl: 0s\n", []string{`config: {F}:2: fleet.max_ttl: must be > 0, got "0s"`}},
		{"buffer", "fleet:\n  buffer: 0\n", []string{`config: {F}:2: fleet.buffer: must be between 1 and 1048576, got 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "flowsieve.yaml", tt.file)
			_, err := Load(Sources{File: path})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load: %v, want ErrInvalid", err)
			}
			wantErrors(t, err, path, tt.want)
		})
	}
}
