package features

import "math"

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
	Wire    int    // frame length on the wire, link header included (summed per direction)
}

// Acc accumulates, packet by packet, everything needed to compute the flow features of
// one bidirectional flow. It is a plain value (no pointers): flow records embed it and
// the flow table reuses them without allocating. Values reads it without changing it,
// so a flow can be snapshotted at any packet and later again at its end.
//
// Layout: the flow table keeps a million of these, so a packet's cost is the cache
// lines it touches. Acc is laid out for a 64-byte aligned record that puts 48 bytes
// (the flow key) in front of it: First and Last end the key's line, the next line
// holds the flow IAT series and the small per-side counters, then one line per side
// holds that side's length and IAT series. A packet touches those three lines only;
// what changes rarely (active/idle periods, rare TCP flags, carries) comes last.
// The two sides are the endpoints in the order the caller numbers them (the flow
// table uses the key's low endpoint as side 0), so which line a packet needs is known
// before the record is read; the forward side is the side of the first packet.
// Lengths and IATs use the same float64 Welford updates as Stat, so the features are
// the same as those of one Stat per series.
type Acc struct {
	First, Last int64 // first and last packet time, unix ns

	// Second line: flow IAT series and per-side counters.
	iat   welford       // gaps between consecutive packets, µs (count: packets - 1)
	side  [2]sideCounts // per-side counters
	sideN [2]uint32     // per side: packets (their sum is the flow's packets)

	// One line per side.
	dir [2]dirStats

	// Cold: touched only on gaps longer than ActivityTimeout, rare flags and carries.
	startActive  int64 // start of the current active period (it ends at Last)
	active, idle welford
	nActive      uint32    // completed active periods (µs each)
	nIdle        uint32    // idle gaps (µs each)
	rare         [5]uint32 // packets with FIN, SYN, RST, ECE, CWR set
	urg          [2]uint32 // per side: packets with URG set
	wireHi       [2]uint32 // per side: carries of side.wireLo
	DstPort      uint16    // forward destination port
	Proto        uint8     // IP protocol number
	fwd          uint8     // side of the forward direction (the first packet's)
	_            [2]uint32 // keeps 48 + Acc + 16 bytes a whole number of lines
}

// welford is a Stat without its count (kept once for several series): mean and sum of
// squared deviations updated as Stat.Add does, minimum and maximum. Its values are
// never negative (gaps and periods), so the extremes are kept as the bits of their
// float32, which order as the values do: integer min/max need no branch, and neither
// does the first value (an empty series, emptyWelford, has mean and M2 0 and minimum
// all ones, so the general update gives mean x, M2 +0 and extremes x, as Stat.Add's
// first value). Branches on a flow's first packets would be mispredicted on short
// flows, and resolved only when the record arrives from memory.
type welford struct {
	mean, m2 float64
	min, max uint32 // math.Float32bits of the extremes; min is ^0 while empty
}

// emptyWelford is an empty series.
var emptyWelford = welford{min: ^uint32(0)}

// add includes x ≥ 0, the n-th value of the series, exactly as Stat.Add.
func (w *welford) add(x float64, n uint32) {
	d := x - w.mean
	w.mean += d / float64(n)
	w.m2 += d * (x - w.mean)
	b := math.Float32bits(float32(x))
	w.min, w.max = min(w.min, b), max(w.max, b)
}

// addOrKeep is add(x, n) when none is 0. When none is all ones it leaves w as it
// is, provided w is empty and x is 0 and n is 1: the mean and M2 steps then give 0
// again, and none keeps the extremes. It lets a side's first packet (no gap yet) take
// the same path as the others, without a branch (see welford).
func (w *welford) addOrKeep(x float64, n, none uint32) {
	d := x - w.mean
	w.mean += d / float64(n)
	w.m2 += d * (x - w.mean)
	b := math.Float32bits(float32(x))
	w.min, w.max = min(w.min, b|none), max(w.max, b&^none)
}

// stat returns the series as a Stat of n values.
func (w *welford) stat(n uint32) Stat {
	if n == 0 {
		return Stat{}
	}
	return Stat{Mean: w.mean, M2: w.m2, Min: math.Float32frombits(w.min), Max: math.Float32frombits(w.max), N: n}
}

// sideCounts are the per-side counters every packet updates; both sides share a line.
type sideCounts struct {
	wireLo  uint32 // low 32 bits of the sum of wire lengths
	psh     uint32 // packets with PSH set
	ack     uint32 // packets with ACK set
	actData uint32 // packets with payload ≥ 1 byte (forward: not counting the flow's first packet)
}

// dirStats are one side's series, one cache line: payload lengths (bytes) and gaps
// between the side's consecutive packets (µs, count: the side's packets - 1), and
// what the side's first packet sets (kept here so that packet needs no other line).
type dirStats struct {
	lenMean, lenM2 float64
	iat            welford
	last           int64  // time of the side's last packet
	hdr            uint64 // sum of transport header lengths, bytes
	lenMin, lenMax uint16 // payload lengths are 16-bit (IP length fields); min 0xffff while empty
	segMin         uint16 // smallest transport header length; 0xffff before the first packet
	win            uint16 // TCP window of the side's first packet
}

// Rare TCP flags (all but PSH and ACK) are counted in the cold part of Acc.
const rareMask = 0xff &^ (1<<3 | 1<<4)

// Start resets the accumulator for a new flow whose first (forward) packet is p; the
// forward direction is side 0.
func (a *Acc) Start(p *Packet, dstPort uint16, proto uint8) { a.StartSide(p, dstPort, proto, 0) }

// StartSide is Start for a flow whose first packet comes from side s (0 or 1).
func (a *Acc) StartSide(p *Packet, dstPort uint16, proto uint8, s int) {
	s &= 1
	*a = Acc{
		First: p.Time, Last: p.Time,
		iat:         emptyWelford,
		dir:         [2]dirStats{{iat: emptyWelford, lenMin: 0xffff, segMin: 0xffff}, {iat: emptyWelford, lenMin: 0xffff, segMin: 0xffff}},
		startActive: p.Time,
		active:      emptyWelford,
		idle:        emptyWelford,
		DstPort:     dstPort,
		Proto:       proto,
		fwd:         uint8(s),
	}
	a.sideN[s] = 1
	d := &a.dir[s]
	d.last, d.hdr, d.segMin = p.Time, uint64(p.Header), uint16(p.Header)
	if p.TCP {
		d.win = p.Window
	}
	d.addLen(p.Payload, 1)
	a.count(p, s)
}

// Add includes packet p of the flow; fwd tells its direction. Times that go backwards
// (out-of-order captures) are clamped to the last packet time.
func (a *Acc) Add(p *Packet, fwd bool) {
	s := int(a.fwd)
	if !fwd {
		s ^= 1
	}
	a.AddSide(p, s)
}

// AddSide is Add for a packet sent by side s (0 or 1; forward is the first packet's side).
func (a *Acc) AddSide(p *Packet, s int) {
	s &= 1
	t := max(p.Time, a.Last)
	// Active/idle periods, as CICFlowMeter's updateActiveIdleTime (the current active
	// period always ends at Last).
	if t-a.Last > ActivityTimeout {
		a.idleGap(t)
	}
	a.iat.add(float64(t-a.Last)/1e3, a.sideN[0]+a.sideN[1])
	a.Last = t
	d, n := &a.dir[s], a.sideN[s]
	// The side's first packet (n == 0) has no gap and sets the initial window: no
	// branch, it would be mispredicted on short flows (see welford).
	gap, none, win := t-d.last, uint32(0), d.win
	first := win
	if p.TCP { // the packet's flag, not the record's: no wait for memory
		first = p.Window
	}
	if n == 0 { // conditional moves
		gap, none, win = 0, ^uint32(0), first
	}
	d.iat.addOrKeep(float64(gap)/1e3, max(n, 1), none)
	d.win = win
	n++
	a.sideN[s] = n
	d.last = t
	d.addLen(p.Payload, n)
	d.hdr += uint64(p.Header)
	if p.Payload >= 1 {
		a.side[s].actData++
	}
	d.segMin = min(d.segMin, uint16(p.Header))
	a.count(p, s)
}

// idleGap closes the active period at Last and records the idle gap up to t.
func (a *Acc) idleGap(t int64) {
	if a.Last > a.startActive {
		a.nActive++
		a.active.add(float64(a.Last-a.startActive)/1e3, a.nActive)
	}
	a.nIdle++
	a.idle.add(float64(t-a.Last)/1e3, a.nIdle)
	a.startActive = t
}

// addLen counts a packet with the given payload length, the side's n-th, exactly as
// Stat.Add. Lengths above 65535 (impossible from IP length fields) count as 65535 in
// the minimum and maximum.
func (d *dirStats) addLen(payload int, n uint32) {
	x := float64(payload)
	l := uint16(min(max(payload, 0), 0xffff))
	// No branch for the first length (mean and M2 are 0, lenMin 0xffff: see welford).
	e := x - d.lenMean
	d.lenMean += e / float64(n)
	d.lenM2 += e * (x - d.lenMean)
	d.lenMin, d.lenMax = min(d.lenMin, l), max(d.lenMax, l)
}

// count adds p's wire length and TCP flags to side s.
func (a *Acc) count(p *Packet, s int) {
	c := &a.side[s]
	w := uint64(c.wireLo) + uint64(p.Wire)
	c.wireLo = uint32(w)
	if w>>32 != 0 {
		a.wireHi[s] += uint32(w >> 32)
	}
	f := p.Flags
	if f == 0 {
		return
	}
	c.psh += uint32(f>>3) & 1
	c.ack += uint32(f>>4) & 1
	if f&rareMask != 0 {
		a.countRare(f, s)
	}
}

func (a *Acc) countRare(f uint8, s int) {
	a.rare[0] += uint32(f) & 1
	a.rare[1] += uint32(f>>1) & 1
	a.rare[2] += uint32(f>>2) & 1
	a.rare[3] += uint32(f>>6) & 1
	a.rare[4] += uint32(f>>7) & 1
	a.urg[s] += uint32(f>>5) & 1
}

// Packets returns the number of packets accumulated.
func (a *Acc) Packets() uint64 { return uint64(a.sideN[0]) + uint64(a.sideN[1]) }

// FwdPackets returns the number of forward packets.
func (a *Acc) FwdPackets() uint64 { return uint64(a.sideN[a.fwd]) }

// BwdPackets returns the number of backward packets.
func (a *Acc) BwdPackets() uint64 { return uint64(a.sideN[a.fwd^1]) }

// WireBytes returns the sums of Packet.Wire of the forward and backward packets.
func (a *Acc) WireBytes() (fwd, bwd uint64) {
	s := a.fwd
	return a.wire(s), a.wire(s ^ 1)
}

func (a *Acc) wire(s uint8) uint64 {
	return uint64(a.wireHi[s])<<32 | uint64(a.side[s].wireLo)
}

// Touch reads one word of each cache line a packet from side s updates and returns
// their sum; with all, one word of every line of Acc (for a packet that starts a
// flow, may end it or carries a rare TCP flag). The flow table calls it for a batch
// of packets before updating them, so their cache misses overlap; the sum only keeps
// the compiler from dropping the loads.
func (a *Acc) Touch(s int, all bool) uint64 {
	v := uint64(a.sideN[s&1]) + uint64(a.dir[s&1].last)
	if all {
		v += uint64(a.dir[s&1^1].last) + uint64(a.startActive) + uint64(a.rare[0])
	}
	return v
}

// RareFlags reports whether TCP flags f include one counted apart from the per-packet
// lines (all but PSH and ACK): a packet with one touches one more line of Acc.
func RareFlags(f uint8) bool { return f&rareMask != 0 }

// FlowIAT returns the series of gaps between consecutive packets, µs.
func (a *Acc) FlowIAT() Stat { return a.iat.stat(max(a.sideN[0]+a.sideN[1], 1) - 1) }

// Active returns the series of completed active periods, µs.
func (a *Acc) Active() Stat { return a.active.stat(a.nActive) }

// Idle returns the series of idle gaps, µs.
func (a *Acc) Idle() Stat { return a.idle.stat(a.nIdle) }

// Len returns the series of payload lengths (bytes) of the forward (fwd) or backward packets.
func (a *Acc) Len(fwd bool) Stat {
	s := a.side1(fwd)
	d, n := &a.dir[s], a.sideN[s]
	if n == 0 {
		return Stat{}
	}
	return Stat{Mean: d.lenMean, M2: d.lenM2, Min: float32(d.lenMin), Max: float32(d.lenMax), N: n}
}

// IAT returns the series of gaps (µs) between consecutive forward (fwd) or backward packets.
func (a *Acc) IAT(fwd bool) Stat {
	s := a.side1(fwd)
	return a.dir[s].iat.stat(max(a.sideN[s], 1) - 1)
}

// Flags returns the number of packets with each TCP flag set, bit order FIN..CWR.
func (a *Acc) Flags() [8]uint32 {
	c0, c1 := &a.side[0], &a.side[1]
	return [8]uint32{a.rare[0], a.rare[1], a.rare[2], c0.psh + c1.psh, c0.ack + c1.ack,
		a.urg[0] + a.urg[1], a.rare[3], a.rare[4]}
}

func (a *Acc) side1(fwd bool) uint8 {
	if fwd {
		return a.fwd
	}
	return a.fwd ^ 1
}

// Values computes every feature of the schema, in schema order, into dst.
// See Definitions for what each value means.
func (a *Acc) Values(dst *[NumFeatures]float32) {
	var v [NumFeatures]float64
	fl, bl := a.Len(true), a.Len(false)
	fi, bi := a.IAT(true), a.IAT(false)
	iat, flags := a.FlowIAT(), a.Flags()
	fc, bc := &a.side[a.fwd], &a.side[a.fwd^1]
	fwdN, bwdN := float64(fl.N), float64(bl.N)
	fwdBytes, bwdBytes := fl.Sum(), bl.Sum()
	durUS := float64(a.Last-a.First) / 1e3
	all := Merge(fl, bl)

	v[DstPort] = float64(a.DstPort)
	v[Protocol] = float64(a.Proto)
	v[FlowDuration] = durUS
	v[TotalFwdPackets] = fwdN
	v[TotalBwdPackets] = bwdN
	v[TotalLenFwdPackets] = fwdBytes
	v[TotalLenBwdPackets] = bwdBytes
	v[FwdPktLenMax], v[FwdPktLenMin] = float64(fl.Max), float64(fl.Min)
	v[FwdPktLenMean], v[FwdPktLenStd] = fl.Mean, fl.Std()
	v[BwdPktLenMax], v[BwdPktLenMin] = float64(bl.Max), float64(bl.Min)
	v[BwdPktLenMean], v[BwdPktLenStd] = bl.Mean, bl.Std()
	if durUS > 0 {
		sec := durUS / 1e6
		v[FlowBytesPerSec] = (fwdBytes + bwdBytes) / sec
		v[FlowPacketsPerSec] = (fwdN + bwdN) / sec
		v[FwdPacketsPerSec] = fwdN / sec
		v[BwdPacketsPerSec] = bwdN / sec
	}
	v[FlowIATMean], v[FlowIATStd] = iat.Mean, iat.Std()
	v[FlowIATMax], v[FlowIATMin] = float64(iat.Max), float64(iat.Min)
	v[FwdIATTotal], v[FwdIATMean], v[FwdIATStd] = fi.Sum(), fi.Mean, fi.Std()
	v[FwdIATMax], v[FwdIATMin] = float64(fi.Max), float64(fi.Min)
	v[BwdIATTotal], v[BwdIATMean], v[BwdIATStd] = bi.Sum(), bi.Mean, bi.Std()
	v[BwdIATMax], v[BwdIATMin] = float64(bi.Max), float64(bi.Min)
	v[FwdPSHFlags], v[BwdPSHFlags] = float64(fc.psh), float64(bc.psh)
	v[FwdURGFlags], v[BwdURGFlags] = float64(a.urg[a.fwd]), float64(a.urg[a.fwd^1])
	v[FwdHeaderLen], v[BwdHeaderLen] = float64(a.dir[a.fwd].hdr), float64(a.dir[a.fwd^1].hdr)
	v[PktLenMin], v[PktLenMax] = float64(all.Min), float64(all.Max)
	v[PktLenMean], v[PktLenStd], v[PktLenVariance] = all.Mean, all.Std(), all.Var()
	for i, flag := range [8]int{FINFlagCount, SYNFlagCount, RSTFlagCount, PSHFlagCount,
		ACKFlagCount, URGFlagCount, ECEFlagCount, CWRFlagCount} {
		v[flag] = float64(flags[i])
	}
	if fwdN > 0 {
		v[DownUpRatio] = bwdN / fwdN
	}
	if n := fwdN + bwdN; n > 0 {
		v[AvgPacketSize] = (fwdBytes + bwdBytes) / n
	}
	v[FwdSegSizeAvg], v[BwdSegSizeAvg] = fl.Mean, bl.Mean
	v[FwdInitWinBytes], v[BwdInitWinBytes] = float64(a.dir[a.fwd].win), float64(a.dir[a.fwd^1].win)
	v[FwdActDataPkts] = float64(fc.actData)
	v[FwdSegSizeMin] = float64(a.dir[a.fwd].segMin)
	act, idle := a.Active(), a.Idle()
	v[ActiveMean], v[ActiveStd], v[ActiveMax], v[ActiveMin] = act.Mean, act.Std(), float64(act.Max), float64(act.Min)
	v[IdleMean], v[IdleStd], v[IdleMax], v[IdleMin] = idle.Mean, idle.Std(), float64(idle.Max), float64(idle.Min)
	for i := range v { // by index: ranging over the array value would copy it
		dst[i] = float32(v[i])
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
