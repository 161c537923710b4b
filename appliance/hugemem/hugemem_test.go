package hugemem

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
)

func TestAlloc(t *testing.T) {
	mode := thpMode()
	if mode != "always" && mode != "madvise" {
		t.Skipf("transparent huge pages are %q in %s: no huge pages to check", mode, thpEnabled)
	}
	a := New(nil)
	defer a.Close()
	for _, n := range []int{1, PageSize, 3*PageSize + 5} {
		b, err := a.Alloc(n)
		if err != nil {
			t.Fatalf("Alloc(%d): %v", n, err)
		}
		if len(b) != n {
			t.Errorf("Alloc(%d): %d bytes", n, len(b))
		}
		if p := uintptr(unsafe.Pointer(&b[0])); p%PageSize != 0 {
			t.Errorf("Alloc(%d) at %#x, not 2 MB aligned", n, p)
		}
		for i, x := range b {
			if x != 0 {
				t.Fatalf("Alloc(%d): byte %d is %d, want zeroed memory", n, i, x)
			}
		}
		b[n-1] = 1
		huge, err := HugeBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Alloc(%d): %d bytes on huge pages", n, huge)
		if huge < (n+PageSize-1)/PageSize*PageSize {
			t.Errorf("Alloc(%d): only %d bytes on huge pages", n, huge)
		}
	}
}

func TestAllocErrors(t *testing.T) {
	a := New(nil)
	if _, err := a.Alloc(0); err == nil {
		t.Error("Alloc(0) succeeded")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alloc(PageSize); !errors.Is(err, ErrClosed) {
		t.Errorf("Alloc after Close: %v, want ErrClosed", err)
	}
}

// row is a flow the table handed to the sink, every feature as its bits.
type row struct {
	why    flow.Reason
	key    flow.Key
	first  int64
	values [features.NumFeatures]uint32
}

// runStream feeds a random TCP stream (fixed seed: 40,000 flows over a 20,000-flow
// table, so flows start, end by FIN, RST, timeouts and eviction) to a table built
// with cfg, in batches of 64 as the inspector hands them, and returns every flow
// handed to the sink.
func runStream(t *testing.T, cfg flow.Config) ([]row, flow.Stats) {
	var out []row
	tb, err := flow.New(cfg, func(f *flow.Flow, why flow.Reason) {
		r := row{why: why, key: f.Key, first: f.First()}
		var v [features.NumFeatures]float32
		f.Values(&v)
		for i, x := range v {
			r.values[i] = math.Float32bits(x)
		}
		out = append(out, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	in := make([]flow.Input, 64)
	ts := int64(1e18)
	for b := range 3000 {
		if b%1000 == 999 {
			ts += int64(15 * time.Second) // every live flow idles out
		}
		for j := range in {
			i := uint32(rnd.IntN(40_000))
			fillPacket(&in[j].Packet, i, rnd.IntN(2) == 0)
			in[j].Packet.TCPFlags = packet.TCPAck
			switch rnd.IntN(16) {
			case 0:
				in[j].Packet.TCPFlags = packet.TCPSyn
			case 1:
				in[j].Packet.TCPFlags = packet.TCPFin | packet.TCPAck
			case 2:
				in[j].Packet.TCPFlags = packet.TCPRst
			case 3, 4:
				in[j].Packet.TCPFlags = packet.TCPPsh | packet.TCPAck
			}
			ts += int64(rnd.IntN(20_000))
			in[j].Time, in[j].WireLen = ts, 64+rnd.IntN(1400)
		}
		tb.UpdateBatch(in)
	}
	tb.Flush()
	return out, tb.Stats()
}

// TestTableOnHugePages checks that a flow table on huge-page memory, built as the
// daemon builds it, hands over the same flows with every feature bit for bit as one
// on the Go heap.
func TestTableOnHugePages(t *testing.T) {
	a := New(nil)
	defer a.Close()
	cfg := flow.Config{Capacity: 20_000, Seed: 9, EarlyPackets: 8, IdleTimeout: 10 * time.Second, ActiveTimeout: 2 * time.Second}
	want, wantStats := runStream(t, cfg)
	cfg.Memory = a.Alloc
	got, stats := runStream(t, cfg)
	if s := wantStats.Sunk; s[flow.EndEvicted] == 0 || s[flow.EndRST] == 0 || s[flow.EndFIN] == 0 || s[flow.EndIdle] == 0 || s[flow.Early] == 0 {
		t.Fatalf("stream did not exercise every path: %+v", wantStats)
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
	t.Logf("%d flows identical; stats %+v", len(got), stats)
}
