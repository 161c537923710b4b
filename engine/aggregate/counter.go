package aggregate

import "github.com/flowsieve/flowsieve/engine/packet"

// Counter names one statistic kept per table entry.
type Counter uint8

// The counters, in the order they are stored.
const (
	Packets        Counter = iota // packets
	Bytes                         // bytes on the wire
	NewFlows                      // packets that started a flow (as the caller's flow table says)
	OnePacketFlows                // flows that ended after a single packet (FlowEnd)
	SYN                           // TCP SYN without ACK
	SYNACK                        // TCP SYN+ACK
	RST                           // TCP RST
	ACK                           // TCP ACK without SYN, FIN or RST and without payload
	FIN                           // TCP FIN
	UDP                           // UDP packets
	ICMP                          // ICMP and ICMPv6 packets
	ICMPErrors                    // ICMP destination unreachable, time exceeded, parameter problem (v4 and v6)
	Fragments                     // IP fragments
	LowSrcPort                    // UDP or TCP from a source port below 1024 (reflection, amplification)
	NumCounters
)

var counterNames = [NumCounters]string{
	"packets", "bytes", "new_flows", "one_packet_flows", "syn", "synack", "rst", "ack",
	"fin", "udp", "icmp", "icmp_errors", "fragments", "low_src_port",
}

// String returns the counter's name as used in metrics and reports.
func (c Counter) String() string {
	if c >= NumCounters {
		return "unknown"
	}
	return counterNames[c]
}

// Counts holds one value per counter.
type Counts [NumCounters]float64

// deltas fills d with what packet p adds to each counter (Packets and Bytes included).
func deltas(p *packet.Packet, wireLen int, newFlow bool, d *[NumCounters]uint32) {
	*d = [NumCounters]uint32{}
	d[Packets] = 1
	d[Bytes] = uint32(wireLen)
	if newFlow {
		d[NewFlows] = 1
	}
	if p.Fragment {
		d[Fragments] = 1
	}
	switch p.Proto {
	case packet.ProtoTCP:
		if !p.HasL4 {
			break
		}
		f := p.TCPFlags
		syn, ack := f&packet.TCPSyn != 0, f&packet.TCPAck != 0
		switch {
		case syn && ack:
			d[SYNACK] = 1
		case syn:
			d[SYN] = 1
		case ack && f&(packet.TCPFin|packet.TCPRst) == 0 && p.PayloadLen == 0:
			d[ACK] = 1
		}
		if f&packet.TCPRst != 0 {
			d[RST] = 1
		}
		if f&packet.TCPFin != 0 {
			d[FIN] = 1
		}
		if p.SrcPort < 1024 {
			d[LowSrcPort] = 1
		}
	case packet.ProtoUDP:
		d[UDP] = 1
		if p.HasL4 && p.SrcPort < 1024 {
			d[LowSrcPort] = 1
		}
	case packet.ProtoICMP:
		d[ICMP] = 1
		if t := p.ICMPType; t == 3 || t == 11 || t == 12 {
			d[ICMPErrors] = 1
		}
	case packet.ProtoICMPv6:
		d[ICMP] = 1
		if t := p.ICMPType; t >= 1 && t <= 4 {
			d[ICMPErrors] = 1
		}
	}
}
