package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// FuzzDecodePolicy checks that no input makes DecodePolicy panic, that every failure is
// an ErrInvalid, and that what it accepts survives an encode/decode round trip.
func FuzzDecodePolicy(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "configs", "policy.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("default: {action: TAG, dscp: 8}\nrules: [{labels: '*', anomaly: true, action: DROP, scope: prefix, prefix_v6: 56}]\n"))
	f.Add([]byte("allowlist: [::1, 10.0.0.0/8]\ndefault: {action: PASS}\n"))
	f.Add([]byte("{\"default\": {\"action\": \"ALERT\"}, \"rules\": []}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, spec, err := DecodePolicy(data, "fuzz.yaml")
		if err != nil {
			if !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		enc, err := EncodePolicy(spec)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, _, err := DecodePolicy(enc, "encoded.yaml"); err != nil {
			t.Fatalf("accepted policy does not round-trip: %v\n%s", err, enc)
		}
	})
}
