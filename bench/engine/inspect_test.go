package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// decision is the early decision point of the models trained here, in packets.
const decision = 8

// setup is a trained model and a fresh capture of one scenario (train on seed 1,
// inspect seed 2), generated once per test binary.
type setup struct {
	model *model.Model
	cap   *Capture
}

var (
	setupMu sync.Mutex
	setups  = map[string]*setup{}
)

func getSetup(tb testing.TB, scenario string, d time.Duration) *setup {
	tb.Helper()
	setupMu.Lock()
	defer setupMu.Unlock()
	key := fmt.Sprint(scenario, d)
	if s := setups[key]; s != nil {
		return s
	}
	train, err := Generate(traffic.Config{Scenario: scenario, Seed: 1, Duration: d})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := Train(train, decision, tree.Params{MaxDepth: 12, MinSamplesLeaf: 2, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := Generate(traffic.Config{Scenario: scenario, Seed: 2, Duration: d})
	if err != nil {
		tb.Fatal(err)
	}
	s := &setup{m, c}
	setups[key] = s
	return s
}

// dropAttacks drops every class but BENIGN (scope flow).
func dropAttacks(tb testing.TB) *policy.Policy {
	p, err := policy.Compile(policy.Spec{
		Default: policy.ActionSpec{Action: "DROP"},
		Rules:   []policy.RuleSpec{{Name: "benign", Labels: policy.Labels{"BENIGN"}, ActionSpec: policy.ActionSpec{Action: "PASS"}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestInspectGenerated runs a held-out generated capture (benign background with
// seven attacks) through the inspector: every flow gets one verdict equal to the
// tree's own prediction on its row, the model trained on another seed classifies
// well, and under a policy dropping attacks, with a batch of one row (decisions at
// the decision point itself), exactly the packets after the decision point of flows
// decided DROP early are dropped.
func TestInspectGenerated(t *testing.T) {
	s := getSetup(t, "mixed", 30*time.Second)
	rows, err := Rows(s.cap, decision)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[FlowID]int{}
	for i, id := range rows.IDs {
		byID[id] = i
	}
	// Packets of every flow over its whole life, for the expected drops.
	whole, err := Rows(s.cap, 0)
	if err != nil {
		t.Fatal(err)
	}
	total := map[FlowID]int{}
	for i, id := range whole.IDs {
		total[id] = int(whole.X.Cols[features.TotalFwdPackets][i] + whole.X.Cols[features.TotalBwdPackets][i])
	}
	pred, err := s.model.BindFlow()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := inspect.NewModels(s.model, dropAttacks(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 64} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			var ptr atomic.Pointer[inspect.Models]
			ptr.Store(ms)
			verdicts, correct, labelled, wantDropped := 0, 0, 0, 0
			row := make([]float32, len(rows.X.Cols))
			in, err := inspect.New(inspect.Config{Flow: flow.Config{Seed: 5, Capacity: 1 << 18}, BatchSize: batch}, &ptr, func(v *inspect.Verdict) {
				verdicts++
				id := FlowID{netipAP(v.Src, v.SrcPort), netipAP(v.Dst, v.DstPort), v.Proto, v.First}
				i, ok := byID[id]
				if !ok {
					t.Fatalf("verdict for a flow the flow table never handed over: %+v", id)
				}
				c, p := pred.PredictRow(rows.X.Row(i, row))
				if c != v.Class || p != v.Prob {
					t.Fatalf("flow %+v: verdict class %d p=%v, tree %d p=%v", id, v.Class, v.Prob, c, p)
				}
				if v.Early && v.Decision.Action == policy.ActionDrop {
					wantDropped += total[id] - decision
				}
				if l := rows.Labels[i]; l != "" {
					labelled++
					if l == v.Label {
						correct++
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			actions := make([]policy.Action, len(s.cap.Frames))
			for off := 0; off < len(actions); off += RxBatch {
				end := min(off+RxBatch, len(actions))
				in.Process(s.cap.Frames[off:end], actions[off:end])
			}
			in.End()
			if verdicts != len(rows.IDs) {
				t.Fatalf("%d verdicts, want one per flow: %d", verdicts, len(rows.IDs))
			}
			acc := float64(correct) / float64(labelled)
			// Drops per label; attack packets beyond each flow's decision point.
			var pkts, dropped [traffic.NumLabels]int
			for i, a := range actions {
				l := s.cap.Truth[i]
				pkts[l]++
				if a == policy.ActionDrop {
					dropped[l]++
				}
			}
			attack, attackDropped := 0, 0
			for l := range pkts {
				if traffic.Label(l) != traffic.Benign {
					attack += pkts[l]
					attackDropped += dropped[l]
				}
			}
			benignDropped := float64(dropped[traffic.Benign]) / float64(pkts[traffic.Benign])
			st := in.Stats()
			t.Logf("%d frames, %d flows, accuracy %.4f on %d labelled flows; attack packets dropped %d/%d, benign dropped %.4f%%; stats: %d batches, %d early, by label %v",
				len(actions), verdicts, acc, labelled, attackDropped, attack, 100*benignDropped, st.Batches, st.Early, st.ByLabel)
			if acc < 0.99 {
				t.Errorf("held-out accuracy %.4f < 0.99", acc)
			}
			if attackDropped == 0 {
				t.Errorf("no attack packet dropped")
			}
			if got := attackDropped + dropped[traffic.Benign]; batch == 1 && got != wantDropped {
				t.Errorf("%d packets dropped, want %d: those after the decision point of flows decided DROP", got, wantDropped)
			} else if got > wantDropped {
				t.Errorf("%d packets dropped, more than the %d after the decision point of flows decided DROP", got, wantDropped)
			}
			if st.Frames != uint64(len(actions)) || st.DroppedFrames != uint64(attackDropped+dropped[traffic.Benign]) {
				t.Errorf("stats: frames %d dropped %d", st.Frames, st.DroppedFrames)
			}
		})
	}
}

// TestMeasureEngine checks the harness entry point: every frame is counted and every
// flow classified, and the rate is positive.
func TestMeasureEngine(t *testing.T) {
	s := getSetup(t, "mixed", 30*time.Second)
	ms, err := inspect.NewModels(s.model, dropAttacks(t))
	if err != nil {
		t.Fatal(err)
	}
	pps, st, err := MeasureEngine(s.cap.Frames, ms, inspect.Config{Flow: flow.Config{Capacity: 1 << 18}})
	if err != nil {
		t.Fatal(err)
	}
	if pps <= 0 || st.Frames != uint64(len(s.cap.Frames)) || st.Classified == 0 || st.Live != 0 {
		t.Fatalf("pps %v, stats %+v", pps, st)
	}
	t.Logf("engine alone: %.0f pkt/s over %d frames (%d flows classified)", pps, st.Frames, st.Classified)
	pps, st, err = Measure(traffic.Config{Scenario: "syn-flood", Seed: 3, Duration: 5 * time.Second}, ms, inspect.Config{})
	if err != nil || pps <= 0 || st.Frames == 0 || st.Classified == 0 {
		t.Fatalf("Measure: %v pkt/s, stats %+v, %v", pps, st, err)
	}
	if _, _, err := Measure(traffic.Config{Scenario: "no-such"}, ms, inspect.Config{}); err == nil {
		t.Error("Measure: no error for an unknown scenario")
	}
	if _, _, err := MeasureEngine(nil, ms, inspect.Config{}); err == nil {
		t.Error("no error for an empty capture")
	}
	if _, _, err := MeasureEngine(s.cap.Frames, ms, inspect.Config{BatchSize: -3}); err == nil {
		t.Error("no error for an invalid configuration")
	}
}

// TestZeroAllocsGenerated checks zero allocations per packet on realistic traffic,
// classification and the end of input included.
func TestZeroAllocsGenerated(t *testing.T) {
	s := getSetup(t, "mixed", 30*time.Second)
	var ptr atomic.Pointer[inspect.Models]
	ms, err := inspect.NewModels(s.model, dropAttacks(t))
	if err != nil {
		t.Fatal(err)
	}
	ptr.Store(ms)
	in, err := inspect.New(inspect.Config{Flow: flow.Config{Capacity: 1 << 16}}, &ptr, func(*inspect.Verdict) {})
	if err != nil {
		t.Fatal(err)
	}
	frames := s.cap.Frames
	actions := make([]policy.Action, RxBatch)
	pos := 0
	step := func() {
		if pos+RxBatch > len(frames) {
			in.End()
			pos = 0
		}
		in.Process(frames[pos:pos+RxBatch], actions)
		pos += RxBatch
	}
	for range 100 {
		step()
	}
	runs := len(frames)/RxBatch + 10 // a whole pass, End included
	if a := testing.AllocsPerRun(runs, step); a != 0 {
		t.Fatalf("%v allocations per receive batch of %d frames, want 0", a, RxBatch)
	}
	if in.Stats().Classified == 0 {
		t.Fatal("nothing classified during the measurement")
	}
}

// BenchmarkInspect measures the engine alone per packet: decode, flow table,
// features, classification (tree, k-means when the model has it) and policy over a
// generated capture held in memory, in receive batches of RxBatch frames. The
// capture is replayed back to back with its timestamps moved on by its length at
// every pass, so the table sees a continuous stream in steady state: flows expire
// by the idle timeout or are evicted, as in the appliance (no End per pass).
func BenchmarkInspect(b *testing.B) {
	for _, sc := range []struct {
		name     string
		duration time.Duration
	}{
		{"mixed", 60 * time.Second},
		{"benign", 60 * time.Second},
		{"syn-flood", 30 * time.Second},
		{"udp-flood", 30 * time.Second},
	} {
		b.Run("scenario="+sc.name, func(b *testing.B) {
			s := getSetup(b, sc.name, sc.duration)
			ms, err := inspect.NewModels(s.model, dropAttacks(b))
			if err != nil {
				b.Fatal(err)
			}
			var ptr atomic.Pointer[inspect.Models]
			ptr.Store(ms)
			in, err := inspect.New(inspect.Config{Flow: flow.Config{Seed: 1, Capacity: 1 << 18}}, &ptr, func(*inspect.Verdict) {})
			if err != nil {
				b.Fatal(err)
			}
			frames := slices.Clone(s.cap.Frames)
			span := frames[len(frames)-1].Timestamp - frames[0].Timestamp + int64(time.Millisecond)
			actions := make([]policy.Action, RxBatch)
			b.ReportAllocs()
			b.ResetTimer()
			pos := 0
			for done := 0; done < b.N; {
				n := min(RxBatch, b.N-done, len(frames)-pos)
				in.Process(frames[pos:pos+n], actions[:n])
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
			b.ReportMetric(float64(st.Classified)/float64(st.Frames), "verdicts/pkt")
		})
	}
}

func netipAP(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

// BenchmarkDecodeFlow is BenchmarkInspect's baseline on the same captures: decode and
// flow table only (features accumulated, nothing classified), so the ratio of the
// two is the cost of snapshots, classification and policy.
func BenchmarkDecodeFlow(b *testing.B) {
	for _, sc := range []struct {
		name     string
		duration time.Duration
	}{
		{"mixed", 60 * time.Second},
		{"benign", 60 * time.Second},
		{"syn-flood", 30 * time.Second},
		{"udp-flood", 30 * time.Second},
	} {
		b.Run("scenario="+sc.name, func(b *testing.B) {
			s := getSetup(b, sc.name, sc.duration)
			tab, err := flow.New(flow.Config{Seed: 1, Capacity: 1 << 18}, nil)
			if err != nil {
				b.Fatal(err)
			}
			frames := slices.Clone(s.cap.Frames)
			span := frames[len(frames)-1].Timestamp - frames[0].Timestamp + int64(time.Millisecond)
			in := make([]flow.Input, RxBatch)
			b.ReportAllocs()
			b.ResetTimer()
			pos := 0
			for done := 0; done < b.N; {
				n := min(RxBatch, b.N-done, len(frames)-pos)
				k := 0
				for _, fr := range frames[pos : pos+n] {
					if packet.Decode(fr.Link, fr.Data, &in[k].Packet) == nil {
						in[k].Time, in[k].WireLen = fr.Timestamp, fr.WireLen
						k++
					}
				}
				tab.UpdateBatch(in[:k])
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
		})
	}
}
