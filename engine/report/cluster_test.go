package report

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
)

// clusterFixture fits k-means on three labelled blobs plus a few far outliers.
func clusterFixture(t *testing.T) ClusterData {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Flow Duration", "Total Fwd Packets", "Flow Bytes/s", "Destination Port"}
	b := features.NewBatch(names, 3010)
	var labels, src []string
	var ports []uint16
	var protos []uint8
	centres := [][]float64{{1e3, 2, 1e4, 53}, {1e6, 40, 1e6, 443}, {10, 1, 0, 22}}
	for i := 0; i < 3000; i++ {
		c := i % 3
		row := make([]float32, 4)
		for j := range row {
			row[j] = float32(centres[c][j] * (1 + 0.1*rng.NormFloat64()))
		}
		b.AppendRow(row)
		labels = append(labels, []string{"dns", "web", "ssh"}[c])
		src = append(src, fmt.Sprintf("10.0.0.%d", c*10+rng.IntN(3)))
		ports = append(ports, uint16(centres[c][3]))
		protos = append(protos, []uint8{17, 6, 6}[c])
	}
	for i := 0; i < 10; i++ {
		b.AppendRow([]float32{5e7, 5000, 1e9, 31337})
		labels = append(labels, "scan")
		src, ports, protos = append(src, "6.6.6.6"), append(ports, 31337), append(protos, 6)
	}
	m, err := cluster.Fit(b, cluster.Config{K: 3, Seed: 1, Transform: cluster.TransformLog1p})
	if err != nil {
		t.Fatal(err)
	}
	d := ClusterData{Model: m, X: b, Assign: make([]int32, b.Len), Score: make([]float32, b.Len),
		Labels: labels, Src: src, DstPort: ports, Proto: protos}
	if err := m.Score(b, d.Assign, d.Score); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestClusterSummary(t *testing.T) {
	d := clusterFixture(t)
	sums, err := SummarizeClusters(d, 3)
	if err != nil {
		t.Fatal(err)
	}
	total, anomalies := 0, 0
	for _, s := range sums {
		total += s.Size
		anomalies += s.Anomalies
		if s.Purity < 0.99 || len(s.Centre) != 3 || len(s.Protocols) == 0 {
			t.Errorf("cluster %d: purity %.3f, %d centre values, protocols %v", s.Cluster, s.Purity, len(s.Centre), s.Protocols)
		}
	}
	if total != d.X.Len {
		t.Errorf("sizes sum to %d, want %d", total, d.X.Len)
	}
	if anomalies < 10 {
		t.Errorf("%d anomalies, want at least the 10 outliers", anomalies)
	}
	var buf bytes.Buffer
	if err := WriteClusterTable(&buf, sums); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster", "purity", "dns 100%", "dport: 443", "proto: TCP"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestPlotClusters(t *testing.T) {
	d := clusterFixture(t)
	dir := t.TempDir()
	if v := os.Getenv("FLOWSIEVE_PLOT_DIR"); v != "" {
		dir = v // keep the pictures to look at them
	}
	if err := PlotClusters(dir, d, "flows", 2000, 1); err != nil {
		t.Fatal(err)
	}
	for _, name := range ClusterPlotFiles {
		for _, ext := range []string{".png", ".svg"} {
			st, err := os.Stat(filepath.Join(dir, name+ext))
			if err != nil || st.Size() < 2000 {
				t.Errorf("%s%s: %v (size %d)", name, ext, err, st.Size())
			}
		}
	}
}
