package inspect

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// BenchmarkProcess measures Process per frame on synthetic traffic (a third each of
// web sessions, UDP bursts and SYN/RST scans: many short flows) by classification
// batch size, with and without the daemon's Flush after every receive batch of 64
// frames (decisions without waiting for a full batch), and with a k-means model.
// The capture is replayed with its timestamps moved on at every pass.
func BenchmarkProcess(b *testing.B) {
	tr := genTraffic(20000, 1)
	plain := trainModel(b, trainOpts{seed: 1})
	clustered := trainModel(b, trainOpts{seed: 1, cluster: true, scaler: true})
	for _, bc := range []struct {
		batch   int
		flush   bool
		cluster bool
	}{
		{64, false, false}, {64, true, false}, {8, false, false}, {1, false, false}, {64, false, true}, {64, true, true},
	} {
		m := plain
		if bc.cluster {
			m = clustered
		}
		name := fmt.Sprintf("batch=%d/flush=%v/kmeans=%v", bc.batch, bc.flush, bc.cluster)
		b.Run(name, func(b *testing.B) {
			in, err := New(Config{Flow: flow.Config{Seed: 1}, BatchSize: bc.batch}, deploy(b, m, mustPolicy(b, dropFlood())), func(*Verdict) {})
			if err != nil {
				b.Fatal(err)
			}
			frames := slices.Clone(tr.frames)
			span := frames[len(frames)-1].Timestamp - frames[0].Timestamp + int64(time.Second)
			actions := make([]policy.Action, 64)
			b.ReportAllocs()
			b.ResetTimer()
			pos := 0
			for done := 0; done < b.N; {
				n := min(64, b.N-done, len(frames)-pos)
				in.Process(frames[pos:pos+n], actions[:n])
				if bc.flush {
					in.Flush()
				}
				pos += n
				done += n
				if pos == len(frames) {
					for i := range frames {
						frames[i].Timestamp += span
					}
					pos = 0
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
			st := in.Stats()
			b.ReportMetric(float64(st.Classified)/float64(max(st.Batches, 1)), "rows/batch")
		})
	}
}

// BenchmarkClassify measures classification alone, in rows per second, by batch
// size (1, 8, 64 rows per batch): rows staged as flowDone stages them (feature
// values copied in), then scaled, predicted, scored by k-means and decided in one
// pass, as the worker's Flush runs it. The trade-off of the worker's batching
// (classify.batch, classify.max_delay) is this throughput against the time a flow
// waits for its batch.
func BenchmarkClassify(b *testing.B) {
	tr := genTraffic(20000, 1)
	rows := flowRows(b, tr, 8)
	clustered := trainModel(b, trainOpts{seed: 1, cluster: true, scaler: true})
	for _, batch := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			in, err := New(Config{Flow: flow.Config{Seed: 1}, BatchSize: batch}, deploy(b, clustered, mustPolicy(b, dropFlood())), func(*Verdict) {})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			k := 0
			for done := 0; done < b.N; done += batch {
				for i := range batch {
					r := &rows[k]
					if k++; k == len(rows) {
						k = 0
					}
					in.stage[i] = r.row
					in.rows[i] = pending{why: flow.Early, packets: 8}
				}
				in.n = batch
				in.classify()
			}
			b.StopTimer()
			n := b.N + (batch-b.N%batch)%batch // rows classified
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
