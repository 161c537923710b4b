package features

// ActivityTimeout is CICFlowMeter's activity timeout in nanoseconds: a gap between two
// packets of a flow longer than this ends an active period and starts an idle one.
const ActivityTimeout = 5_000_000_000

// Packet is what the accumulator needs to know about one packet of a flow. The flow
// table fills one per packet from the decoded packet; it lives on the stack.
type Packet struct {
	Time    int64  // capture time, unix nanoseconds
	Payload int    // transport payload length in bytes, from the IP length fields
	Header  int    // transport header length in bytes (TCP incl. options, UDP 8, ICMP 8)
	Flags   uint8  // TCP flags byte (0 for other protocols)
	Window  uint16 // TCP window (unscaled)
	TCP     bool   // the packet is TCP (window and flags are meaningful)
}

// Acc accumulates, packet by packet, everything needed to compute the flow features of
// one bidirectional flow. It is a plain value (no pointers): flow records embed it and
// the flow table reuses them without allocating. Write reads it without changing it,
// so a flow can be snapshotted at any packet and later again at its end.
type Acc struct {
	First, Last    int64 // first and last packet time, unix ns
	fwdLast        int64 // last forward packet time
	bwdLast        int64 // last backward packet time
	startActive    int64 // start of the current active period
	endActive      int64 // last packet of the current active period
	FwdLen, BwdLen Stat  // transport payload lengths per direction, bytes
	FlowIAT        Stat  // gaps between consecutive packets, µs
	FwdIAT, BwdIAT Stat  // gaps between consecutive packets of one direction, µs
	Active, Idle   Stat  // completed active periods and idle gaps, µs
	FwdHdr, BwdHdr uint64
	FwdPSH, BwdPSH uint32
	FwdURG, BwdURG uint32
	Flags          [8]uint32 // packets with each TCP flag set, bit order FIN..CWR
	FwdActData     uint32
	FwdWin, BwdWin uint16
	bwdSeen        bool
	FwdSegMin      uint16
	DstPort        uint16 // forward destination port
	Proto          uint8  // IP protocol number
}

// Start resets the accumulator for a new flow whose first (forward) packet is p.
func (a *Acc) Start(p *Packet, dstPort uint16, proto uint8) {
	*a = Acc{
		First: p.Time, Last: p.Time, fwdLast: p.Time,
		startActive: p.Time, endActive: p.Time,
		FwdHdr:    uint64(p.Header),
		FwdSegMin: uint16(p.Header),
		DstPort:   dstPort,
		Proto:     proto,
	}
	a.FwdLen.Add(float64(p.Payload))
	if p.TCP {
		a.FwdWin = p.Window
	}
	a.flags(p, true)
}

// Add includes packet p of the flow; fwd tells its direction. Times that go backwards
// (out-of-order captures) are clamped to the last packet time.
func (a *Acc) Add(p *Packet, fwd bool) {
	t := p.Time
	if t < a.Last {
		t = a.Last
	}
	// Active/idle periods, as CICFlowMeter's updateActiveIdleTime.
	if t-a.endActive > ActivityTimeout {
		if a.endActive > a.startActive {
			a.Active.Add(float64(a.endActive-a.startActive) / 1e3)
		}
		a.Idle.Add(float64(t-a.endActive) / 1e3)
		a.startActive = t
	}
	a.endActive = t
	a.FlowIAT.Add(float64(t-a.Last) / 1e3)
	a.Last = t
	if fwd {
		a.FwdIAT.Add(float64(t-a.fwdLast) / 1e3)
		a.fwdLast = t
		a.FwdLen.Add(float64(p.Payload))
		a.FwdHdr += uint64(p.Header)
		if p.Payload >= 1 {
			a.FwdActData++
		}
		if uint16(p.Header) < a.FwdSegMin {
			a.FwdSegMin = uint16(p.Header)
		}
	} else {
		if a.bwdSeen {
			a.BwdIAT.Add(float64(t-a.bwdLast) / 1e3)
		} else if p.TCP {
			a.BwdWin = p.Window
		}
		a.bwdSeen = true
		a.bwdLast = t
		a.BwdLen.Add(float64(p.Payload))
		a.BwdHdr += uint64(p.Header)
	}
	a.flags(p, fwd)
}

func (a *Acc) flags(p *Packet, fwd bool) {
	f := p.Flags
	if f == 0 {
		return
	}
	for i := range a.Flags {
		a.Flags[i] += uint32(f>>i) & 1
	}
	psh, urg := uint32(f>>3)&1, uint32(f>>5)&1
	if fwd {
		a.FwdPSH += psh
		a.FwdURG += urg
	} else {
		a.BwdPSH += psh
		a.BwdURG += urg
	}
}

// Packets returns the number of packets accumulated.
func (a *Acc) Packets() uint64 { return a.FwdLen.N + a.BwdLen.N }

// Values computes every feature of the schema, in schema order, into dst.
// See Definitions for what each value means.
func (a *Acc) Values(dst *[NumFeatures]float32) {
	var v [NumFeatures]float64
	fwdN, bwdN := float64(a.FwdLen.N), float64(a.BwdLen.N)
	fwdBytes, bwdBytes := a.FwdLen.Sum(), a.BwdLen.Sum()
	durUS := float64(a.Last-a.First) / 1e3
	all := Merge(a.FwdLen, a.BwdLen)

	v[DstPort] = float64(a.DstPort)
	v[Protocol] = float64(a.Proto)
	v[FlowDuration] = durUS
	v[TotalFwdPackets] = fwdN
	v[TotalBwdPackets] = bwdN
	v[TotalLenFwdPackets] = fwdBytes
	v[TotalLenBwdPackets] = bwdBytes
	v[FwdPktLenMax], v[FwdPktLenMin] = a.FwdLen.Max, a.FwdLen.Min
	v[FwdPktLenMean], v[FwdPktLenStd] = a.FwdLen.Mean, a.FwdLen.Std()
	v[BwdPktLenMax], v[BwdPktLenMin] = a.BwdLen.Max, a.BwdLen.Min
	v[BwdPktLenMean], v[BwdPktLenStd] = a.BwdLen.Mean, a.BwdLen.Std()
	if durUS > 0 {
		sec := durUS / 1e6
		v[FlowBytesPerSec] = (fwdBytes + bwdBytes) / sec
		v[FlowPacketsPerSec] = (fwdN + bwdN) / sec
		v[FwdPacketsPerSec] = fwdN / sec
		v[BwdPacketsPerSec] = bwdN / sec
	}
	v[FlowIATMean], v[FlowIATStd] = a.FlowIAT.Mean, a.FlowIAT.Std()
	v[FlowIATMax], v[FlowIATMin] = a.FlowIAT.Max, a.FlowIAT.Min
	v[FwdIATTotal], v[FwdIATMean], v[FwdIATStd] = a.FwdIAT.Sum(), a.FwdIAT.Mean, a.FwdIAT.Std()
	v[FwdIATMax], v[FwdIATMin] = a.FwdIAT.Max, a.FwdIAT.Min
	v[BwdIATTotal], v[BwdIATMean], v[BwdIATStd] = a.BwdIAT.Sum(), a.BwdIAT.Mean, a.BwdIAT.Std()
	v[BwdIATMax], v[BwdIATMin] = a.BwdIAT.Max, a.BwdIAT.Min
	v[FwdPSHFlags], v[BwdPSHFlags] = float64(a.FwdPSH), float64(a.BwdPSH)
	v[FwdURGFlags], v[BwdURGFlags] = float64(a.FwdURG), float64(a.BwdURG)
	v[FwdHeaderLen], v[BwdHeaderLen] = float64(a.FwdHdr), float64(a.BwdHdr)
	v[PktLenMin], v[PktLenMax] = all.Min, all.Max
	v[PktLenMean], v[PktLenStd], v[PktLenVariance] = all.Mean, all.Std(), all.Var()
	for i, flag := range [8]int{FINFlagCount, SYNFlagCount, RSTFlagCount, PSHFlagCount,
		ACKFlagCount, URGFlagCount, ECEFlagCount, CWRFlagCount} {
		v[flag] = float64(a.Flags[i])
	}
	if fwdN > 0 {
		v[DownUpRatio] = bwdN / fwdN
	}
	if n := fwdN + bwdN; n > 0 {
		v[AvgPacketSize] = (fwdBytes + bwdBytes) / n
	}
	v[FwdSegSizeAvg], v[BwdSegSizeAvg] = a.FwdLen.Mean, a.BwdLen.Mean
	v[FwdInitWinBytes], v[BwdInitWinBytes] = float64(a.FwdWin), float64(a.BwdWin)
	v[FwdActDataPkts] = float64(a.FwdActData)
	v[FwdSegSizeMin] = float64(a.FwdSegMin)
	v[ActiveMean], v[ActiveStd], v[ActiveMax], v[ActiveMin] = a.Active.Mean, a.Active.Std(), a.Active.Max, a.Active.Min
	v[IdleMean], v[IdleStd], v[IdleMax], v[IdleMin] = a.Idle.Mean, a.Idle.Std(), a.Idle.Max, a.Idle.Min
	for i, x := range v {
		dst[i] = float32(x)
	}
}

// WriteRow appends the flow's features as a new row of b (which must have the flow
// schema's columns, see NewFlowBatch) and returns the row index. It panics if b is
// full: the caller sizes batches.
func (a *Acc) WriteRow(b *Batch) int {
	var row [NumFeatures]float32
	a.Values(&row)
	return b.AppendRow(row[:])
}
