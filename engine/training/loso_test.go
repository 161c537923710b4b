package training

import (
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// lined builds a flow-schema data set: per source, n rows labelled label whose
// Destination Port is port and whose Flow Duration counts up.
func lined(parts ...struct {
	src, label string
	port       float32
	n          int
}) *dataset.Dataset {
	d := &dataset.Dataset{X: features.NewFlowBatch(0)}
	row := make([]float32, features.NumFeatures)
	for _, p := range parts {
		for i := range p.n {
			row[features.DstPort], row[features.FlowDuration] = p.port, float32(i)
			d.X.Grow(1)
			d.X.AppendRow(row)
			d.Labels = append(d.Labels, p.label)
			d.Meta.Source = append(d.Meta.Source, p.src)
		}
	}
	return d
}

// TestLeaveOneSourceOut: a held-out source is never trained on. Source "web" is the
// only benign one: held out, the model knows no BENIGN and flags all of it (a leak
// would give 0%). The two scan sources look alike, so each is found from the other.
func TestLeaveOneSourceOut(t *testing.T) {
	type part = struct {
		src, label string
		port       float32
		n          int
	}
	d := lined(part{"web", Benign, 443, 50}, part{"scan-a", "PortScan", 1, 40}, part{"scan-b", "PortScan", 2, 30},
		part{"gen", Benign, 443, 20})
	roles := map[string]dataset.Role{"web": dataset.RoleBenign, "scan-a": dataset.RoleAttack, "scan-b": dataset.RoleAttack, "gen": dataset.RoleGenerated}
	cases := []struct {
		name     string
		features []string
		want     map[string]float64
	}{
		{"all", nil, map[string]float64{"web": 0, "scan-a": 1, "scan-b": 1}},
		{"duration-only", []string{features.Names[features.FlowDuration]}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := LeaveOneSourceOut(d, roles, c.features, Options{Tree: tree.Params{Seed: 1}, ClassWeight: "balanced"}, Eval{})
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 3 {
				t.Fatalf("%d folds, want 3 (the generated source is never held out)", len(h))
			}
			for _, e := range h {
				want := map[string]int{"web": 50, "scan-a": 40, "scan-b": 30}[e.Source]
				if e.Flows != want {
					t.Errorf("%s: %d flows scored, want %d", e.Source, e.Flows, want)
				}
				if w, ok := c.want[e.Source]; ok && e.Rate != w {
					t.Errorf("%s: rate %v, want %v", e.Source, e.Rate, w)
				}
			}
		})
	}
	// Without the generated source, "web" held out leaves no benign row: all flagged.
	noGen := d.Subset(func() []int {
		var r []int
		for i, s := range d.Meta.Source {
			if s != "gen" {
				r = append(r, i)
			}
		}
		return r
	}())
	h, err := LeaveOneSourceOut(noGen, roles, nil, Options{Tree: tree.Params{Seed: 1}}, Eval{})
	if err != nil {
		t.Fatal(err)
	}
	if h[2].Source != "web" || h[2].Rate != 1 {
		t.Errorf("web held out with no other benign source: %+v, want every flow flagged", h[2])
	}
	if _, err := LeaveOneSourceOut(d, map[string]dataset.Role{}, nil, Options{}, Eval{}); err == nil {
		t.Error("a source without a role is not an error")
	}
}

func TestFeatureSets(t *testing.T) {
	for _, s := range FeatureSets {
		n := s.Names()
		if len(n) == 0 || len(n) > features.NumFeatures {
			t.Errorf("%s: %d features", s.Name, len(n))
		}
	}
	shape, _ := FeatureSetByName("shape")
	for _, n := range shape.Names() {
		if n == "Destination Port" || n == "Flow IAT Mean" || n == "Fwd Init Win Bytes" {
			t.Errorf("shape holds %s", n)
		}
	}
	if _, err := FeatureSetByName("nope"); err == nil {
		t.Error("unknown set is not an error")
	}
}

func TestReliability(t *testing.T) {
	var r Reliability
	for _, c := range []struct {
		p  float32
		ok bool
	}{{0.95, true}, {0.95, true}, {0.95, false}, {1, true}, {0.05, false}, {-1, false}} {
		r.Add(c.p, c.ok)
	}
	if r.Bins[9].Rows != 4 || r.Bins[9].Correct != 3 || r.Bins[0].Rows != 2 {
		t.Errorf("bins %+v", r.Bins)
	}
	// bin 9: mean prob 0.9625, right 0.75; bin 0: mean prob -0.475 (clamped input), right 0.
	want := (4*(0.9625-0.75) + 2*0.475) / 6
	if e := r.ECE(); e < want-1e-6 || e > want+1e-6 {
		t.Errorf("ECE %v, want %v", e, want)
	}
	var m Reliability
	m.Merge(&r)
	m.Merge(&r)
	if m.Bins[9].Rows != 8 {
		t.Errorf("merged %+v", m.Bins[9])
	}
}

// TestOpenSet: a held-out benign source unlike every training row is UNKNOWN (alerted,
// never dropped) even where the tree calls it an attack; a source like the training
// rows is not.
func TestOpenSet(t *testing.T) {
	type part = struct {
		src, label string
		port       float32
		n          int
	}
	d := lined(part{"web", Benign, 443, 200}, part{"scan", "PortScan", 1, 200}, part{"odd", Benign, 60000, 50},
		part{"web2", Benign, 443, 50})
	for i, s := range d.Meta.Source {
		if s == "odd" {
			d.X.Cols[features.TotalFwdPackets][i] = 1e6
		}
	}
	roles := map[string]dataset.Role{"web": dataset.RoleBenign, "scan": dataset.RoleAttack, "odd": dataset.RoleBenign, "web2": dataset.RoleBenign}
	h, err := LeaveOneSourceOut(d, roles, nil, Options{Tree: tree.Params{Seed: 1}}, Eval{Open: OpenSet{K: 2, Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		switch e.Source {
		case "odd":
			if e.Unknown != e.Flows || e.Dropped != 0 || e.Alerted != e.Flows {
				t.Errorf("odd held out: %+v, want every flow UNKNOWN and none dropped", e)
			}
		case "web2":
			if e.Unknown > e.Flows/10 || e.Dropped != 0 {
				t.Errorf("web2 held out: %+v, want known benign", e)
			}
		}
	}
}
