package wire_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/xdp"
)

// benignSplit is the benign traffic of a replay split by what the appliance decided
// for each flow: flows with a DROP verdict (a misclassification) and the others, whose
// losses are the appliance's transport (rings, handoff, writer lag).
type benignSplit struct {
	Flows, DropFlows, LossFlows int // benign flows, of which with a DROP verdict, with any frame lost
	DropFrames, DropLost        int // frames of the DROP flows, of which lost
	Frames, Lost                int // frames of the other flows, of which lost
}

// splitBenign asks the daemon behind the control socket in dir for the verdicts of every
// benign client (one query per address: a flood leaves hundreds of thousands of other
// verdicts) and splits the benign frames by their flow's verdict.
func splitBenign(dir string, frames []wire.Sent, rcv *wire.Received) (benignSplit, error) {
	c := control.NewClient(filepath.Join(dir, "control.sock"))
	drop := map[xdp.Key]bool{}
	done := map[netip.Addr]bool{}
	for _, s := range frames {
		if s.Label != "BENIGN" || done[s.Src] {
			continue
		}
		done[s.Src] = true
		vl, err := c.VerdictsList(context.Background(), control.VerdictQuery{Action: "DROP", Prefix: netip.PrefixFrom(s.Src, s.Src.BitLen())})
		if err != nil {
			return benignSplit{}, err
		}
		for _, v := range vl.Verdicts {
			lo, err1 := netip.ParseAddrPort(v.Lo)
			hi, err2 := netip.ParseAddrPort(v.Hi)
			if err1 != nil || err2 != nil {
				return benignSplit{}, fmt.Errorf("verdict endpoints %q %q", v.Lo, v.Hi)
			}
			drop[xdp.FlowKey(lo.Addr(), hi.Addr(), lo.Port(), hi.Port(), v.Proto)] = true
		}
	}
	lost := map[uint64]int{}
	for _, s := range lostFrames(frames, rcv, "BENIGN") {
		lost[s.ID]++
	}
	var b benignSplit
	seen, hurt := map[xdp.Key]bool{}, map[xdp.Key]bool{}
	for _, s := range frames {
		if s.Label != "BENIGN" {
			continue
		}
		if !seen[s.FlowKey] {
			seen[s.FlowKey] = true
			b.Flows++
			if drop[s.FlowKey] {
				b.DropFlows++
			}
		}
		l := lost[s.ID] > 0
		if l {
			lost[s.ID]--
			if !hurt[s.FlowKey] {
				hurt[s.FlowKey] = true
				b.LossFlows++
			}
		}
		if drop[s.FlowKey] {
			b.DropFrames++
			if l {
				b.DropLost++
			}
		} else {
			b.Frames++
			if l {
				b.Lost++
			}
		}
	}
	return b, nil
}

// causalWait is how long the flood test's replay holds an answer for the frame it
// answers (wire.ReplayConfig.Causal): longer than the queueing the flood causes in the
// appliance's receive ring, short enough that a lost frame costs its flow little.
const causalWait = 200 * time.Millisecond
