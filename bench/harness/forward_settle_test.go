package harness

import (
	"math"
	"testing"
	"time"
)

// TestForwardSettle checks the accounting of MeasureForward's rounds: totals of
// the paths, means of the baselines, medians of the per-round ratios (not ratios
// of means), and the sender bound only when every round was bound.
func TestForwardSettle(t *testing.T) {
	sec := time.Second
	round := func(newPPS, fwd, rx, off, red, bare float64, bound bool) forwardRound {
		return forwardRound{
			New:            fwdRun{PPS: newPPS, Sent: uint64(newPPS) + 10, Delivered: uint64(newPPS), Elapsed: sec},
			Off:            fwdRun{PPS: off, Sent: uint64(off), Delivered: uint64(off), Elapsed: sec},
			Forwarder:      fwdRun{PPS: fwd, Sent: uint64(fwd) + 5, Delivered: uint64(fwd), RxDropped: 7, Elapsed: sec},
			RxLoop:         rx,
			Redirect:       red,
			Bare:           bare,
			OffloadedBound: bound,
		}
	}
	tests := []struct {
		name   string
		rounds []forwardRound
		want   ForwardRatio
	}{
		{"none", nil, ForwardRatio{}},
		{"three rounds", []forwardRound{
			round(100, 200, 400, 300, 400, 600, true), // new/ref 0.5, off/red 0.75
			round(90, 100, 300, 200, 200, 400, true),  // 0.9, 1
			round(20, 100, 100, 100, 500, 200, false), // 0.2, 0.2 (a loaded round)
		}, ForwardRatio{
			NewFlowsPPS: 70, NewOfferedPPS: 80, NewSent: 240, NewDelivered: 210,
			OffloadedPPS: 200, OffloadedSent: 600, OffloadedDelivered: 600,
			ForwarderPPS: 400.0 / 3, ForwarderSent: 415, ForwarderDelivered: 400, ForwarderRxDropped: 21,
			ReferencePPS: 800.0 / 3, RedirectPPS: 1100.0 / 3, BarePPS: 400,
			NewOverReference: 0.5, NewOverRxLoop: 0.25, OffloadedOverRedirect: 0.75, OffloadedOverBare: 0.5,
		}},
		{"zero baseline", []forwardRound{round(100, 0, 0, 300, 0, 0, true)}, ForwardRatio{
			NewFlowsPPS: 100, NewOfferedPPS: 110, NewSent: 110, NewDelivered: 100,
			OffloadedPPS: 300, OffloadedSent: 300, OffloadedDelivered: 300, ForwarderSent: 5, ForwarderRxDropped: 7,
			SenderBound: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got ForwardRatio
			got.settle(tt.rounds)
			floats := []struct {
				name      string
				got, want float64
			}{
				{"new_flows_pps", got.NewFlowsPPS, tt.want.NewFlowsPPS},
				{"new_flows_offered_pps", got.NewOfferedPPS, tt.want.NewOfferedPPS},
				{"offloaded_pps", got.OffloadedPPS, tt.want.OffloadedPPS},
				{"reference_forward_pps", got.ForwarderPPS, tt.want.ForwarderPPS},
				{"reference_rx_pps", got.ReferencePPS, tt.want.ReferencePPS},
				{"devmap_redirect_pps", got.RedirectPPS, tt.want.RedirectPPS},
				{"bare_xdp_drop_pps", got.BarePPS, tt.want.BarePPS},
				{"new_flows_over_reference", got.NewOverReference, tt.want.NewOverReference},
				{"new_flows_over_rx_loop", got.NewOverRxLoop, tt.want.NewOverRxLoop},
				{"offloaded_over_redirect", got.OffloadedOverRedirect, tt.want.OffloadedOverRedirect},
				{"offloaded_over_bare", got.OffloadedOverBare, tt.want.OffloadedOverBare},
			}
			for _, f := range floats {
				if math.Abs(f.got-f.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			ints := [][2]uint64{
				{got.NewSent, tt.want.NewSent}, {got.NewDelivered, tt.want.NewDelivered},
				{got.OffloadedSent, tt.want.OffloadedSent}, {got.OffloadedDelivered, tt.want.OffloadedDelivered},
				{got.ForwarderSent, tt.want.ForwarderSent}, {got.ForwarderDelivered, tt.want.ForwarderDelivered},
				{got.ForwarderRxDropped, tt.want.ForwarderRxDropped},
			}
			for i, v := range ints {
				if v[0] != v[1] {
					t.Errorf("count %d = %d, want %d", i, v[0], v[1])
				}
			}
			if got.SenderBound != tt.want.SenderBound {
				t.Errorf("sender bound %v, want %v", got.SenderBound, tt.want.SenderBound)
			}
		})
	}
}
