package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/mitigate"
)

func pf(v float64) *float64 { return &v }
func pi(v int) *int         { return &v }

func compileMit(t *testing.T, m *MitigationSpec) (*Policy, error) {
	t.Helper()
	return Compile(Spec{Default: ActionSpec{Action: "PASS"}, Mitigation: m})
}

// TestMitigationDefaults: no section gives the documented defaults, which
// engine/mitigate accepts and which are its own defaults.
func TestMitigationDefaults(t *testing.T) {
	for _, spec := range []*MitigationSpec{nil, {}} {
		p, err := compileMit(t, spec)
		if err != nil {
			t.Fatal(err)
		}
		m := p.Mitigation()
		if m.Victim.MinPPS != 2000 || m.Victim.Share != 0.5 || m.Victim.MinSources != 16 || m.Signature.MaxBenignDrop != 0.005 ||
			m.Signature.TTL != 10*time.Second || m.Source.ScanPorts != 50 || m.Source.TTL != time.Minute || m.Prefix.V4 != 24 ||
			m.RateLimit.PPS != 0 || m.RateLimit.Burst != 0 || m.Signature.Action != MitigateDrop {
			t.Fatalf("defaults: %+v", m)
		}
		c := m.MitigateConfig(mitigate.Config{})
		if c.Detector.Alpha != 0.01 || c.Detector.EndTicks != 20 || c.SignatureTTL != 10e9 || c.SourceTTL != 60e9 || c.MaxSignatures != 4 {
			t.Fatalf("mitigate config from defaults: %+v", c)
		}
		if _, err := mitigate.New(c); err != nil {
			t.Fatalf("mitigate.New refuses the defaults: %v", err)
		}
	}
}

// TestMitigationConfig: every value set reaches its engine/mitigate field.
func TestMitigationConfig(t *testing.T) {
	p, err := compileMit(t, &MitigationSpec{
		Victim: &VictimSpec{MinPPS: pf(5000), Factor: pf(3), Share: pf(0.7), MinSources: pi(32), Baseline: "5s", EndAfter: "250ms",
			ScanPorts: pi(400), ScanPPS: pf(50)},
		Signature: &SignatureSpec{Action: "rate_limit", MaxBenignDrop: pf(0.001), MinAttackMatch: pf(0.9), Depth: pi(12), TTL: "30s", PerVictim: pi(2)},
		Source:    &SourceSpec{Action: "alert", ScanPorts: pi(20), TTL: "5m", Max: pi(1000), ConnRate: pf(4)},
		Prefix:    &PrefixSpec{PrefixV4: pi(16), PrefixV6: pi(48)},
		RateLimit: &RateLimitSpec{Per: "Source", PPS: pi(10000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := p.Mitigation()
	if m.Signature.Action != MitigateRateLimit || m.Source.Action != MitigateAlert || !m.RateLimit.PerSource || m.RateLimit.Burst != 1000 {
		t.Fatalf("actions and rate limit: %+v", m)
	}
	base := mitigate.Config{Victims: 99, NormalRing: 1234}
	base.Aggregate.Seed = 7
	c := m.MitigateConfig(base)
	got := []any{c.Victims, c.NormalRing, c.Aggregate.Seed, c.Detector.MinPPS, c.Detector.Factor, c.Detector.Share, c.Detector.MinSources,
		c.Detector.Alpha, c.Detector.EndTicks, c.Detector.ScanPorts, c.Detector.ScanPPS, c.Signature.MaxNormalDrop, c.Signature.MinAttackDrop,
		c.Signature.Depth, c.SignatureTTL, c.MaxSignatures, c.ScanSourcePorts, c.SourceTTL, c.MaxSources, c.Aggregate.Prefix4, c.Aggregate.Prefix6, c.ConnRate}
	want := []any{99, 1234, uint64(7), 5000.0, 3.0, 0.7, 32.0, 0.02, 3, 400.0, 50.0, 0.001, 0.9, 12, int64(30e9), 2, 20.0, int64(300e9), 1000, 16, 48, 4.0}
	if !slices.Equal(got, want) {
		t.Fatalf("mitigate config\n got %v\nwant %v", got, want)
	}
	if _, err := mitigate.New(c); err != nil {
		t.Fatalf("mitigate.New: %v", err)
	}
}

// TestMitigationErrors: every bad value is reported, naming its field.
func TestMitigationErrors(t *testing.T) {
	tests := []struct {
		name string
		spec MitigationSpec
		want []string
	}{
		{"zero pps", MitigationSpec{Victim: &VictimSpec{MinPPS: pf(0)}}, []string{"mitigation: victim.min_pps: 0 is out of range (want > 0"}},
		{"factor below 1", MitigationSpec{Victim: &VictimSpec{Factor: pf(0.5)}}, []string{"victim.factor: 0.5 is out of range (want >= 1"}},
		{"share above 1", MitigationSpec{Victim: &VictimSpec{Share: pf(1.5)}}, []string{"victim.share: 1.5 is out of range"}},
		{"negative sources", MitigationSpec{Victim: &VictimSpec{MinSources: pi(-1)}}, []string{"victim.min_sources: -1 is out of range (want 1 to"}},
		{"bad baseline", MitigationSpec{Victim: &VictimSpec{Baseline: "10 s"}}, []string{`victim.baseline: "10 s" is not a duration`}},
		{"short end", MitigationSpec{Victim: &VictimSpec{EndAfter: "10ms"}}, []string{"victim.end_after: 10ms is out of range (want 100ms to 1h)"}},
		{"scan ports", MitigationSpec{Victim: &VictimSpec{ScanPorts: pi(70000)}}, []string{"victim.scan_ports: 70000 is out of range (want 1 to 65535)"}},
		{"action", MitigationSpec{Signature: &SignatureSpec{Action: "BLOCK"}}, []string{`signature.action: unknown action "BLOCK" (want DROP, RATE_LIMIT or ALERT)`}},
		{"benign drop", MitigationSpec{Signature: &SignatureSpec{MaxBenignDrop: pf(0)}}, []string{"signature.max_benign_drop: 0 is out of range"}},
		{"depth", MitigationSpec{Signature: &SignatureSpec{Depth: pi(13)}}, []string{"signature.depth: 13 is out of range (want 1 to 12)"}},
		{"signature ttl", MitigationSpec{Signature: &SignatureSpec{TTL: "2h"}}, []string{"signature.ttl: 2h is out of range (want 1s to 1h)"}},
		{"source ttl beyond max_ttl", MitigationSpec{Source: &SourceSpec{TTL: "200h"}}, []string{"source.ttl: 200h is out of range (want 1s to 168h)"}},
		{"negative conn rate", MitigationSpec{Source: &SourceSpec{ConnRate: pf(-1)}}, []string{"source.conn_rate: -1 is out of range (want >= 0"}},
		{"prefix", MitigationSpec{Prefix: &PrefixSpec{PrefixV4: pi(33), PrefixV6: pi(0)}},
			[]string{"prefix.prefix_v4: 33 is out of range (want 1 to 32)", "prefix.prefix_v6: 0 is out of range (want 1 to 128)"}},
		{"per", MitigationSpec{RateLimit: &RateLimitSpec{Per: "flow"}}, []string{`rate_limit.per: unknown scope "flow" (want victim or source)`}},
		{"burst alone", MitigationSpec{RateLimit: &RateLimitSpec{Burst: pi(10)}}, []string{"rate_limit.burst: set without rate_limit.pps"}},
		{"rate limit without pps", MitigationSpec{Signature: &SignatureSpec{Action: "RATE_LIMIT"}, Source: &SourceSpec{Action: "rate_limit"}},
			[]string{"signature.action: RATE_LIMIT needs rate_limit.pps", "source.action: RATE_LIMIT needs rate_limit.pps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileMit(t, &tt.spec)
			if err == nil {
				t.Fatal("compiled")
			}
			fes := FieldErrors(err)
			if !errors.Is(err, ErrInvalid) || len(fes) != len(tt.want) {
				t.Fatalf("got %d field errors, want %d: %v", len(fes), len(tt.want), err)
			}
			for i, w := range tt.want {
				if fes[i].Section != "mitigation" || !strings.Contains(fes[i].Error(), w) {
					t.Errorf("error %d: %v, want %q", i, fes[i], w)
				}
			}
		})
	}
}

// TestMitigationDiffAndSpec: Diff names each changed value; Spec() compiles back
// to the same values; the compiled policy does not share the caller's spec.
func TestMitigationDiffAndSpec(t *testing.T) {
	a, err := compileMit(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &MitigationSpec{Victim: &VictimSpec{MinPPS: pf(8000)}, Source: &SourceSpec{TTL: "5m"}}
	b, err := compileMit(t, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"~ mitigation.victim.min_pps: 2000 ⇒ 8000", "~ mitigation.source.ttl: 1m ⇒ 5m"}
	if got := Diff(a, b); !slices.Equal(got, want) {
		t.Fatalf("diff %q, want %q", got, want)
	}
	if d := Diff(b, b); len(d) != 0 {
		t.Fatalf("diff of equal policies: %q", d)
	}
	*in.Victim.MinPPS = 1
	if b.Mitigation().Victim.MinPPS != 8000 || *b.Spec().Mitigation.Victim.MinPPS != 8000 {
		t.Fatal("the compiled policy shares the caller's spec")
	}
	full := b.Mitigation().Spec()
	c, err := compileMit(t, &full)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Mitigation().Settings(), b.Mitigation().Settings()) {
		t.Fatalf("Spec() does not compile back:\n%v\n%v", c.Mitigation().Settings(), b.Mitigation().Settings())
	}
	rl := MitigationSpec{RateLimit: &RateLimitSpec{PPS: pi(500), Burst: pi(50)}}
	r, err := compileMit(t, &rl)
	if err != nil {
		t.Fatal(err)
	}
	if got := Diff(a, r); !slices.Equal(got, []string{"~ mitigation.rate_limit.pps: off ⇒ 500", "~ mitigation.rate_limit.burst: 0 ⇒ 50"}) {
		t.Fatalf("rate limit diff: %q", got)
	}
}
