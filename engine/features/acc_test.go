package features

import (
	"encoding/csv"
	"errors"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestStatMatchesTwoPass(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 10, 1000} {
		var all, a, b Stat
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = r.Float64() * 1500
			all.Add(xs[i])
			if i%3 == 0 {
				a.Add(xs[i])
			} else {
				b.Add(xs[i])
			}
		}
		var mean, ss float64
		for _, x := range xs {
			mean += x
		}
		if n > 0 {
			mean /= float64(n)
		}
		for _, x := range xs {
			ss += (x - mean) * (x - mean)
		}
		wantVar := 0.0
		if n > 1 {
			wantVar = ss / float64(n-1)
		}
		for name, s := range map[string]Stat{"online": all, "merged": Merge(a, b)} {
			if s.N != uint32(n) || math.Abs(s.Mean-mean) > 1e-9*(1+mean) || math.Abs(s.Var()-wantVar) > 1e-7*(1+wantVar) {
				t.Errorf("n=%d %s: N=%d mean=%g var=%g, want %g %g", n, name, s.N, s.Mean, s.Var(), mean, wantVar)
			}
		}
	}
}

// cicName maps schema names to the column names of the CIC-IDS2017 improved CSVs
// where they differ.
var cicName = map[string]string{
	"Destination Port":            "Dst Port",
	"Total Fwd Packets":           "Total Fwd Packet",
	"Total Bwd Packets":           "Total Bwd packets",
	"Total Length of Fwd Packets": "Total Length of Fwd Packet",
	"Total Length of Bwd Packets": "Total Length of Bwd Packet",
	"Fwd Init Win Bytes":          "FWD Init Win Bytes",
}

// cicRow reads the row with the given id from a CIC-IDS2017 improved CSV.
func cicRow(t *testing.T, path, id string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s: no row with id %s", path, id)
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec[0] == id {
			m := make(map[string]string, len(head))
			for i, h := range head {
				m[h] = rec[i]
			}
			return m
		}
	}
}

// TestValuesMatchCICFlowMeter replays the packets of real CIC-IDS2017 flows (their
// sizes and times reconstructed from the row itself) and compares every feature
// with the value CICFlowMeter wrote.
func TestValuesMatchCICFlowMeter(t *testing.T) {
	data := shareddata.Dir(t)
	us := int64(1000)
	cases := []struct {
		file, id string
		dport    uint16
		proto    uint8
		pkts     []Packet
		fwd      []bool
	}{
		{
			// DNS query/answer pair: 2×54 bytes out, 2×112 back.
			file: "BENIGN_2500.csv", id: "154994", dport: 53, proto: 17,
			pkts: []Packet{{Time: 0, Payload: 54, Header: 8}, {Time: 48 * us, Payload: 54, Header: 8},
				{Time: 25321 * us, Payload: 112, Header: 8}, {Time: 25324 * us, Payload: 112, Header: 8}},
			fwd: []bool{true, true, false, false},
		},
		{
			// Slowhttptest: a 520-byte PSH/ACK segment, answered by a RST.
			file: "DoS_Slowhttptest_1740.csv", id: "28962", dport: 80, proto: 6,
			pkts: []Packet{{Time: 0, Payload: 520, Header: 32, TCP: true, Flags: 0x18, Window: 229},
				{Time: 93 * us, Payload: 0, Header: 20, TCP: true, Flags: 0x04, Window: 0}},
			fwd: []bool{true, false},
		},
	}
	for _, c := range cases {
		row := cicRow(t, filepath.Join(data, "cicids2017-improved", "rnd_2500", c.file), c.id)
		var a Acc
		base := int64(1_499_000_000_000_000_000)
		for i := range c.pkts {
			p := c.pkts[i]
			p.Time += base
			if i == 0 {
				a.Start(&p, c.dport, c.proto)
			} else {
				a.Add(&p, c.fwd[i])
			}
		}
		var got [NumFeatures]float32
		a.Values(&got)
		for j, name := range Names {
			col := name
			if n, ok := cicName[name]; ok {
				col = n
			}
			s, ok := row[col]
			if !ok {
				t.Errorf("column %q missing from %s", col, c.file)
				continue
			}
			want, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s row %s column %q: %v", c.file, c.id, col, err)
			}
			if math.Abs(float64(got[j])-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s row %s: %q = %g, CICFlowMeter %g", c.file, c.id, name, got[j], want)
			}
		}
	}
}

func TestWriteRowDoesNotAllocate(t *testing.T) {
	var a Acc
	a.Start(&Packet{Time: 1, Payload: 10, Header: 20, TCP: true, Flags: 2, Window: 100}, 80, 6)
	a.Add(&Packet{Time: 2000, Payload: 0, Header: 20, TCP: true, Flags: 0x12, Window: 200}, false)
	b := NewFlowBatch(1)
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		a.WriteRow(b)
		a.Add(&Packet{Time: 3000, Payload: 5, Header: 20, TCP: true, Flags: 0x18}, true)
	})
	if allocs != 0 {
		t.Fatalf("WriteRow+Add allocate %v times per call", allocs)
	}
	if got := b.Column(SYNFlagCount)[0]; got < 2 {
		t.Errorf("SYN Flag Count = %v, want ≥ 2", got)
	}
}
