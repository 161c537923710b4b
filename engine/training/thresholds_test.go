package training

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// preds builds n predictions of one source.
func preds(src string, role dataset.Role, label, pred string, prob float32, n int) []Prediction {
	out := make([]Prediction, n)
	for i := range out {
		out[i] = Prediction{Source: src, Role: role, Label: label, Pred: pred, Prob: prob}
	}
	return out
}

func TestChooseThresholds(t *testing.T) {
	cat := func(ps ...[]Prediction) []Prediction {
		var out []Prediction
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	B, A := dataset.RoleBenign, dataset.RoleAttack
	tests := []struct {
		name  string
		preds []Prediction
		cost  float64
		want  Thresholds
	}{
		// Every SYN Flood call is right: the lowest threshold keeps them all.
		{"clean", cat(preds("syn", A, "SYN Flood", "SYN Flood", 0.6, 10), preds("web", B, Benign, Benign, 0.9, 10)), 10,
			Thresholds{"SYN Flood": 0.5}},
		// Benign flows called SYN Flood at 0.7, attacks at 0.95: the threshold goes above 0.7.
		{"benign below", cat(preds("syn", A, "SYN Flood", "SYN Flood", 0.95, 10), preds("web", B, Benign, "SYN Flood", 0.7, 1),
			preds("web", B, Benign, Benign, 0.9, 9)), 10, Thresholds{"SYN Flood": 0.8}},
		// A label only benign flows get is never enforced.
		{"only benign", cat(preds("web", B, Benign, "DoS Hulk", 1, 2), preds("web", B, Benign, Benign, 1, 8)), 10,
			Thresholds{"DoS Hulk": Never}},
		// At cost 0 false positives are free: the lowest threshold.
		{"free false positives", cat(preds("web", B, Benign, "DoS Hulk", 1, 2), preds("syn", A, "SYN Flood", "DoS Hulk", 0.55, 1)), 0,
			Thresholds{"DoS Hulk": 0.5}},
		// The BENIGN rows of an attack source are not counted (as in Score).
		{"attack source benign rows", cat(preds("syn", A, Benign, "SYN Flood", 1, 50), preds("syn", A, "SYN Flood", "SYN Flood", 1, 1)), 10,
			Thresholds{"SYN Flood": 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChooseThresholds(tt.preds, tt.cost)
			if len(got) != len(tt.want) {
				t.Fatalf("thresholds %v, want %v", got, tt.want)
			}
			for l, w := range tt.want {
				if got[l] != w {
					t.Errorf("%s: threshold %v, want %v", l, got[l], w)
				}
			}
		})
	}
	th := Thresholds{"SYN Flood": 0.8, "DoS Hulk": Never}
	if th.Called(Benign, 1) || th.Called("DoS Hulk", 1) || !th.Called("SYN Flood", 0.8) || th.Called("SYN Flood", 0.79) || !th.Called("PortScan", 0) {
		t.Errorf("Called is wrong for %v", th)
	}
	b, err := json.Marshal(th)
	if err != nil || !strings.Contains(string(b), `"DoS Hulk":"never"`) {
		t.Errorf("JSON %s, %v", b, err)
	}
}

// TestExplain: the errors of a held-out source are counted by label, capture and
// leaf, and the leaf's path names the feature that decided.
func TestExplain(t *testing.T) {
	type part = struct {
		src, label string
		port       float32
		n          int
	}
	d := lined(part{"web", Benign, 443, 50}, part{"scan", "PortScan", 1, 50})
	m, err := Fit(d, Options{Tree: tree.Params{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	test := lined(part{"odd", Benign, 2, 6}, part{"odd", Benign, 443, 4})
	test.Meta.Capture = []string{"/x/quic.pcap", "/x/quic.pcap", "/x/quic.pcap", "/x/dns.pcap", "/x/dns.pcap", "/x/dns.pcap", "/x/a", "/x/a", "/x/a", "/x/a"}
	h, wrong, err := Score(m, nil, nil, test, "odd", dataset.RoleBenign)
	if err != nil {
		t.Fatal(err)
	}
	if h.Flagged != 6 || h.Called != 6 || h.Dropped != 6 {
		t.Fatalf("scored %+v, want the 6 port-2 flows called PortScan", h)
	}
	e, err := Explain(m, test, wrong)
	if err != nil {
		t.Fatal(err)
	}
	if e.Errors != 6 || len(e.Labels) != 1 || e.Labels[0] != (Count{Name: "PortScan", N: 6}) {
		t.Errorf("labels %+v", e)
	}
	if len(e.Captures) != 2 || e.Captures[0] != (Count{Name: "dns.pcap", N: 3, Of: 3}) || e.Captures[1] != (Count{Name: "quic.pcap", N: 3, Of: 3}) {
		t.Errorf("captures %+v", e.Captures)
	}
	if len(e.Leaves) != 1 || e.Leaves[0].N != 6 || e.Leaves[0].Label != "PortScan" || len(e.Leaves[0].Ranges) != 1 ||
		!strings.HasPrefix(e.Leaves[0].Ranges[0], features.Names[features.DstPort]+" ≤ ") {
		t.Errorf("leaves %+v", e.Leaves)
	}
}
