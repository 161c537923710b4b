package cluster

import (
	"fmt"

	"github.com/flowsieve/flowsieve/engine/features"
)

// HostFeatures names the per-host features built by Hosts, in column order.
var HostFeatures = []string{
	"Flows",                 // flows the host started
	"Distinct Destinations", // distinct destination addresses
	"Distinct Dst Ports",    // distinct destination ports
	"Bytes Sent",            // forward payload bytes over all its flows
	"Bytes Received",        // backward payload bytes
	"Packets",               // packets both ways
	"Mean Packet Size",      // payload bytes per packet, both ways
	"Mean Flow Duration",    // µs
	"Active Span",           // seconds from its first flow's start to its last flow's end
	"Flows Per Minute",      // flows / active span (flows, for a span under a second)
	"TCP Share",             // share of its flows over TCP
	"UDP Share",             // share of its flows over UDP
	"Well-Known Port Share", // share of flows to destination ports below 1024
}

// FlowMeta is the per-flow identity Hosts needs, one entry per row of the flow batch.
// Group, when not nil, splits hosts further (for example the capture file: the same
// address in two captures is two hosts). First and Last are unix ns and may be nil.
type FlowMeta struct {
	Group   []string
	Src     []string
	Dst     []string
	DstPort []uint16
	Proto   []uint8
	First   []int64
	Last    []int64
}

// HostTable is the result of Hosts: one row per host in X (columns HostFeatures), with
// the host's group and source address, and the flow rows that belong to it.
type HostTable struct {
	X     *features.Batch
	Group []string
	Src   []string
	Flows [][]int
}

// Hosts aggregates flows per source address (and group): the "which machines behave
// alike" view, where scanners and bots stand out by fan-out, ports and timing. x needs
// the flow columns Total Fwd/Bwd Packets, Total Length of Fwd/Bwd Packets and Flow
// Duration; meta.Src is required and every meta slice given must have x.Len entries.
func Hosts(x *features.Batch, meta FlowMeta) (*HostTable, error) {
	n := x.Len
	if n == 0 {
		return nil, ErrEmpty
	}
	check := func(name string, l int, need bool) error {
		if (need || l > 0) && l != n {
			return fmt.Errorf("%w: %s has %d entries for %d flows", ErrFeatures, name, l, n)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		l    int
		need bool
	}{{"source addresses", len(meta.Src), true}, {"groups", len(meta.Group), false},
		{"destination addresses", len(meta.Dst), false}, {"destination ports", len(meta.DstPort), false},
		{"protocols", len(meta.Proto), false}, {"first times", len(meta.First), false}, {"last times", len(meta.Last), false}} {
		if err := check(c.name, c.l, c.need); err != nil {
			return nil, err
		}
	}
	need := []string{features.Names[features.TotalFwdPackets], features.Names[features.TotalBwdPackets],
		features.Names[features.TotalLenFwdPackets], features.Names[features.TotalLenBwdPackets],
		features.Names[features.FlowDuration]}
	idx, err := resolve(x.Names, need)
	if err != nil {
		return nil, err
	}
	fp, bp, fb, bb, dur := x.Cols[idx[0]], x.Cols[idx[1]], x.Cols[idx[2]], x.Cols[idx[3]], x.Cols[idx[4]]

	type host struct {
		flows           []int
		dsts            map[string]bool
		ports           map[uint16]bool
		first, last     int64
		tcp, udp, known int
		sent, recv, pk  float64
		dur             float64
	}
	byKey := map[[2]string]*host{}
	var order [][2]string
	for i := 0; i < n; i++ {
		key := [2]string{"", meta.Src[i]}
		if meta.Group != nil {
			key[0] = meta.Group[i]
		}
		h := byKey[key]
		if h == nil {
			h = &host{dsts: map[string]bool{}, ports: map[uint16]bool{}}
			byKey[key] = h
			order = append(order, key)
		}
		h.flows = append(h.flows, i)
		if meta.Dst != nil {
			h.dsts[meta.Dst[i]] = true
		}
		if meta.DstPort != nil {
			h.ports[meta.DstPort[i]] = true
			if meta.DstPort[i] < 1024 {
				h.known++
			}
		}
		if meta.Proto != nil {
			switch meta.Proto[i] {
			case 6:
				h.tcp++
			case 17:
				h.udp++
			}
		}
		if meta.First != nil {
			if len(h.flows) == 1 || meta.First[i] < h.first {
				h.first = meta.First[i]
			}
		}
		if meta.Last != nil && meta.Last[i] > h.last {
			h.last = meta.Last[i]
		}
		h.sent += float64(fb[i])
		h.recv += float64(bb[i])
		h.pk += float64(fp[i]) + float64(bp[i])
		h.dur += float64(dur[i])
	}
	t := &HostTable{X: features.NewBatch(HostFeatures, len(order))}
	row := make([]float32, len(HostFeatures))
	for _, key := range order {
		h := byKey[key]
		nf := float64(len(h.flows))
		span := 0.0
		if meta.First != nil && meta.Last != nil && h.last > h.first {
			span = float64(h.last-h.first) / 1e9
		}
		perMin := nf
		if span >= 1 {
			perMin = nf / (span / 60)
		}
		size := 0.0
		if h.pk > 0 {
			size = (h.sent + h.recv) / h.pk
		}
		vals := []float64{nf, float64(len(h.dsts)), float64(len(h.ports)), h.sent, h.recv, h.pk, size,
			h.dur / nf, span, perMin, float64(h.tcp) / nf, float64(h.udp) / nf, float64(h.known) / nf}
		for j, v := range vals {
			row[j] = float32(v)
		}
		t.X.AppendRow(row)
		t.Group = append(t.Group, key[0])
		t.Src = append(t.Src, key[1])
		t.Flows = append(t.Flows, h.flows)
	}
	return t, nil
}
