package harness

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// TestDropAttacksYAML decodes the appliance path's policy for each scope: BENIGN
// passes, everything else is dropped with the DROP scoped as asked.
func TestDropAttacksYAML(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		scope string
		want  policy.Scope
	}{{ScopeFlow, policy.ScopeFlow}, {ScopeSource, policy.ScopeSource}} {
		p, _, err := config.DecodePolicy([]byte(dropAttacksYAML(tc.scope)), tc.scope)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Decide(Benign, 1, false, src); d.Action != policy.ActionPass {
			t.Errorf("%s: BENIGN decided %v", tc.scope, d.Action)
		}
		if d := p.Decide("DoS Hulk", 1, false, src); d.Action != policy.ActionDrop || d.Scope != tc.want || d.TTL != 5*time.Minute {
			t.Errorf("%s: an attack decided %+v, want DROP scope %v for 5m", tc.scope, d, tc.want)
		}
	}
}
