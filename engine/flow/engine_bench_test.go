package flow

import (
	"encoding/binary"
	"errors"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// memCapture is a capture held in memory: frames with times and wire lengths.
// Frames sit back to back in one buffer (no per-frame pointers for the GC to scan).
type memCapture struct {
	link  packet.LinkType
	data  []byte
	off   []int // frame i is data[off[i]:off[i+1]]
	times []int64
	wire  []int
}

func (m *memCapture) add(frame []byte, ts int64, wire int) {
	if len(m.off) == 0 {
		m.off = append(m.off, 0)
	}
	m.data = append(m.data, frame...)
	m.off = append(m.off, len(m.data))
	m.times = append(m.times, ts)
	m.wire = append(m.wire, wire)
}

func (m *memCapture) len() int { return len(m.times) }

func (m *memCapture) frame(i int) []byte { return m.data[m.off[i]:m.off[i+1]] }

// tcpFrame builds an Ethernet/IPv4/TCP frame.
func tcpFrame(src, dst [4]byte, sport, dport uint16, flags uint8, payload int) []byte {
	b := make([]byte, 14+20+20+payload)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, packet.ProtoTCP
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	t := ip[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	t[12], t[13] = 5<<4, flags
	binary.BigEndian.PutUint16(t[14:], 64240)
	return b
}

// syntheticCapture makes a capture of TCP connections (handshake, request,
// response segments, FIN both ways, final ACK), `live` of them open at any time,
// interleaved at random (fixed seed), one packet per microsecond.
func syntheticCapture(packets, live int) *memCapture {
	r := rand.New(rand.NewPCG(7, 8))
	type conn struct {
		cl, sv       [4]byte
		sport, dport uint16
		step, data   int
	}
	next := 0
	newConn := func() conn {
		next++
		return conn{
			cl: [4]byte{10, byte(next >> 16), byte(next >> 8), byte(next)}, sv: [4]byte{192, 168, byte(next % 7), 80},
			sport: uint16(1024 + next%60000), dport: []uint16{80, 443, 53, 22}[next%4], data: 2 + r.IntN(30),
		}
	}
	conns := make([]conn, live)
	for i := range conns {
		conns[i] = newConn()
	}
	m := &memCapture{link: packet.LinkEthernet, data: make([]byte, 0, packets*600)}
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for m.len() < packets {
		c := &conns[r.IntN(live)]
		var f []byte
		switch s := c.step; {
		case s == 0:
			f = tcpFrame(c.cl, c.sv, c.sport, c.dport, packet.TCPSyn, 0)
		case s == 1:
			f = tcpFrame(c.sv, c.cl, c.dport, c.sport, packet.TCPSyn|packet.TCPAck, 0)
		case s == 2:
			f = tcpFrame(c.cl, c.sv, c.sport, c.dport, packet.TCPAck, 0)
		case s < 3+c.data:
			if s%3 == 0 {
				f = tcpFrame(c.cl, c.sv, c.sport, c.dport, packet.TCPAck|packet.TCPPsh, r.IntN(600))
			} else {
				f = tcpFrame(c.sv, c.cl, c.dport, c.sport, packet.TCPAck, 200+r.IntN(1260))
			}
		case s == 3+c.data:
			f = tcpFrame(c.cl, c.sv, c.sport, c.dport, packet.TCPFin|packet.TCPAck, 0)
		case s == 4+c.data:
			f = tcpFrame(c.sv, c.cl, c.dport, c.sport, packet.TCPFin|packet.TCPAck, 0)
		default:
			f = tcpFrame(c.cl, c.sv, c.sport, c.dport, packet.TCPAck, 0)
			*c = newConn()
			c.step = -1
		}
		c.step++
		ts += 1000
		m.add(f, ts, len(f))
	}
	return m
}

// loadCapture reads a capture file into memory (frames of its first link type).
func loadCapture(b *testing.B, path string) *memCapture {
	r, err := source.Open(path)
	if err != nil {
		b.Skipf("capture %s: %v", path, err)
	}
	defer r.Close()
	m := &memCapture{}
	var f source.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if m.len() == 0 {
			m.link = f.Link
		}
		m.add(f.Data, f.Timestamp, f.WireLen)
	}
	return m
}

// runEngine decodes every frame of m and feeds it to a table whose sink writes each
// finished flow's features into a columnar batch: decode + flow + features, the
// appliance's per-packet work before the models.
func runEngine(b *testing.B, m *memCapture, live int) {
	// The appliance scores the flows that reach a decision point in small batches
	// (one receive batch worth), so the batch columns stay in the CPU caches.
	rows := features.NewFlowBatch(256)
	var sunk uint64
	tb, err := New(Config{Capacity: 2 * live, Seed: 1, EarlyPackets: 8}, func(f *Flow, why Reason) {
		if rows.Full() {
			rows.Reset()
		}
		f.WriteRow(rows)
		sunk++
	})
	if err != nil {
		b.Fatal(err)
	}
	var errs packet.Counters
	in := make([]Input, batchMax)
	n := 0
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	// The capture is replayed as often as needed, shifted in time so replays do not
	// overlap (the table sees new flows, as it would on a live link).
	var shift int64
	span := m.times[m.len()-1] - m.times[0] + int64(time.Hour)
	for i := 0; i < b.N; i++ {
		k := i % m.len()
		if k == 0 && i > 0 {
			shift += span
		}
		x := &in[n]
		err := packet.Decode(m.link, m.frame(k), &x.Packet)
		errs.Count(err)
		if err != nil {
			continue
		}
		x.Time, x.WireLen = m.times[k]+shift, m.wire[k]
		if n++; n == len(in) {
			tb.UpdateBatch(in)
			n = 0
		}
	}
	tb.UpdateBatch(in[:n])
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/pkt")
	b.StopTimer()
	tb.Flush()
	if sunk == 0 || errs[packet.ReasonNone] == 0 {
		b.Fatalf("no flows (%d) or no decoded packets (%v)", sunk, errs)
	}
}

// BenchmarkEngine measures decode + flow + features over captures held in memory:
// a synthetic one (10K concurrent TCP connections, fixed seed) and a real one.
func BenchmarkEngine(b *testing.B) {
	b.Run("capture=synthetic10K", func(b *testing.B) {
		runEngine(b, syntheticCapture(1<<20, 10_000), 10_000)
	})
	b.Run("capture=cicddos2019", func(b *testing.B) {
		files, _ := filepath.Glob(filepath.Join(shareddata.Dir(b), "cicddos2019-lucid", "*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && !st.IsDir() && filepath.Ext(f) != ".md" && filepath.Ext(f) != ".txt" {
				runEngine(b, loadCapture(b, f), 1<<16)
				return
			}
		}
		b.Skip("no CIC-DDoS2019 capture found")
	})
}
