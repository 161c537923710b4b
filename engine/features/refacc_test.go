package features

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// refAcc is the accumulator as it was before the flow record was packed into hot
// cache lines (commit ac8c84a): plain per-direction Stats. The tests use it as the
// reference the packed Acc must match bit for bit.
type refDir struct {
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

// refAcc accumulates, packet by packet, everything needed to compute the flow features of
// one bidirectional flow. It is a plain value (no pointers): flow records embed it and
// the flow table reuses them without allocating. Values reads it without changing it,
// so a flow can be snapshotted at any packet and later again at its end.
// Fields used by every packet come first; Active and Idle, rarely updated, last.
type refAcc struct {
	First, Last int64     // first and last packet time, unix ns
	startActive int64     // start of the current active period
	endActive   int64     // last packet of the current active period
	FlowIAT     Stat      // gaps between consecutive packets, µs
	Flags       [8]uint32 // packets with each TCP flag set, bit order FIN..CWR
	Fwd, Bwd    refDir    // per-direction accumulators
	DstPort     uint16    // forward destination port
	Proto       uint8     // IP protocol number
	Active      Stat      // completed active periods, µs
	Idle        Stat      // idle gaps, µs
}

// Start resets the accumulator for a new flow whose first (forward) packet is p.
func (a *refAcc) Start(p *Packet, dstPort uint16, proto uint8) {
	*a = refAcc{
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
func (a *refAcc) Add(p *Packet, fwd bool) {
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

func (a *refAcc) flags(p *Packet, d *refDir) {
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
func (a *refAcc) Packets() uint64 { return uint64(a.Fwd.Len.N) + uint64(a.Bwd.Len.N) }

// Values computes every feature of the schema, in schema order, into dst.
// See Definitions for what each value means.
func (a *refAcc) Values(dst *[NumFeatures]float32) {
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

// TestAccMatchesReference feeds random flows to Acc and to refAcc and requires the
// same features bit for bit, with the forward direction on either side, after every
// packet: both directions, backward time steps, idle gaps, all flag combinations,
// empty and maximal payloads.
func TestAccMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for flow := range 3000 {
		fwdSide := flow & 1
		var a Acc
		var ref refAcc
		var wire [2]uint64
		n := 1 + r.IntN(60)
		ts := int64(1_500_000_000_000_000_000)
		for i := range n {
			p := Packet{Time: ts, Payload: r.IntN(1500), Header: 20 + 4*r.IntN(11), TCP: flow%3 != 0, Wire: 60 + r.IntN(1500)}
			switch r.IntN(8) {
			case 0:
				p.Payload = 0
			case 1:
				p.Payload = 0xffff
			}
			if p.TCP {
				p.Flags, p.Window = uint8(r.Uint32()), uint16(r.Uint32())
				if r.IntN(2) == 0 {
					p.Flags = 0x10 | uint8(r.IntN(2))<<3 // plain ACK or PSH/ACK
				}
			} else {
				p.Header = 8
			}
			fwd := i == 0 || r.IntN(3) != 0
			if i == 0 {
				a.StartSide(&p, 80, 6, fwdSide)
				ref.Start(&p, 80, 6)
			} else {
				s := fwdSide
				if !fwd {
					s ^= 1
				}
				a.AddSide(&p, s)
				ref.Add(&p, fwd)
			}
			if fwd {
				wire[0] += uint64(p.Wire)
			} else {
				wire[1] += uint64(p.Wire)
			}
			var got, want [NumFeatures]float32
			a.Values(&got)
			ref.Values(&want)
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("flow %d packet %d: %s = %v, reference %v", flow, i, Names[j], got[j], want[j])
				}
			}
			if f, b := a.WireBytes(); f != wire[0] || b != wire[1] || a.Packets() != ref.Packets() ||
				a.FwdPackets() != uint64(ref.Fwd.Len.N) || a.BwdPackets() != uint64(ref.Bwd.Len.N) {
				t.Fatalf("flow %d packet %d: wire %d/%d packets %d/%d/%d, want %d/%d %d/%d/%d", flow, i, f, b,
					a.Packets(), a.FwdPackets(), a.BwdPackets(), wire[0], wire[1], ref.Packets(), ref.Fwd.Len.N, ref.Bwd.Len.N)
			}
			switch r.IntN(10) {
			case 0:
				ts += ActivityTimeout + int64(r.IntN(3e9)) // idle gap
			case 1:
				ts -= int64(r.IntN(1e6)) // out of order
			default:
				ts += int64(r.IntN(2e8))
			}
		}
	}
}

// TestAccWireCarry checks the per-direction wire byte sums past 2^32.
func TestAccWireCarry(t *testing.T) {
	var a Acc
	a.StartSide(&Packet{Time: 1, Wire: 1 << 20}, 80, 17, 1)
	for i := range 5000 {
		a.Add(&Packet{Time: int64(2 + i), Wire: 1 << 20}, true)
		a.Add(&Packet{Time: int64(2 + i), Wire: 3}, false)
	}
	if f, b := a.WireBytes(); f != 5001<<20 || b != 15000 {
		t.Fatalf("wire bytes %d/%d, want %d/%d", f, b, 5001<<20, 15000)
	}
}

// TestAccLayout pins the cache-line layout the flow table relies on: First/Last in
// the 16 bytes before the second line, the flow IAT and per-side counters in one
// line, one line per side.
func TestAccLayout(t *testing.T) {
	var a Acc
	cases := []struct {
		name      string
		off, size uintptr
		want      uintptr // offset of the 64-byte line, counting Acc from byte 48 of a record
	}{
		{"First/Last", unsafe.Offsetof(a.First), 16, 0},
		{"flow IAT, count and side counters", unsafe.Offsetof(a.iat), unsafe.Offsetof(a.dir) - unsafe.Offsetof(a.iat), 64},
		{"side 0", unsafe.Offsetof(a.dir), unsafe.Sizeof(a.dir[0]), 128},
		{"side 1", unsafe.Offsetof(a.dir) + unsafe.Sizeof(a.dir[0]), unsafe.Sizeof(a.dir[0]), 192},
	}
	for _, c := range cases {
		start, end := 48+c.off, 48+c.off+c.size-1
		if start/64*64 != c.want || end/64*64 != c.want {
			t.Errorf("%s: bytes %d..%d of the record, want all in the line at %d", c.name, start, end, c.want)
		}
	}
	if s := unsafe.Sizeof(a); (48+s+16)%64 != 0 {
		t.Errorf("Acc is %d bytes: a record of 48 + Acc + 16 bytes is not a whole number of lines", s)
	}
}
