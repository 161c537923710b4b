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

// Dir accumulates one direction of a flow. Its fields sit together so a packet
// touches few cache lines of the flow record.
type Dir struct {
	Len     Stat   // transport payload lengths, bytes
	IAT     Stat   // gaps between consecutive packets of this direction, µs
	last    int64  // time of the direction's last packet
	Hdr     uint64 // sum of transport header lengths, bytes
	PSH     uint32 // packets with PSH set
	URG     uint32 // packets with URG set
	ActData uint32 // packets with payload ≥ 1 byte (forward: not counting the flow's first packet)
	Win     uint16 // TCP window of the direction's first packet
	SegMin  uint16 // smallest transport header length
}

// Acc accumulates, packet by packet, everything needed to compute the flow features of
// one bidirectional flow. It is a plain value (no pointers): flow records embed it and
// the flow table reuses them without allocating. Values reads it without changing it,
// so a flow can be snapshotted at any packet and later again at its end.
// Fields used by every packet come first; Active and Idle, rarely updated, last.
type Acc struct {
	First, Last int64     // first and last packet time, unix ns
	startActive int64     // start of the current active period
	endActive   int64     // last packet of the current active period
	FlowIAT     Stat      // gaps between consecutive packets, µs
	Flags       [8]uint32 // packets with each TCP flag set, bit order FIN..CWR
	Fwd, Bwd    Dir       // per-direction accumulators
	DstPort     uint16    // forward destination port
	Proto       uint8     // IP protocol number
	Active      Stat      // completed active periods, µs
	Idle        Stat      // idle gaps, µs
}

// Start resets the accumulator for a new flow whose first (forward) packet is p.
func (a *Acc) Start(p *Packet, dstPort uint16, proto uint8) {
	*a = Acc{
		First: p.Time, Last: p.Time,
		startActive: p.Time, endActive: p.Time,
		DstPort: dstPort,
		Proto:   proto,
	}
	d := &a.Fwd
	d.last, d.Hdr, d.SegMin = p.Time, uint64(p.Header), uint16(p.Header)
	d.Len.Add(float64(p.Payload))
	if p.TCP {
		d.Win = p.Window
	}
	a.flags(p, d)
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
	d := &a.Bwd
	if fwd {
		d = &a.Fwd
	}
	if d.Len.N == 0 { // first backward packet
		d.SegMin = uint16(p.Header)
		if p.TCP {
			d.Win = p.Window
		}
	} else {
		d.IAT.Add(float64(t-d.last) / 1e3)
	}
	d.last = t
	d.Len.Add(float64(p.Payload))
	d.Hdr += uint64(p.Header)
	if p.Payload >= 1 {
		d.ActData++
	}
	if uint16(p.Header) < d.SegMin {
		d.SegMin = uint16(p.Header)
	}
	a.flags(p, d)
}

func (a *Acc) flags(p *Packet, d *Dir) {
	f := p.Flags
	if f == 0 {
		return
	}
	for i := range a.Flags {
		a.Flags[i] += uint32(f>>i) & 1
	}
	d.PSH += uint32(f>>3) & 1
	d.URG += uint32(f>>5) & 1
}

// Packets returns the number of packets accumulated.
func (a *Acc) Packets() uint64 { return uint64(a.Fwd.Len.N) + uint64(a.Bwd.Len.N) }

// Values computes every feature of the schema, in schema order, into dst.
// See Definitions for what each value means.
func (a *Acc) Values(dst *[NumFeatures]float32) {
	var v [NumFeatures]float64
	fwdN, bwdN := float64(a.Fwd.Len.N), float64(a.Bwd.Len.N)
	fwdBytes, bwdBytes := a.Fwd.Len.Sum(), a.Bwd.Len.Sum()
	durUS := float64(a.Last-a.First) / 1e3
	all := Merge(a.Fwd.Len, a.Bwd.Len)

	v[DstPort] = float64(a.DstPort)
	v[Protocol] = float64(a.Proto)
	v[FlowDuration] = durUS
	v[TotalFwdPackets] = fwdN
	v[TotalBwdPackets] = bwdN
	v[TotalLenFwdPackets] = fwdBytes
	v[TotalLenBwdPackets] = bwdBytes
	v[FwdPktLenMax], v[FwdPktLenMin] = float64(a.Fwd.Len.Max), float64(a.Fwd.Len.Min)
	v[FwdPktLenMean], v[FwdPktLenStd] = a.Fwd.Len.Mean, a.Fwd.Len.Std()
	v[BwdPktLenMax], v[BwdPktLenMin] = float64(a.Bwd.Len.Max), float64(a.Bwd.Len.Min)
	v[BwdPktLenMean], v[BwdPktLenStd] = a.Bwd.Len.Mean, a.Bwd.Len.Std()
	if durUS > 0 {
		sec := durUS / 1e6
		v[FlowBytesPerSec] = (fwdBytes + bwdBytes) / sec
		v[FlowPacketsPerSec] = (fwdN + bwdN) / sec
		v[FwdPacketsPerSec] = fwdN / sec
		v[BwdPacketsPerSec] = bwdN / sec
	}
	v[FlowIATMean], v[FlowIATStd] = a.FlowIAT.Mean, a.FlowIAT.Std()
	v[FlowIATMax], v[FlowIATMin] = float64(a.FlowIAT.Max), float64(a.FlowIAT.Min)
	v[FwdIATTotal], v[FwdIATMean], v[FwdIATStd] = a.Fwd.IAT.Sum(), a.Fwd.IAT.Mean, a.Fwd.IAT.Std()
	v[FwdIATMax], v[FwdIATMin] = float64(a.Fwd.IAT.Max), float64(a.Fwd.IAT.Min)
	v[BwdIATTotal], v[BwdIATMean], v[BwdIATStd] = a.Bwd.IAT.Sum(), a.Bwd.IAT.Mean, a.Bwd.IAT.Std()
	v[BwdIATMax], v[BwdIATMin] = float64(a.Bwd.IAT.Max), float64(a.Bwd.IAT.Min)
	v[FwdPSHFlags], v[BwdPSHFlags] = float64(a.Fwd.PSH), float64(a.Bwd.PSH)
	v[FwdURGFlags], v[BwdURGFlags] = float64(a.Fwd.URG), float64(a.Bwd.URG)
	v[FwdHeaderLen], v[BwdHeaderLen] = float64(a.Fwd.Hdr), float64(a.Bwd.Hdr)
	v[PktLenMin], v[PktLenMax] = float64(all.Min), float64(all.Max)
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
	v[FwdSegSizeAvg], v[BwdSegSizeAvg] = a.Fwd.Len.Mean, a.Bwd.Len.Mean
	v[FwdInitWinBytes], v[BwdInitWinBytes] = float64(a.Fwd.Win), float64(a.Bwd.Win)
	v[FwdActDataPkts] = float64(a.Fwd.ActData)
	v[FwdSegSizeMin] = float64(a.Fwd.SegMin)
	v[ActiveMean], v[ActiveStd], v[ActiveMax], v[ActiveMin] = a.Active.Mean, a.Active.Std(), float64(a.Active.Max), float64(a.Active.Min)
	v[IdleMean], v[IdleStd], v[IdleMax], v[IdleMin] = a.Idle.Mean, a.Idle.Std(), float64(a.Idle.Max), float64(a.Idle.Min)
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
