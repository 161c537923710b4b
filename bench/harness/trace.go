package harness

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/engine/labels"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
	"github.com/flowsieve/flowsieve/xdp"
)

// Labels used when a frame's flow has no ground truth.
const (
	Benign     = "BENIGN"
	Unlabelled = "unlabelled"
	NonIP      = "non-ip"
)

// MaxFrame is the largest frame the wire carries (a 1500-byte MTU plus Ethernet).
const MaxFrame = 1514

// ErrTrace reports a capture the harness cannot replay.
var ErrTrace = errors.New("harness: cannot replay capture")

// Flow is one flow of a trace, keyed as the XDP program keys it.
type Flow struct {
	Key      xdp.Key
	Src, Dst netip.AddrPort // endpoints as the flow's first frame has them
	Label    int            // index into Trace.Labels
	Packets  int            // frames of the flow in the trace
}

// Trace is traffic held in memory, ready to send: Ethernet frames in time order,
// each with its flow and the flow's ground-truth label.
type Trace struct {
	Name   string
	Frames [][]byte
	TS     []int64 // capture timestamps, Unix ns
	Flow   []int32 // index into Flows per frame; -1 for non-IP frames
	Rev    []bool  // the frame goes from the flow's Dst to its Src (a reply)
	Flows  []Flow
	Labels []string // label names; Labels[Flows[f].Label]
	// Skipped counts frames of the source left out: not IP or cut short, or larger
	// than MaxFrame.
	Skipped int
}

// Len is the number of frames.
func (t *Trace) Len() int { return len(t.Frames) }

// LabelOf returns the label name of frame i.
func (t *Trace) LabelOf(i int) string {
	if t.Flow[i] < 0 {
		return NonIP
	}
	return t.Labels[t.Flows[t.Flow[i]].Label]
}

// builder accumulates a trace, keying flows as the XDP program does.
type builder struct {
	t      *Trace
	flows  map[xdp.Key]int32
	labels map[string]int
	first  []int64
	last   []int64
	pkt    packet.Packet
}

func newBuilder(name string) *builder {
	return &builder{t: &Trace{Name: name}, flows: map[xdp.Key]int32{}, labels: map[string]int{}}
}

func (b *builder) label(name string) int {
	if i, ok := b.labels[name]; ok {
		return i
	}
	b.labels[name] = len(b.t.Labels)
	b.t.Labels = append(b.t.Labels, name)
	return len(b.t.Labels) - 1
}

// add appends an Ethernet frame (copied) and returns its flow (-1: non-IP).
func (b *builder) add(frame []byte, ts int64, label string) int32 {
	f := int32(-1)
	rev := false
	if err := packet.Decode(packet.LinkEthernet, frame, &b.pkt); err == nil && b.pkt.IPVersion != 0 {
		k := keyOf(&b.pkt)
		var ok bool
		if f, ok = b.flows[k]; !ok {
			f = int32(len(b.t.Flows))
			b.flows[k] = f
			src, dst := endpoints(&b.pkt)
			b.t.Flows = append(b.t.Flows, Flow{Key: k, Src: src, Dst: dst, Label: -1})
			b.first = append(b.first, ts)
			b.last = append(b.last, ts)
		}
		b.t.Flows[f].Packets++
		src, _ := endpoints(&b.pkt)
		rev = src != b.t.Flows[f].Src
		b.last[f] = ts
		if label != "" && b.t.Flows[f].Label < 0 {
			b.t.Flows[f].Label = b.label(label)
		}
	}
	b.t.Frames = append(b.t.Frames, append([]byte(nil), frame...))
	b.t.TS = append(b.t.TS, ts)
	b.t.Flow = append(b.t.Flow, f)
	b.t.Rev = append(b.t.Rev, rev)
	return f
}

// endpoints returns the packet's source and destination (ports 0 without L4).
func endpoints(p *packet.Packet) (src, dst netip.AddrPort) {
	var sa, da netip.Addr
	if p.IPVersion == 4 {
		sa, da = netip.AddrFrom4([4]byte(p.SrcIP[:4])), netip.AddrFrom4([4]byte(p.DstIP[:4]))
	} else {
		sa, da = netip.AddrFrom16(p.SrcIP), netip.AddrFrom16(p.DstIP)
	}
	var sp, dp uint16
	if p.HasL4 {
		sp, dp = p.SrcPort, p.DstPort
	}
	return netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp)
}

// keyOf returns the flow key the XDP program looks the packet up with: ports only
// when the transport header was decoded.
func keyOf(p *packet.Packet) xdp.Key {
	src, dst := endpoints(p)
	return xdp.FlowKey(src.Addr(), dst.Addr(), src.Port(), dst.Port(), p.Proto)
}

// FromCapture turns a generated capture into a trace with its ground truth.
func FromCapture(name string, c *benchengine.Capture) (*Trace, error) {
	b := newBuilder(name)
	for i, f := range c.Frames {
		if len(f.Data) > MaxFrame {
			b.t.Skipped++
			continue
		}
		b.add(f.Data, f.Timestamp, c.Truth[i].String())
	}
	return b.finish(nil, "")
}

// PcapOptions says how a capture file is labelled and bounded.
type PcapOptions struct {
	Labels    string // engine/labels file with the capture's ground truth ("" for none)
	Label     string // label of every flow no labels rule names ("" for none: "unlabelled")
	MaxFrames int    // 0: all
}

// LoadPcap reads a pcap or pcapng capture of any link type the engine decodes into
// a trace of Ethernet frames (other link layers are replaced by an Ethernet header;
// frames larger than MaxFrame and frames that are not IP are skipped).
func LoadPcap(path string, o PcapOptions) (*Trace, error) {
	var set *labels.Set
	if o.Labels != "" {
		var err error
		if set, err = labels.Load(o.Labels); err != nil {
			return nil, err
		}
	}
	r, err := source.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := newBuilder(path)
	buf := make([]byte, 0, MaxFrame)
	var f source.Frame
	var p packet.Packet
	for o.MaxFrames <= 0 || b.t.Len() < o.MaxFrames {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTrace, err)
		}
		if err := packet.Decode(f.Link, f.Data, &p); err != nil || p.IPVersion == 0 {
			b.t.Skipped++
			continue
		}
		l3 := f.Data[p.L3Off:]
		if 14+len(l3) > MaxFrame || f.WireLen > len(f.Data) {
			b.t.Skipped++ // too big for the wire, or cut short by the capture
			continue
		}
		// Locally administered MACs: the wire forwards by XDP, not by address.
		buf = append(buf[:0], 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0, 0)
		if p.IPVersion == 6 {
			buf[12], buf[13] = 0x86, 0xdd
		} else {
			buf[12], buf[13] = 0x08, 0x00
		}
		buf = append(buf, l3...)
		if len(buf) < 60 {
			buf = append(buf, make([]byte, 60-len(buf))...)
		}
		b.add(buf, f.Timestamp, "")
	}
	if b.t.Len() == 0 {
		return nil, fmt.Errorf("%w: %s: no IP frames (%d skipped)", ErrTrace, path, b.t.Skipped)
	}
	return b.finish(set, o.Label)
}

// finish labels the flows without a label from set (by 5-tuple and time span) or
// fallback.
func (b *builder) finish(set *labels.Set, fallback string) (*Trace, error) {
	if fallback == "" {
		fallback = Unlabelled
	}
	for i := range b.t.Flows {
		fl := &b.t.Flows[i]
		if fl.Label >= 0 {
			continue
		}
		name := ""
		if set != nil {
			name = set.Label(fl.Src.Addr(), fl.Dst.Addr(), fl.Src.Port(), fl.Dst.Port(), fl.Key.Proto, b.first[i], b.last[i])
		}
		if name == "" {
			name = fallback
		}
		fl.Label = b.label(name)
	}
	return b.t, nil
}

func captureInfo(ts int64, n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: n, Length: n}
}

// WritePcap writes the trace as an Ethernet pcap with its original timestamps (for
// tcpreplay).
func (t *Trace) WritePcap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return err
	}
	for i, fr := range t.Frames {
		ci := captureInfo(t.TS[i], len(fr))
		if err := w.WritePacket(ci, fr); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return f.Close()
}

// Halves splits t in time order at its middle frame: the first half (frames
// [0, Len/2)) and the second (the rest), each sharing t's flows and labels. A flow
// with frames on both sides appears in both; none of its frames does.
func (t *Trace) Halves() (first, second *Trace) {
	mid := t.Len() / 2
	part := func(from, to int, which string) *Trace {
		return &Trace{Name: t.Name + " (" + which + " half)", Frames: t.Frames[from:to], TS: t.TS[from:to],
			Flow: t.Flow[from:to], Rev: t.Rev[from:to], Flows: t.Flows, Labels: t.Labels}
	}
	return part(0, mid, "first"), part(mid, t.Len(), "second")
}

// Rows returns the feature rows of t's flows at decision point decision (as the
// engine computes them from the frames and their capture timestamps), labelled
// with t's ground truth ("" for unlabelled flows): training rows of a capture.
func (t *Trace) Rows(decision int) (*benchengine.Flows, error) {
	frames := make([]source.Frame, t.Len())
	for i, f := range t.Frames {
		frames[i] = source.Frame{Data: f, Timestamp: t.TS[i], WireLen: len(f), Link: packet.LinkEthernet}
	}
	index := make(map[xdp.Key]int32, len(t.Flows))
	for i, f := range t.Flows {
		index[f.Key] = int32(i)
	}
	return benchengine.FrameRows(frames, decision, func(src, dst netip.Addr, sp, dp uint16, proto uint8, _, _ int64) string {
		f, ok := index[xdp.FlowKey(src, dst, sp, dp, proto)]
		if !ok {
			return ""
		}
		if l := t.Labels[t.Flows[f].Label]; l != Unlabelled {
			return l
		}
		return ""
	})
}
