package cluster

import (
	"errors"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
)

func TestHosts(t *testing.T) {
	b := features.NewFlowBatch(4)
	add := func(fp, bp, fb, bb, dur float32) {
		var row [features.NumFeatures]float32
		row[features.TotalFwdPackets], row[features.TotalBwdPackets] = fp, bp
		row[features.TotalLenFwdPackets], row[features.TotalLenBwdPackets] = fb, bb
		row[features.FlowDuration] = dur
		b.AppendRow(row[:])
	}
	add(2, 2, 100, 300, 1000)
	add(1, 0, 0, 0, 0)
	add(3, 1, 60, 40, 3000)
	add(1, 1, 10, 10, 10)
	meta := FlowMeta{
		Group:   []string{"a", "a", "a", "b"},
		Src:     []string{"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"},
		Dst:     []string{"1.1.1.1", "1.1.1.2", "1.1.1.1", "1.1.1.1"},
		DstPort: []uint16{53, 8080, 443, 53},
		Proto:   []uint8{17, 6, 6, 17},
		First:   []int64{0, 120e9, 5e9, 0},
		Last:    []int64{1e9, 121e9, 6e9, 1e9},
	}
	h, err := Hosts(b, meta)
	if err != nil {
		t.Fatal(err)
	}
	if h.X.Len != 3 || h.Src[0] != "10.0.0.1" || h.Group[2] != "b" || len(h.Flows[0]) != 2 {
		t.Fatalf("hosts %v %v %v", h.Src, h.Group, h.Flows)
	}
	want := []float32{2, 2, 2, 100, 300, 5, 80, 500, 121, 2 / (121.0 / 60), 0.5, 0.5, 0.5}
	for j, w := range want {
		if got := h.X.Cols[j][0]; got != w {
			t.Errorf("%s = %v, want %v", HostFeatures[j], got, w)
		}
	}
	if _, err := Hosts(b, FlowMeta{Src: []string{"x"}}); !errors.Is(err, ErrFeatures) {
		t.Errorf("short meta: err = %v", err)
	}
	if _, err := Hosts(features.NewBatch([]string{"x"}, 1), FlowMeta{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: err = %v", err)
	}
}
