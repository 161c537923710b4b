package pipeline

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// benchFlows returns n finished flows of 4 packets each (IPv4, distinct source
// ports) and their early verdicts, as the workers and the writer hand them over.
func benchFlows(b *testing.B, n int) ([]endedFlow, []inspect.Verdict) {
	var ended []endedFlow
	tab, err := flow.New(flow.Config{Capacity: n, IdleTimeout: time.Second, ActiveTimeout: time.Minute, Seed: 1},
		func(f *flow.Flow, why flow.Reason) {
			if why != flow.Early {
				ended = append(ended, endedFlow{*f, why})
			}
		})
	if err != nil {
		b.Fatal(err)
	}
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	vs := make([]inspect.Verdict, n)
	for i := range n {
		sport := uint16(1024 + i)
		fr := ethFrame(src, dst, sport, 443)
		var p packet.Packet
		if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil {
			b.Fatal(err)
		}
		first := int64(1e18) + int64(i)*1e6
		for k := range 4 {
			tab.Update(&p, first+int64(k)*1e4, len(fr))
		}
		vs[i] = inspect.Verdict{Src: src, Dst: dst, SrcPort: sport, DstPort: 443, Proto: 6, Label: "BENIGN", Prob: 0.9,
			Decision: policy.Decision{Action: policy.ActionPass}, Early: true, First: first, Last: first}
	}
	tab.Flush()
	return ended, vs
}

// BenchmarkFlowExporter is the exporter goroutine's work per finished flow in the
// daemon: take the flow off a worker's ring, compute its features, join it with its
// verdict, encode it (to a file: /dev/null). records/s is the export rate one core
// sustains.
func BenchmarkFlowExporter(b *testing.B) {
	const n = 4096
	ended, vs := benchFlows(b, n)
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"export.ipfix_file": "/dev/null", "export.queue": "8192"}})
	if err != nil {
		b.Fatal(err)
	}
	o, err := openOutputs(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer o.close()
	r := o.newRing(n)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % n
		o.verdict(&vs[j]) // verdict first: the flow was decided early
		s := r.Slot()
		*s = ended[j]
		r.Commit()
		if j == n-1 || i%64 == 63 {
			o.flows.drain(now)
		}
	}
	o.flows.drain(now)
	o.flows.flush()
	b.ReportMetric(float64(o.stats.FlowsExported.Load())/b.Elapsed().Seconds(), "records/s")
	if o.stats.FlowsUnlabelled.Load() != 0 {
		b.Fatalf("%d flows exported without their verdict", o.stats.FlowsUnlabelled.Load())
	}
}

// BenchmarkEndedHook is what a finished flow costs the worker that ends it when
// export is on: one copy of the flow record into the export ring (drained here by
// the benchmark itself, outside the timer's concern: Release is two atomic ops).
func BenchmarkEndedHook(b *testing.B) {
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"export.ipfix_file": "/dev/null"}})
	if err != nil {
		b.Fatal(err)
	}
	o, err := openOutputs(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer o.close()
	ended, _ := benchFlows(b, 64)
	r := o.newRing(4096)
	hook := o.endedHook(r)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hook(&ended[i&63].f, flow.EndIdle)
		if r.Len() == r.Cap() {
			r.Release(r.Cap())
		}
	}
	if o.stats.FlowsLost.Load() != 0 {
		b.Fatalf("%d flows lost", o.stats.FlowsLost.Load())
	}
}
