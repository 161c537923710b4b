package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
)

// ClusterData is what a cluster summary or plot is made of: the fitted model, the rows
// it clustered (original units), their clusters and anomaly scores, and optionally the
// rows' labels and identities (nil slices are left out of the summary).
type ClusterData struct {
	Model   *cluster.Model
	X       *features.Batch
	Assign  []int32   // cluster per row (−1 for rows that could not be scored)
	Score   []float32 // anomaly score per row
	Labels  []string  // ground-truth label per row, or nil
	Src     []string  // source address per row, or nil
	Dst     []string  // destination address per row, or nil
	DstPort []uint16  // destination port per row, or nil
	Proto   []uint8   // IP protocol per row, or nil
}

// Count is one entry of a top list: a value and how many rows have it.
type Count struct {
	Value string `json:"value"`
	N     int    `json:"n"`
}

// CentreValue is one coordinate of a cluster centre: the feature, the centre's value in
// the feature's original units, and how far it lies from the overall mean in standard
// deviations of the distance space (the larger |Z|, the more the feature sets the
// cluster apart).
type CentreValue struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
	Z       float64 `json:"z"`
}

// ClusterSummary describes one cluster.
type ClusterSummary struct {
	Cluster   int           `json:"cluster"`
	Size      int           `json:"size"`
	Share     float64       `json:"share"`
	Anomalies int           `json:"anomalies"`
	Spread    float64       `json:"spread"`
	Centre    []CentreValue `json:"centre"` // most distinguishing features first
	Src       []Count       `json:"top_sources,omitempty"`
	Dst       []Count       `json:"top_destinations,omitempty"`
	Ports     []Count       `json:"top_dst_ports,omitempty"`
	Protocols []Count       `json:"protocols,omitempty"`
	Labels    []Count       `json:"labels,omitempty"`
	Purity    float64       `json:"purity,omitempty"` // share of the cluster's most common label
}

// CentreZ returns, per cluster and feature, the centre's distance from the mean of the
// rows in standard deviations, measured in the model's distance space.
func CentreZ(m *cluster.Model, x *features.Batch) ([][]float64, error) {
	z, err := m.Transform(x)
	if err != nil {
		return nil, err
	}
	d := len(m.Features)
	mean, sd := make([]float64, d), make([]float64, d)
	for j := 0; j < d; j++ {
		col := z.Column(j)
		var s, ss float64
		for _, v := range col {
			s += float64(v)
		}
		mean[j] = s / float64(len(col))
		for _, v := range col {
			dv := float64(v) - mean[j]
			ss += dv * dv
		}
		sd[j] = math.Sqrt(ss / float64(len(col)))
	}
	out := make([][]float64, m.K())
	for c, cen := range m.Centres {
		out[c] = make([]float64, d)
		for j, v := range cen {
			if sd[j] > 0 {
				out[c][j] = (v - mean[j]) / sd[j]
			}
		}
	}
	return out, nil
}

func top(m map[string]int, n int) []Count {
	out := make([]Count, 0, len(m))
	for v, c := range m {
		out = append(out, Count{v, c})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].N != out[b].N {
			return out[a].N > out[b].N
		}
		return out[a].Value < out[b].Value
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// ProtoName returns the usual name of an IP protocol number.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 58:
		return "ICMPv6"
	case 0:
		return "0"
	}
	return strconv.Itoa(int(p))
}

// SummarizeClusters builds one summary per cluster: size, share, anomalies, the
// topFeatures most distinguishing centre coordinates, and the top values (5 each) of
// addresses, ports, protocols and labels.
func SummarizeClusters(d ClusterData, topFeatures int) ([]ClusterSummary, error) {
	m := d.Model
	k := m.K()
	zs, err := CentreZ(m, d.X)
	if err != nil {
		return nil, err
	}
	out := make([]ClusterSummary, k)
	maps := make([][5]map[string]int, k)
	for c := range out {
		out[c].Cluster = c
		out[c].Spread = m.Spreads[c]
		for i := range maps[c] {
			maps[c][i] = map[string]int{}
		}
		orig := m.CentreOriginal(c)
		order := make([]int, len(orig))
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return math.Abs(zs[c][order[a]]) > math.Abs(zs[c][order[b]]) })
		for _, j := range order[:min(topFeatures, len(order))] {
			out[c].Centre = append(out[c].Centre, CentreValue{m.Features[j], orig[j], zs[c][j]})
		}
	}
	for i, c := range d.Assign[:d.X.Len] {
		if c < 0 {
			continue
		}
		s := &out[c]
		s.Size++
		if d.Score != nil && m.Anomalous(d.Score[i]) {
			s.Anomalies++
		}
		mm := &maps[c]
		if d.Src != nil {
			mm[0][d.Src[i]]++
		}
		if d.Dst != nil {
			mm[1][d.Dst[i]]++
		}
		if d.DstPort != nil {
			mm[2][strconv.Itoa(int(d.DstPort[i]))]++
		}
		if d.Proto != nil {
			mm[3][ProtoName(d.Proto[i])]++
		}
		if d.Labels != nil {
			mm[4][d.Labels[i]]++
		}
	}
	for c := range out {
		s := &out[c]
		if d.X.Len > 0 {
			s.Share = float64(s.Size) / float64(d.X.Len)
		}
		mm := maps[c]
		s.Src, s.Dst, s.Ports, s.Protocols = top(mm[0], 5), top(mm[1], 5), top(mm[2], 5), top(mm[3], 5)
		if d.Labels != nil {
			s.Labels = top(mm[4], 5)
			if len(s.Labels) > 0 && s.Size > 0 {
				s.Purity = float64(s.Labels[0].N) / float64(s.Size)
			}
		}
	}
	return out, nil
}

func fmtCounts(cs []Count, total int) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		pct := 100 * float64(c.N) / float64(max(total, 1))
		if pct < 1 {
			parts[i] = fmt.Sprintf("%s <1%%", c.Value)
			continue
		}
		parts[i] = fmt.Sprintf("%s %.0f%%", c.Value, pct)
	}
	return strings.Join(parts, ", ")
}

// fmtValue prints a feature value compactly in its original units.
func fmtValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 1e-6: // includes round-off of inverted transforms
		return "0"
	case a >= 1e6 || a < 1e-2:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// WriteClusterTable writes the summaries as a plain-text table: one block per cluster.
func WriteClusterTable(w io.Writer, sums []ClusterSummary) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "cluster\tsize\tshare\tanomalies\tlabels (purity)\tdistinguishing centre values (z)")
	for _, s := range sums {
		lab := "-"
		if len(s.Labels) > 0 {
			lab = fmt.Sprintf("%s (%.2f)", fmtCounts(s.Labels[:min(3, len(s.Labels))], s.Size), s.Purity)
		}
		cen := make([]string, len(s.Centre))
		for i, c := range s.Centre {
			cen[i] = fmt.Sprintf("%s=%s (%+.1f)", c.Feature, fmtValue(c.Value), c.Z)
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f%%\t%d\t%s\t%s\n", s.Cluster, s.Size, 100*s.Share, s.Anomalies, lab, strings.Join(cen, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range sums {
		var parts []string
		for _, p := range []struct {
			name string
			c    []Count
		}{{"src", s.Src}, {"dst", s.Dst}, {"dport", s.Ports}, {"proto", s.Protocols}} {
			if len(p.c) > 0 {
				parts = append(parts, p.name+": "+fmtCounts(p.c, s.Size))
			}
		}
		if len(parts) > 0 {
			if _, err := fmt.Fprintf(w, "cluster %d  %s\n", s.Cluster, strings.Join(parts, " | ")); err != nil {
				return err
			}
		}
	}
	return nil
}
