package ipfix

import "github.com/flowsieve/flowsieve/engine/flow"

// endReasons maps why a flow table ended a flow to IPFIX's flowEndReason.
var endReasons = [flow.NumReasons]uint8{
	flow.EndIdle:    EndIdle,
	flow.EndActive:  EndActive,
	flow.EndFIN:     EndDetected,
	flow.EndRST:     EndDetected,
	flow.EndEvicted: EndResource,
	flow.EndFlush:   EndForced,
}

// EndReason returns IPFIX's flowEndReason for a flow table's reason (0 for Early and
// unknown reasons).
func EndReason(why flow.Reason) uint8 {
	if why < flow.NumReasons {
		return endReasons[why]
	}
	return 0
}

// FromFlow fills r's identity, times, counters, end reason and features from a flow
// the table hands its sink, and clears the verdict (set Label, Prob, Score, Action and
// Flags afterwards when the flow was classified). It does not allocate.
func FromFlow(r *Record, f *flow.Flow, why flow.Reason) {
	r.Src, r.SrcPort = f.Src()
	r.Dst, r.DstPort = f.Dst()
	r.Proto = f.Proto()
	r.Start, r.End = f.First(), f.Last()
	r.FwdPackets, r.BwdPackets = f.FwdPackets(), f.BwdPackets()
	r.FwdBytes, r.BwdBytes = f.FwdWireBytes, f.BwdWireBytes
	r.EndReason = EndReason(why)
	f.Values(&r.Features)
	r.Label, r.Prob, r.Score, r.Action, r.Flags = "", 0, 0, 0, 0
}
