package aggregate

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// BenchmarkObserve: one packet through source, prefix, pair and victim tables, by the
// number of distinct sources (1K fits in the tables; 10M are spoofed and churn).
func BenchmarkObserve(b *testing.B) {
	for _, sources := range []int{1 << 10, 1 << 16, 10_000_000} {
		b.Run(fmt.Sprintf("sources=%d", sources), func(b *testing.B) {
			v, _ := NewVictims(4096, 1)
			a, _ := New(Config{Seed: 1}, v)
			r := rand.New(rand.NewPCG(5, 6))
			const n = 1 << 16
			pkts := make([]packet.Packet, n)
			for i := range pkts {
				x := uint32(r.IntN(sources)) * 2654435761
				pkts[i] = tcp(v4(byte(x>>24), byte(x>>16), byte(x>>8), byte(x)), v4(10, 0, 0, byte(i%16)),
					uint16(x), 80, packet.TCPSyn, 0)
			}
			ts := int64(1e12)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ts += 1000
				a.Observe(&pkts[i&(n-1)], ts, 60, true)
				if i&0xffff == 0 {
					v.Advance(ts)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}
