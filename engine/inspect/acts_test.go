package inspect

import (
	"fmt"
	"testing"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
)

// actFlood applies action (TAG with DSCP 46, or DROP) to Flood flows, scope flow,
// and passes the rest.
func actFlood(action string) policy.Spec {
	spec := policy.Spec{
		Default: policy.ActionSpec{Action: "PASS"},
		Rules: []policy.RuleSpec{{Name: "flood", Labels: policy.Labels{"Flood"},
			ActionSpec: policy.ActionSpec{Action: action}}},
	}
	if action == "TAG" {
		dscp := 46
		spec.Rules[0].DSCP = &dscp
	}
	return spec
}

// holder plays the appliance's worker: it feeds receive batches to ProcessActs,
// holds the Pending frames, and when rows reach flushRows (or at the end) flushes
// and resolves them, as the worker does before forwarding them.
type holder struct {
	in        *Inspector
	acts      []Act // every frame's final act
	held      []int // indices of frames held
	flushRows int
	most      int // most rows pending at a flush
}

func (h *holder) flush() {
	h.in.Flush()
	for _, i := range h.held {
		h.in.Resolve(&h.acts[i])
	}
	h.held = h.held[:0]
}

func (h *holder) run(frames []source.Frame, rx int) {
	for off := 0; off < len(frames); off += rx {
		end := min(off+rx, len(frames))
		h.in.ProcessActs(frames[off:end], h.acts[off:end])
		for i := off; i < end; i++ {
			if h.acts[i].Pending {
				h.held = append(h.held, i)
			}
		}
		h.most = max(h.most, h.in.Pending())
		if h.in.Pending() >= h.flushRows {
			h.flush()
		}
	}
	h.flush()
	h.in.End()
}

// TestActsHeld checks ProcessActs and Resolve for classification batches of 1, 16,
// 64 and MaxBatchSize-8 rows (the batch at its limit) accumulated over receive
// batches of 8 frames: every frame of a flow
// decided TAG from the one that completed the decision on is TAG with the rule's
// DSCP, every frame after the one completing a DROP decision is DROP, the rest
// PASS; frames are Pending exactly while their flow waits in the batch, none
// resolves too late, and the frame counters match.
func TestActsHeld(t *testing.T) {
	tr := genTraffic(600, 11)
	m := trainModel(t, trainOpts{seed: 1})
	ids := frameFlows(t, tr)
	const rx = 8
	for _, action := range []string{"TAG", "DROP"} {
		for _, rows := range []int{1, 16, 64, MaxBatchSize - rx} {
			t.Run(fmt.Sprintf("%s/rows=%d", action, rows), func(t *testing.T) {
				decided := map[flowID]dec{}
				in, err := New(Config{Flow: flow.Config{Seed: 3}, BatchSize: rows + rx}, deploy(t, m, mustPolicy(t, actFlood(action))),
					func(v *Verdict) {
						if v.Early {
							decided[idOfVerdict(v)] = dec{v.Decision, v.Packets}
						}
					})
				if err != nil {
					t.Fatal(err)
				}
				h := &holder{in: in, acts: make([]Act, len(tr.frames)), flushRows: rows}
				h.run(tr.frames, rx)
				enforced := checkActs(t, in, h.acts, ids, decided)
				st := in.Stats()
				if rows > 1 && st.Classified < 2*st.Batches {
					t.Errorf("%d rows in %d batches: rows were not accumulated", st.Classified, st.Batches)
				}
				if rows == MaxBatchSize-rx && h.most <= 64 {
					t.Errorf("at most %d rows pending: the batch never neared its limit of %d", h.most, MaxBatchSize)
				}
				t.Logf("%d frames %s, %d rows in %d batches, at most %d pending", enforced, action, st.Classified, st.Batches, h.most)
			})
		}
	}
}

// TestActsBatchLimit checks that ProcessActs takes a batch of MaxBatchSize rows and
// refuses one row more, whose flows past row 127 could not be held.
func TestActsBatchLimit(t *testing.T) {
	tr := genTraffic(50, 5)
	m := trainModel(t, trainOpts{seed: 1})
	for _, tc := range []struct {
		rows  int
		panic bool
	}{{MaxBatchSize, false}, {MaxBatchSize + 1, true}} {
		in, err := New(Config{Flow: flow.Config{Seed: 3}, BatchSize: tc.rows}, deploy(t, m, mustPolicy(t, actFlood("TAG"))), func(*Verdict) {})
		if err != nil {
			t.Fatal(err)
		}
		got := func() (p any) {
			defer func() { p = recover() }()
			in.ProcessActs(tr.frames[:8], make([]Act, 8))
			return nil
		}()
		if (got != nil) != tc.panic {
			t.Errorf("ProcessActs with %d rows: panic %v, want panic=%v", tc.rows, got, tc.panic)
		}
	}
}

// TestResolveStale checks that a Pending act resolved after a later batch was
// classified passes (fails open) and is counted, and that ProcessActs and Resolve
// do not allocate.
func TestResolveStale(t *testing.T) {
	tr := genTraffic(600, 5)
	m := trainModel(t, trainOpts{seed: 1})
	in, err := New(Config{Flow: flow.Config{Seed: 3}, BatchSize: 128}, deploy(t, m, mustPolicy(t, actFlood("TAG"))), func(*Verdict) {})
	if err != nil {
		t.Fatal(err)
	}
	acts := make([]Act, len(tr.frames))
	stale := -1
	for off := 0; off < len(tr.frames) && stale < 0; off += 8 {
		end := min(off+8, len(tr.frames))
		in.ProcessActs(tr.frames[off:end], acts[off:end])
		for i := off; i < end; i++ {
			if acts[i].Pending {
				stale = i
			}
		}
	}
	if stale < 0 {
		t.Fatal("no frame was pending")
	}
	in.Flush()
	in.ProcessActs(tr.frames[stale+1:stale+200], acts[stale+1:stale+200])
	in.Flush() // a second batch: the stale act's batch is gone
	if in.Stats().Batches < 2 {
		t.Fatal("the second flush classified nothing")
	}
	in.Resolve(&acts[stale])
	in.Process(nil, nil) // publish
	if a := acts[stale]; a.Pending || a.Action != policy.ActionPass || in.Stats().Unresolved != 1 {
		t.Fatalf("stale act resolved to %+v, unresolved %d", a, in.Stats().Unresolved)
	}

	buf := make([]Act, 64)
	pos := 0
	allocs := testing.AllocsPerRun(200, func() {
		if pos+64 > len(tr.frames) {
			pos = 0
		}
		in.ProcessActs(tr.frames[pos:pos+64], buf)
		in.Flush()
		for i := range buf {
			in.Resolve(&buf[i])
		}
		pos += 64
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per 64 frames", allocs)
	}
}

// dec is a flow's early decision and the frame count that completed it.
type dec struct {
	d       policy.Decision
	packets uint64
}

// checkActs checks every frame's Act against its flow's decision: TAG from the
// deciding frame on, DROP from the frame after it, PASS otherwise, none Pending, and
// the inspector's frame counters agree (no frame unresolved). It returns how many
// frames were enforced.
func checkActs(t *testing.T, in *Inspector, acts []Act, ids []flowID, decided map[flowID]dec) uint64 {
	t.Helper()
	seen := map[flowID]uint64{}
	var enforced, dropped, tagged uint64
	for i, a := range acts {
		id := ids[i]
		seen[id]++
		want := Act{}
		if d, ok := decided[id]; ok && seen[id] >= d.packets {
			switch {
			case d.d.Action == policy.ActionTag:
				want = Act{Action: policy.ActionTag, DSCP: d.d.DSCP}
			case d.d.Action == policy.ActionDrop && seen[id] > d.packets:
				want = Act{Action: policy.ActionDrop}
			}
		}
		if a.Pending || a.Action != want.Action || a.DSCP != want.DSCP {
			t.Fatalf("frame %d (flow %v, its frame %d): %+v, want action %v dscp %d", i, id, seen[id], a, want.Action, want.DSCP)
		}
		switch a.Action {
		case policy.ActionDrop:
			dropped++
		case policy.ActionTag:
			tagged++
		}
		if a.Action != policy.ActionPass {
			enforced++
		}
	}
	st := in.Stats()
	if enforced == 0 || st.DroppedFrames != dropped || st.TaggedFrames != tagged || st.Unresolved != 0 {
		t.Fatalf("%d frames enforced; stats: dropped %d (want %d), tagged %d (want %d), unresolved %d",
			enforced, st.DroppedFrames, dropped, st.TaggedFrames, tagged, st.Unresolved)
	}
	return enforced
}

// TestActsBatchOne: with a classification batch of one row the inspector classifies
// inside the update, so several flows complete their decision within one receive
// batch of 64 frames; each deciding frame still gets its own flow's decision (it
// used to fail open when a later flow's row was classified in the same update).
func TestActsBatchOne(t *testing.T) {
	tr := genTraffic(600, 11)
	m := trainModel(t, trainOpts{seed: 1})
	ids := frameFlows(t, tr)
	for _, action := range []string{"TAG", "DROP"} {
		t.Run(action, func(t *testing.T) {
			decided := map[flowID]dec{}
			in, err := New(Config{Flow: flow.Config{Seed: 3}, BatchSize: 1}, deploy(t, m, mustPolicy(t, actFlood(action))),
				func(v *Verdict) {
					if v.Early {
						decided[idOfVerdict(v)] = dec{v.Decision, v.Packets}
					}
				})
			if err != nil {
				t.Fatal(err)
			}
			h := &holder{in: in, acts: make([]Act, len(tr.frames)), flushRows: 1}
			h.run(tr.frames, 64)
			if n := checkActs(t, in, h.acts, ids, decided); n == 0 {
				t.Fatal("no frame enforced")
			}
		})
	}
}
