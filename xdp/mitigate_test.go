package xdp

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// tcpOpt is a TCP header with flags, window and one 4-byte MSS option (kind 2),
// followed by payload bytes.
func tcpOpt(sport, dport uint16, flags uint8, window uint16, payload int) []byte {
	b := make([]byte, 24+payload)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 6 << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], window)
	b[20], b[21] = 2, 4
	binary.BigEndian.PutUint16(b[22:], 1460)
	return b
}

// pairedBench runs without and with through prog perOp times each in every op, the
// order alternating from op to op so both see the same load on a shared machine, and
// reports ns/pkt of each, their ratio (of the sums) and the median, 10th and 90th
// percentile of the per-op ratios: the median is what a loaded machine does not move.
// check rejects an unexpected return code.
func pairedBench(b *testing.B, prog *ebpf.Program, without, with []byte, check func(ret uint32) bool) {
	const perOp = 10000
	var tw, tn time.Duration
	ratios := make([]float64, 0, b.N)
	for i := range b.N {
		var got [2]time.Duration
		for k := range 2 {
			which := (k + i) % 2 // 0 without, 1 with
			frame := without
			if which == 1 {
				frame = with
			}
			ret, per, err := prog.Benchmark(frame, perOp, nil)
			if err != nil {
				b.Fatal(err)
			}
			if !check(ret) {
				b.Fatalf("return %d", ret)
			}
			got[which] = per
		}
		tn += got[0]
		tw += got[1]
		ratios = append(ratios, float64(got[1])/float64(got[0]))
	}
	slices.Sort(ratios)
	at := func(q float64) float64 { return ratios[int(q*float64(len(ratios)-1))] }
	b.ReportMetric(float64(tn.Nanoseconds())/float64(b.N), "ns/pkt-without")
	b.ReportMetric(float64(tw.Nanoseconds())/float64(b.N), "ns/pkt-with")
	b.ReportMetric(float64(tw)/float64(tn), "ratio")
	b.ReportMetric(at(0.5), "ratio-p50")
	b.ReportMetric(at(0.1), "ratio-p10")
	b.ReportMetric(at(0.9), "ratio-p90")
}
