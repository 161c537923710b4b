package ipfix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// record returns a record with every field set from rng.
func record(rng *rand.Rand, v6 bool) Record {
	var s, d [16]byte
	for i := range s {
		s[i], d[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	r := Record{
		Src: netip.AddrFrom4([4]byte(s[:4])), Dst: netip.AddrFrom4([4]byte(d[:4])),
		SrcPort: uint16(rng.Uint32()), DstPort: uint16(rng.Uint32()), Proto: 6,
		Start: 1_700_000_000_000 * 1e6, End: (1_700_000_000_000 + int64(rng.IntN(1e6))) * 1e6,
		FwdPackets: rng.Uint64N(1e6), BwdPackets: rng.Uint64N(1e6),
		FwdBytes: rng.Uint64N(1e9), BwdBytes: rng.Uint64N(1e9),
		EndReason: EndDetected, Label: "DoS Hulk", Prob: rng.Float32(), Score: rng.Float32() * 9,
		Action: policy.ActionDrop, Flags: FlagClassified | FlagEarly,
	}
	if v6 {
		r.Src, r.Dst = netip.AddrFrom16(s), netip.AddrFrom16(d)
	}
	for j := range r.Features {
		r.Features[j] = rng.Float32() * 1000
	}
	return r
}

// collect returns an encoder whose messages are copied into msgs.
func collect(t testing.TB, cfg Config, msgs *[][]byte) *Encoder {
	e, err := NewEncoder(cfg, func(m []byte) error {
		*msgs = append(*msgs, append([]byte(nil), m...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   func(i int) bool
		n    int
	}{
		{"ipv4", func(int) bool { return false }, 50},
		{"ipv6", func(int) bool { return true }, 50},
		{"mixed", func(i int) bool { return i%3 == 0 }, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var msgs [][]byte
			e := collect(t, Config{Domain: 7}, &msgs)
			var want []Record
			for i := range tc.n {
				r := record(rng, tc.v6(i))
				want = append(want, r)
				if err := e.Add(&r); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
			d := NewDecoder()
			var got []Record
			var seq uint32
			for i, m := range msgs {
				if len(m) > DefaultMaxMessage {
					t.Errorf("message %d has %d bytes, over %d", i, len(m), DefaultMaxMessage)
				}
				if s := binary.BigEndian.Uint32(m[8:]); s != seq {
					t.Errorf("message %d: sequence %d, want %d", i, s, seq)
				}
				before := len(got)
				var err error
				if got, err = d.Decode(m, got); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				seq += uint32(len(got) - before)
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d records, want %d", len(got), len(want))
			}
			for i := range want {
				w := want[i]
				w.Start, w.End = w.Start/1e6*1e6, w.End/1e6*1e6 // milliseconds on the wire
				if got[i] != w {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], w)
				}
			}
			if e.Records() != uint64(tc.n) || e.Messages() != uint64(len(msgs)) {
				t.Errorf("counters: %d records %d messages, want %d and %d", e.Records(), e.Messages(), tc.n, len(msgs))
			}
		})
	}
}

// templatesIn counts the template sets in a message.
func templatesIn(m []byte) int {
	n := 0
	for off := headerLen; off+4 <= len(m); off += int(binary.BigEndian.Uint16(m[off+2:])) {
		if binary.BigEndian.Uint16(m[off:]) == setTemplate {
			n++
		}
	}
	return n
}

func TestTemplateRefresh(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		step time.Duration // clock advance per message
		want []bool        // templates sent before each data message
	}{
		{"once", Config{}, time.Minute, []bool{true, false, false, false, false}},
		{"every 2 messages", Config{RefreshMessages: 2}, 0, []bool{true, false, true, false, true}},
		{"every 90s", Config{RefreshInterval: 90 * time.Second}, time.Minute, []bool{true, false, true, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			tc.cfg.Now = func() time.Time { return now }
			var msgs [][]byte
			e := collect(t, tc.cfg, &msgs)
			rng := rand.New(rand.NewPCG(3, 4))
			for range tc.want {
				r := record(rng, false)
				if err := e.Add(&r); err != nil {
					t.Fatal(err)
				}
				if err := e.Flush(); err != nil {
					t.Fatal(err)
				}
				now = now.Add(tc.step)
			}
			var sent []bool
			tpl := false
			for _, m := range msgs {
				if templatesIn(m) > 0 {
					tpl = true
					continue
				}
				sent, tpl = append(sent, tpl), false
			}
			if fmt.Sprint(sent) != fmt.Sprint(tc.want) {
				t.Errorf("templates before data messages: %v, want %v", sent, tc.want)
			}
			// A decoder that missed the templates skips data until a refresh.
			d := NewDecoder()
			got, err := d.Decode(msgs[len(msgs)-1], nil)
			if err != nil || len(got) != 0 {
				t.Errorf("data without templates: %d records, %v; want none", len(got), err)
			}
		})
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"", ""},
		{"BENIGN", "BENIGN"},
		{strings.Repeat("x", 300), strings.Repeat("x", MaxLabel)},
	} {
		var msgs [][]byte
		e := collect(t, Config{}, &msgs)
		r := record(rand.New(rand.NewPCG(5, 6)), false)
		r.Label = tc.label
		if err := e.Add(&r); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []Record
		var err error
		d := NewDecoder()
		for _, m := range msgs {
			if got, err = d.Decode(m, got); err != nil {
				break
			}
		}
		if err != nil || len(got) != 1 || got[0].Label != tc.want {
			t.Errorf("label of %d bytes: got %d records, %v", len(tc.label), len(got), err)
		}
	}
}

func TestErrors(t *testing.T) {
	out := func([]byte) error { return nil }
	for _, cfg := range []Config{{MaxMessage: 100}, {MaxMessage: 70000}, {RefreshInterval: -1}} {
		if _, err := NewEncoder(cfg, out); !errors.Is(err, ErrConfig) {
			t.Errorf("config %+v: %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := NewEncoder(Config{}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil output: %v, want ErrConfig", err)
	}
	e, err := NewEncoder(Config{}, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Record{
		{},
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("2001:db8::1")},
	} {
		if err := e.Add(&r); !errors.Is(err, ErrRecord) {
			t.Errorf("record %v -> %v: %v, want ErrRecord", r.Src, r.Dst, err)
		}
	}
	sendErr := errors.New("no route")
	e, _ = NewEncoder(Config{}, func([]byte) error { return sendErr })
	r := record(rand.New(rand.NewPCG(1, 1)), false)
	if err := e.Add(&r); !errors.Is(err, sendErr) {
		t.Errorf("add (sends the templates): %v, want the output's error", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	var msgs [][]byte
	e := collect(t, Config{}, &msgs)
	r := record(rand.New(rand.NewPCG(1, 1)), true)
	e.Add(&r)
	e.Flush()
	d := NewDecoder()
	for _, m := range msgs[:2] {
		if _, err := d.Decode(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	good := msgs[2]
	cut := func(n int) []byte {
		m := append([]byte(nil), good[:n]...)
		binary.BigEndian.PutUint16(m[2:], uint16(n))
		if n >= headerLen+setHeaderLen {
			binary.BigEndian.PutUint16(m[headerLen+2:], uint16(n-headerLen))
		}
		return m
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"short", good[:10], "shorter than the header"},
		{"version", append([]byte{0, 9}, good[2:]...), "version 9"},
		{"length", good[:len(good)-1], "header length"},
		{"set cut", cut(len(good) - 3), "record cut"},
		{"set header", cut(headerLen + 2), "set header cut"},
		{"set length", append(append([]byte(nil), good[:headerLen+2]...), append([]byte{0xff, 0xff}, good[headerLen+4:]...)...), "has length 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode(tc.msg, nil)
			if !errors.Is(err, ErrMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrMessage with %q", err, tc.want)
			}
		})
	}
}

func TestAddAllocs(t *testing.T) {
	e, _ := NewEncoder(Config{}, func([]byte) error { return nil })
	r := record(rand.New(rand.NewPCG(1, 1)), true)
	if n := testing.AllocsPerRun(1000, func() { e.Add(&r) }); n != 0 {
		t.Errorf("Add allocates %v times per record", n)
	}
}

// BenchmarkEncode measures records encoded per second into 1400-byte messages, by
// address family and message size.
func BenchmarkEncode(b *testing.B) {
	for _, size := range []int{DefaultMaxMessage, 8960, MaxMessageLimit} {
		for _, v6 := range []bool{false, true} {
			b.Run(fmt.Sprintf("msg=%d/ipv6=%v", size, v6), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(42, 42))
				recs := make([]Record, 256)
				for i := range recs {
					recs[i] = record(rng, v6)
				}
				bytes := 0
				e, err := NewEncoder(Config{MaxMessage: size}, func(m []byte) error { bytes += len(m); return nil })
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					e.Add(&recs[i&255])
				}
				e.Flush()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(bytes)/float64(b.N), "B/record")
			})
		}
	}
}
