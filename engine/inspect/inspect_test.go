package inspect

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
)

// run feeds tr to in in receive batches of size rx (with actions) and ends the input;
// it returns the verdicts (copied) and the action of every frame.
func run(in *Inspector, tr *traffic, rx int) []policy.Action {
	actions := make([]policy.Action, len(tr.frames))
	for off := 0; off < len(tr.frames); off += rx {
		end := min(off+rx, len(tr.frames))
		in.Process(tr.frames[off:end], actions[off:end])
	}
	in.End()
	return actions
}

func collect(out *[]Verdict) func(*Verdict) {
	return func(v *Verdict) { *out = append(*out, *v) }
}

// TestVerdictsMatchTree checks that every flow gets exactly one verdict, at its
// decision point or (when it never reaches it) at its end, whose class and
// probability equal the model's own prediction on the row a plain flow table gives,
// and whose anomaly score equals the k-means model's.
func TestVerdictsMatchTree(t *testing.T) {
	tr := genTraffic(900, 7)
	cases := []struct {
		name  string
		opts  trainOpts
		batch int
		rx    int
	}{
		{"batch1", trainOpts{seed: 1}, 1, 32},
		{"batch7-rx5", trainOpts{seed: 1}, 7, 5},
		{"batch64-rx64", trainOpts{seed: 1}, 64, 64},
		{"scaler", trainOpts{seed: 2, scaler: true}, 64, 100},
		{"cluster", trainOpts{seed: 3, cluster: true}, 16, 64},
		{"scaler+cluster", trainOpts{seed: 4, scaler: true, cluster: true}, 256, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := trainModel(t, tc.opts)
			pred, err := m.BindFlow()
			if err != nil {
				t.Fatal(err)
			}
			rows := flowRows(t, tr, decisionPackets)
			want := map[flowID]flowRow{}
			for _, r := range rows {
				want[r.id] = r
			}
			var got []Verdict
			in, err := New(Config{Flow: flow.Config{Seed: 9}, BatchSize: tc.batch}, deploy(t, m, nil), collect(&got))
			if err != nil {
				t.Fatal(err)
			}
			run(in, tr, tc.rx)
			if len(got) != len(rows) {
				t.Fatalf("%d verdicts, want one per flow: %d", len(got), len(rows))
			}
			correct := 0
			seen := map[flowID]bool{}
			for i := range got {
				v := &got[i]
				id := idOfVerdict(v)
				r, ok := want[id]
				if !ok || seen[id] {
					t.Fatalf("verdict for unknown or repeated flow %+v", id)
				}
				seen[id] = true
				c, p := pred.PredictRow(r.row[:])
				if v.Class != c || v.Prob != p || v.Label != classNames[c] {
					t.Errorf("flow %v: class %d (%s) p=%v, the model predicts %d p=%v", id, v.Class, v.Label, v.Prob, c, p)
				}
				if v.Early != r.early {
					t.Errorf("flow %v: early %v, want %v", id, v.Early, r.early)
				}
				if v.Early && v.Packets != decisionPackets {
					t.Errorf("flow %v: classified early after %d packets, want %d", id, v.Packets, decisionPackets)
				}
				if m.Cluster != nil {
					b := features.NewFlowBatch(1)
					b.AppendRow(r.row[:])
					cl, sc := make([]int32, 1), make([]float32, 1)
					if err := m.Cluster.Score(b, cl, sc); err != nil {
						t.Fatal(err)
					}
					// The k-means kernel works on blocks of rows: a row scored alone
					// may round differently in the last float32 bits.
					if d := math.Abs(float64(v.Score - sc[0])); d > 1e-4*(1+float64(sc[0])) ||
						v.Anomaly != m.Cluster.Anomalous(v.Score) {
						t.Errorf("flow %v: score %v anomaly %v, k-means gives %v", id, v.Score, v.Anomaly, sc[0])
					}
				} else if v.Score != 0 || v.Anomaly {
					t.Errorf("flow %v: score %v anomaly %v without a cluster model", id, v.Score, v.Anomaly)
				}
				// The empty policy passes every flow but the UNKNOWN ones, which alert.
				if want := map[bool]policy.Action{false: policy.ActionPass, true: policy.ActionAlert}[v.Anomaly]; v.Decision.Action != want {
					t.Errorf("flow %v: %v under the default (pass) policy, anomaly %v", id, v.Decision.Action, v.Anomaly)
				}
				if v.Class == classOf(v.Src) {
					correct++
				}
			}
			if acc := float64(correct) / float64(len(got)); acc < 0.95 {
				t.Errorf("accuracy on fresh traffic %.3f: the test model learnt nothing useful", acc)
			}
			st := in.Stats()
			if st.Classified != uint64(len(got)) || st.Frames != uint64(len(tr.frames)) || st.Flows != uint64(len(rows)) {
				t.Errorf("stats: classified %d frames %d flows %d; want %d %d %d", st.Classified, st.Frames, st.Flows, len(got), len(tr.frames), len(rows))
			}
			var byLabel, unknown uint64
			for _, n := range st.ByLabel {
				byLabel += n
			}
			for _, v := range got {
				if v.Anomaly {
					unknown++
				}
			}
			if byLabel != st.Classified || st.Verdicts[policy.ActionPass]+unknown != st.Classified || st.Verdicts[policy.ActionAlert] != unknown {
				t.Errorf("stats: per label %v, per action %v, classified %d", st.ByLabel, st.Verdicts, st.Classified)
			}
		})
	}
}

// TestDropFrames checks the per-frame actions: frames of a flow decided DROP are
// DROP from the frame after its decision on (with a batch of one row the decision is
// made at the decision point itself), nothing else is dropped, and the allowlist wins
// over a DROP rule.
func TestDropFrames(t *testing.T) {
	tr := genTraffic(600, 11)
	m := trainModel(t, trainOpts{seed: 1})
	cases := []struct {
		name  string
		spec  policy.Spec
		batch int
		exact bool // batch of 1: frames after the decision point are exactly the DROPs
		allow bool // the flood sources are allowlisted
	}{
		{"batch1", dropFlood(), 1, true, false},
		{"batch16", dropFlood(), 16, false, false},
		{"allowlist", dropFlood("198.51.100.0/24"), 1, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []Verdict
			var decided map[flowID]int // flow → frames seen when decided
			seenFrames := map[flowID]int{}
			in, err := New(Config{Flow: flow.Config{Seed: 3}, BatchSize: tc.batch}, deploy(t, m, mustPolicy(t, tc.spec)), collect(&got))
			if err != nil {
				t.Fatal(err)
			}
			decided = map[flowID]int{}
			actions := make([]policy.Action, len(tr.frames))
			ids := frameFlows(t, tr)
			for i := range tr.frames {
				in.Process(tr.frames[i:i+1], actions[i:i+1])
				id := ids[i]
				seenFrames[id]++
				for len(got) > 0 {
					v := got[0]
					got = got[1:]
					if v.Decision.Action == policy.ActionDrop {
						decided[idOfVerdict(&v)] = seenFrames[idOfVerdict(&v)]
					}
					if tc.allow && classOf(v.Src) == classFlood {
						if v.Decision.Action == policy.ActionDrop || !v.Decision.Allowlisted {
							t.Fatalf("allowlisted flood source %v got %v (allowlisted %v)", v.Src, v.Decision.Action, v.Decision.Allowlisted)
						}
					}
				}
			}
			in.End()
			seenFrames = map[flowID]int{}
			dropped, afterDecision := 0, 0
			for i, a := range actions {
				id := ids[i]
				seenFrames[id]++
				at, isDrop := decided[id]
				if a == policy.ActionDrop {
					dropped++
					if !isDrop || seenFrames[id] <= at {
						t.Fatalf("frame %d (flow %v, its frame %d) dropped; flow decided DROP %v at frame %d", i, id, seenFrames[id], isDrop, at)
					}
				}
				if isDrop && seenFrames[id] > at {
					afterDecision++
					if tc.exact && a != policy.ActionDrop {
						t.Fatalf("frame %d of flow %v after its DROP decision passed", i, id)
					}
				}
			}
			if tc.allow {
				if dropped != 0 {
					t.Fatalf("%d frames dropped with the flood sources allowlisted", dropped)
				}
				return
			}
			if len(decided) == 0 || dropped == 0 {
				t.Fatalf("no flow decided DROP (%d) or no frame dropped (%d)", len(decided), dropped)
			}
			if tc.exact && dropped != afterDecision {
				t.Fatalf("%d frames dropped, %d came after their flow's DROP decision", dropped, afterDecision)
			}
			if st := in.Stats(); st.DroppedFrames != uint64(dropped) || st.Verdicts[policy.ActionDrop] != uint64(len(decided)) {
				t.Errorf("stats: dropped frames %d (want %d), DROP verdicts %d (want %d)", st.DroppedFrames, dropped, st.Verdicts[policy.ActionDrop], len(decided))
			}
			t.Logf("%d flows decided DROP, %d frames dropped, %d frames after the decisions", len(decided), dropped, afterDecision)
		})
	}
}

// frameFlows returns the flow of every frame, as a plain flow table cuts them.
func frameFlows(t *testing.T, tr *traffic) []flowID {
	t.Helper()
	type canon struct {
		a, b  netip.AddrPort
		proto uint8
	}
	tab, err := flow.New(flow.Config{Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cur := map[canon]flowID{}
	ids := make([]flowID, len(tr.frames))
	var p packet.Packet
	for i, fr := range tr.frames {
		if err := packet.Decode(fr.Link, fr.Data, &p); err != nil {
			t.Fatal(err)
		}
		before := tab.Stats().Flows
		tab.Update(&p, fr.Timestamp, fr.WireLen)
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(p.SrcIP[:4])), p.SrcPort)
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(p.DstIP[:4])), p.DstPort)
		c := canon{src, dst, p.Proto}
		if src.Compare(dst) > 0 {
			c.a, c.b = dst, src
		}
		if tab.Stats().Flows != before { // this packet starts a flow
			cur[c] = flowID{src, dst, p.Proto, fr.Timestamp}
		}
		ids[i] = cur[c]
	}
	return ids
}

// TestHotSwap swaps models and policies mid-stream: verdicts before the swap follow
// the old ones, verdicts after it the new ones, and every flow is classified exactly
// once across the swap, also when the decision point moves.
func TestHotSwap(t *testing.T) {
	tr := genTraffic(900, 21)
	plain := trainModel(t, trainOpts{seed: 1})
	withCluster := trainModel(t, trainOpts{seed: 5, cluster: true})
	endOnly := *plain
	endOnly.DecisionPoint.Packets = 0
	later := *plain
	later.DecisionPoint.Packets = 6
	cases := []struct {
		name         string
		from, to     *model.Model
		pfrom, pto   policy.Spec
		dropsAfter   bool // the new policy drops floods
		wantClusters bool // verdicts after the swap carry k-means scores
	}{
		{"policy", plain, plain, policy.Spec{}, dropFlood(), true, false},
		{"model+policy", plain, withCluster, policy.Spec{}, dropFlood(), true, true},
		{"early to end only", plain, &endOnly, dropFlood(), dropFlood(), true, false},
		{"end only to early", &endOnly, plain, policy.Spec{}, policy.Spec{}, false, false},
		{"decision point moves", plain, &later, policy.Spec{}, policy.Spec{}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ptr := deploy(t, tc.from, mustPolicy(t, tc.pfrom))
			var got []Verdict
			in, err := New(Config{Flow: flow.Config{Seed: 3}, BatchSize: 8}, ptr, collect(&got))
			if err != nil {
				t.Fatal(err)
			}
			half := len(tr.frames) / 2
			actions := make([]policy.Action, len(tr.frames))
			in.Process(tr.frames[:half], actions[:half])
			in.Flush() // what is pending is decided under the old models
			before := len(got)
			next, err := NewModels(tc.to, mustPolicy(t, tc.pto))
			if err != nil {
				t.Fatal(err)
			}
			ptr.Store(next)
			in.Process(tr.frames[half:], actions[half:])
			in.End()

			// Every flow exactly once.
			all := map[flowID]bool{}
			for _, r := range flowRows(t, tr, 0) {
				all[r.id] = true
			}
			seen := map[flowID]bool{}
			for _, v := range got {
				id := idOfVerdict(&v)
				if !all[id] || seen[id] {
					t.Fatalf("verdict for unknown or already classified flow %+v", id)
				}
				seen[id] = true
			}
			if len(seen) != len(all) {
				t.Fatalf("%d flows classified over the swap, want %d", len(seen), len(all))
			}
			drops, scored := 0, 0
			for i, v := range got {
				if i < before {
					want := tc.pfrom.Rules != nil && v.Label == "Flood"
					if (v.Decision.Action == policy.ActionDrop) != want {
						t.Fatalf("verdict %d before the swap: %s → %v", i, v.Label, v.Decision.Action)
					}
					continue
				}
				// An UNKNOWN flow alerts and is never dropped.
				if (v.Decision.Action == policy.ActionDrop) != (tc.dropsAfter && v.Label == "Flood" && !v.Anomaly) {
					t.Fatalf("verdict %d after the swap: %s → %v", i, v.Label, v.Decision.Action)
				}
				if v.Decision.Action == policy.ActionDrop {
					drops++
				}
				if v.Score != 0 {
					scored++
				}
				if v.Early && v.Packets != uint64(tc.to.DecisionPoint.Packets) && v.Packets != uint64(tc.from.DecisionPoint.Packets) {
					t.Fatalf("early verdict after %d packets", v.Packets)
				}
			}
			if tc.dropsAfter && drops == 0 {
				t.Error("the swapped-in policy dropped nothing")
			}
			if tc.wantClusters != (scored > 0) {
				t.Errorf("%d verdicts after the swap carry an anomaly score", scored)
			}
			if st := in.Stats(); st.ModelSwaps != 1 {
				t.Errorf("ModelSwaps %d, want 1", st.ModelSwaps)
			}
			t.Logf("%d verdicts before the swap, %d after, %d DROP after", before, len(got)-before, drops)
		})
	}
}

// TestNewModelsRejects checks that models the engine cannot run are refused with
// ErrModel and a message naming the problem.
func TestNewModelsRejects(t *testing.T) {
	good := trainModel(t, trainOpts{seed: 1})
	clone := func(edit func(m *model.Model)) *model.Model {
		c := *good
		edit(&c)
		return &c
	}
	cases := []struct {
		name string
		m    *model.Model
		want string
	}{
		{"nil", nil, "no model"},
		{"schema", clone(func(m *model.Model) { m.Schema = "nslkdd" }), "schema"},
		{"feature", clone(func(m *model.Model) {
			m.Features = append([]string{"Bogus Feature"}, m.Features[1:]...)
		}), "Bogus Feature"},
		{"decision point", clone(func(m *model.Model) { m.DecisionPoint.Packets = -1 }), "decision_point"},
		{"no classes", clone(func(m *model.Model) { m.Classes = nil }), "classes"},
		{"fewer classes than the tree", clone(func(m *model.Model) { m.Classes = m.Classes[:2] }), "3 classes"},
		{"fewer features than the tree", clone(func(m *model.Model) { m.Features = m.Features[:10] }), "features"},
		{"no tree", clone(func(m *model.Model) { m.Tree = nil }), "no model"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewModels(tc.m, nil)
			if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrModel mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, &atomic.Pointer[Models]{}, func(*Verdict) {}); !errors.Is(err, ErrModel) {
		t.Errorf("New with no models: %v", err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		sink func(*Verdict)
		want error
	}{
		{"batch size", Config{BatchSize: -1}, func(*Verdict) {}, ErrConfig},
		{"sink", Config{}, nil, ErrConfig},
		{"flow table", Config{Flow: flow.Config{Capacity: -5}}, func(*Verdict) {}, flow.ErrConfig},
	} {
		if _, err := New(tc.cfg, deploy(t, good, nil), tc.sink); !errors.Is(err, tc.want) {
			t.Errorf("New with a bad %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestDecisionPointFollowsModel checks that the table's decision point follows the
// deployed model (end-only models classify every flow at its end) unless the
// configuration fixes it.
func TestDecisionPointFollowsModel(t *testing.T) {
	tr := genTraffic(300, 5)
	m := trainModel(t, trainOpts{seed: 1})
	endOnly := *m
	endOnly.DecisionPoint.Packets = 0
	cases := []struct {
		name      string
		m         *model.Model
		cfgEarly  int
		wantEarly int
	}{
		{"model", m, 0, decisionPackets},
		{"end only", &endOnly, 0, 0},
		{"config overrides", &endOnly, 6, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []Verdict
			in, err := New(Config{Flow: flow.Config{Seed: 2, EarlyPackets: tc.cfgEarly}}, deploy(t, tc.m, nil), collect(&got))
			if err != nil {
				t.Fatal(err)
			}
			run(in, tr, 64)
			want := flowRows(t, tr, tc.wantEarly)
			early := 0
			for _, r := range want {
				if r.early {
					early++
				}
			}
			if st := in.Stats(); len(got) != len(want) || st.Early != uint64(early) {
				t.Fatalf("%d verdicts (%d early), want %d (%d early)", len(got), st.Early, len(want), early)
			}
			for _, v := range got {
				if v.Early && v.Packets != uint64(tc.wantEarly) {
					t.Fatalf("early verdict after %d packets, want %d", v.Packets, tc.wantEarly)
				}
			}
		})
	}
}

// TestZeroAllocs checks that Process allocates nothing per frame, classification
// included (the batch fills and is classified inside the measured calls).
func TestZeroAllocs(t *testing.T) {
	tr := genTraffic(2000, 3)
	for _, o := range []trainOpts{{seed: 1}, {seed: 2, scaler: true, cluster: true}} {
		m := trainModel(t, o)
		verdicts := 0
		in, err := New(Config{Flow: flow.Config{Seed: 1, Capacity: 1 << 14}, BatchSize: 16},
			deploy(t, m, mustPolicy(t, dropFlood())), func(*Verdict) { verdicts++ })
		if err != nil {
			t.Fatal(err)
		}
		actions := make([]policy.Action, 64)
		pos := 0
		next := func() []source.Frame {
			if pos+64 > len(tr.frames) {
				pos = 0
			}
			pos += 64
			return tr.frames[pos-64 : pos]
		}
		in.Process(next(), actions) // warm up
		a := testing.AllocsPerRun(200, func() { in.Process(next(), actions) })
		if a != 0 {
			t.Errorf("scaler %v cluster %v: %v allocations per Process of 64 frames, want 0", o.scaler, o.cluster, a)
		}
		if verdicts == 0 {
			t.Errorf("no verdicts during the measurement: classification was not measured")
		}
		if math.IsNaN(a) {
			t.Fatal("NaN")
		}
	}
}

// TestStatsConcurrent reads Stats from another goroutine while the worker runs, as a
// metrics scrape does (run with -race), and checks the final counters add up.
func TestStatsConcurrent(t *testing.T) {
	tr := genTraffic(600, 13)
	m := trainModel(t, trainOpts{seed: 1})
	in, err := New(Config{Flow: flow.Config{Seed: 4}, BatchSize: 8}, deploy(t, m, mustPolicy(t, dropFlood())), func(*Verdict) {})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	scraped := make(chan Stats)
	go func() {
		var last Stats
		for {
			select {
			case <-done:
				scraped <- last
				return
			default:
				s := in.Stats()
				if s.Frames < last.Frames || s.Classified < last.Classified {
					t.Errorf("counters went back: %d → %d frames", last.Frames, s.Frames)
				}
				last = s
			}
		}
	}()
	actions := make([]policy.Action, 64)
	for off := 0; off < len(tr.frames); off += 64 {
		end := min(off+64, len(tr.frames))
		in.Process(tr.frames[off:end], actions[:end-off])
	}
	in.End()
	close(done)
	<-scraped
	st := in.Stats()
	var sum Stats
	sum.Add(&st)
	sum.Add(&st)
	if st.Frames != uint64(len(tr.frames)) || st.Decode[packet.ReasonNone] != st.Frames || st.Live != 0 ||
		sum.Classified != 2*st.Classified || sum.ByLabel["Flood"] != 2*st.ByLabel["Flood"] {
		t.Errorf("stats %+v, sum of two %+v", st, sum)
	}
	var ended uint64
	for r := flow.EndIdle; r < flow.NumReasons; r++ {
		ended += st.Ended[r]
	}
	if ended != st.Flows || st.Ended[flow.Early] != st.Early {
		t.Errorf("flows %d, ended %d; early handed over %d, classified early %d", st.Flows, ended, st.Ended[flow.Early], st.Early)
	}
}

// TestPending checks that Pending counts the rows waiting and Flush empties them.
func TestPending(t *testing.T) {
	tr := genTraffic(90, 2)
	got := 0
	in, err := New(Config{Flow: flow.Config{Seed: 1}, BatchSize: 1000}, deploy(t, trainModel(t, trainOpts{seed: 1}), nil), func(*Verdict) { got++ })
	if err != nil {
		t.Fatal(err)
	}
	in.Process(tr.frames, nil)
	n := in.Pending()
	if n == 0 || got != 0 {
		t.Fatalf("pending %d, verdicts %d before Flush", n, got)
	}
	in.Flush()
	if in.Pending() != 0 || got != n {
		t.Fatalf("after Flush: pending %d, verdicts %d, want 0 and %d", in.Pending(), got, n)
	}
}
