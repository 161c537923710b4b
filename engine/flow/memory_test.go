package flow

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/features"
)

// TestRecordsHoldNoPointers checks what makes Config.Memory safe outside the Go heap:
// no field of a flow record (nor a tag) is or holds a Go pointer, so the garbage
// collector never needs to see the table's memory.
func TestRecordsHoldNoPointers(t *testing.T) {
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		switch ty.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
		case reflect.Array:
			walk(path+"[]", ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(path+"."+ty.Field(i).Name, ty.Field(i).Type)
			}
		default:
			t.Errorf("%s is a %s: records must hold no Go pointers", path, ty.Kind())
		}
	}
	walk("Flow", reflect.TypeFor[Flow]())
	walk("tag", reflect.TypeFor[uint16]())
}

// alignedBytes returns n bytes of the Go heap starting on a 64-byte boundary, set
// to junk (New must clear them).
func alignedBytes(n int) []byte {
	b := make([]byte, n+64)
	off := (64 - int(uintptr(unsafe.Pointer(&b[0]))%64)) % 64
	b = b[off : off+n]
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

// featureRow is a flow handed to the sink: why, identity and every feature's bits.
type featureRow struct {
	why      Reason
	key      Key
	first    int64
	fwdBytes uint64
	bwdBytes uint64
	values   [features.NumFeatures]uint32
}

func collectFeatures(out *[]featureRow) Sink {
	return func(f *Flow, why Reason) {
		r := featureRow{why: why, key: f.Key, first: f.First(), fwdBytes: f.FwdWireBytes, bwdBytes: f.BwdWireBytes}
		var v [features.NumFeatures]float32
		f.Values(&v)
		for i, x := range v {
			r.values[i] = math.Float32bits(x)
		}
		*out = append(*out, r)
	}
}

// mixedStream is a random packet stream over few flows (fixed seed) that reaches
// every path: FIN, RST, SYN reuse, idle and active timeouts, eviction, early snapshots.
func mixedStream(n int) []Input {
	r := rand.New(rand.NewPCG(21, 22))
	in := make([]Input, n)
	var ts int64
	for i := range in {
		port := uint16(r.IntN(300))
		flags := []uint8{ack, ack, ack, psh | ack, syn, fin | ack, rst}[r.IntN(7)]
		p := pkt(A, B, 1000+port, 80, tcp, flags, uint16(r.IntN(1400)))
		if r.IntN(2) == 0 {
			p = pkt(B, A, 80, 1000+port, tcp, flags, uint16(r.IntN(1400)))
		}
		ts += int64(r.IntN(40)) * int64(time.Millisecond)
		if i%2000 == 1999 {
			ts += int64(15 * time.Second)
		}
		in[i] = Input{Packet: p, Time: ts, WireLen: 60 + r.IntN(1400)}
	}
	return in
}

// TestMemory checks Config.Memory: a table on memory from the caller gives every
// feature of every flow bit for bit as one on the Go heap, and unusable memory is
// a clear error.
func TestMemory(t *testing.T) {
	in := mixedStream(20000)
	cfg := Config{Capacity: 128, Seed: 5, EarlyPackets: 4, IdleTimeout: 10 * time.Second, ActiveTimeout: 30 * time.Second}
	run := func(cfg Config) ([]featureRow, Stats, error) {
		var out []featureRow
		tb, err := New(cfg, collectFeatures(&out))
		if err != nil {
			return nil, Stats{}, err
		}
		tb.prefetch = true // the prefetching pipeline of large tables, on a small one
		for i := 0; i < len(in); i += 64 {
			tb.UpdateBatch(in[i:min(i+64, len(in))])
		}
		tb.Flush()
		return out, tb.Stats(), nil
	}
	want, wantStats, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := wantStats; s.Sunk[EndEvicted] == 0 || s.Sunk[EndRST] == 0 || s.Sunk[EndFIN] == 0 || s.Sunk[EndIdle] == 0 || s.Sunk[Early] == 0 {
		t.Fatalf("stream did not exercise every path: %+v", s)
	}
	errNoMem := errors.New("no memory today")
	cases := []struct {
		name    string
		memory  func(int) ([]byte, error)
		wantErr error
	}{
		{"caller's memory", func(n int) ([]byte, error) { return alignedBytes(n), nil }, nil},
		{"provider fails", func(int) ([]byte, error) { return nil, errNoMem }, errNoMem},
		{"too short", func(n int) ([]byte, error) { return alignedBytes(n - 1), nil }, ErrConfig},
		{"misaligned", func(n int) ([]byte, error) { return alignedBytes(n + 8)[8:], nil }, ErrConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg
			asked := 0
			cfg.Memory = func(n int) ([]byte, error) { asked = n; return c.memory(n) }
			got, stats, err := run(cfg)
			if asked != MemoryBytes(cfg.Capacity) {
				t.Errorf("Memory asked for %d bytes, want MemoryBytes = %d", asked, MemoryBytes(cfg.Capacity))
			}
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("New: %v, want %v", err, c.wantErr)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stats != wantStats {
				t.Errorf("stats %+v, on the Go heap %+v", stats, wantStats)
			}
			if len(got) != len(want) {
				t.Fatalf("%d flows, on the Go heap %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("flow %d: %+v, on the Go heap %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestUpdateBatchChurn runs UpdateBatch's prefetching pipeline on a tiny, crowded
// table where flows start and end (RST, eviction) between a packet's prefetch and
// its update, moving records under the probe positions the pipeline keeps: the
// flows must be exactly those of Update, packet by packet.
func TestUpdateBatchChurn(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	in := make([]Input, 50_000)
	var ts int64
	for i := range in {
		port := uint16(r.IntN(40))
		flags := []uint8{ack, ack, psh | ack, rst}[r.IntN(4)]
		p := pkt(A, B, 1000+port, 80, tcp, flags, uint16(r.IntN(1400)))
		if r.IntN(2) == 0 {
			p = pkt(B, A, 80, 1000+port, tcp, flags, uint16(r.IntN(1400)))
		}
		ts += int64(r.IntN(1000))
		in[i] = Input{Packet: p, Time: ts, WireLen: 60 + r.IntN(1400)}
	}
	cfg := Config{Capacity: 16, Seed: 7, IdleTimeout: time.Hour, ActiveTimeout: time.Hour}
	var one, batch []featureRow
	t1, _ := New(cfg, collectFeatures(&one))
	for i := range in {
		t1.Update(&in[i].Packet, in[i].Time, in[i].WireLen)
	}
	t1.Flush()
	t2, _ := New(cfg, collectFeatures(&batch))
	t2.prefetch = true
	for i := 0; i < len(in); i += 64 {
		t2.UpdateBatch(in[i:min(i+64, len(in))])
	}
	t2.Flush()
	if t1.Stats() != t2.Stats() {
		t.Errorf("stats differ: Update %+v, UpdateBatch %+v", t1.Stats(), t2.Stats())
	}
	if len(one) != len(batch) {
		t.Fatalf("Update handed over %d flows, UpdateBatch %d", len(one), len(batch))
	}
	for i := range one {
		if one[i] != batch[i] {
			t.Fatalf("flow %d: Update %+v, UpdateBatch %+v", i, one[i], batch[i])
		}
	}
	if s := t1.Stats(); s.Sunk[EndRST] == 0 || s.Sunk[EndEvicted] == 0 {
		t.Errorf("stream did not churn: %+v", s)
	}
}
