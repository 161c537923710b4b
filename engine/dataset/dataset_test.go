package dataset

import (
	"compress/gzip"
	"errors"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
)

func write(t *testing.T, name, text string, gz bool) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if gz {
		w := gzip.NewWriter(f)
		w.Write([]byte(text))
		w.Close()
		return p
	}
	f.WriteString(text)
	return p
}

func flowsHeader(label bool) string {
	h := "Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp," + strings.Join(features.Names[:], ",")
	if label {
		h += ",Label"
	}
	return h
}

func flowsRow(label string) string {
	v := make([]string, features.NumFeatures)
	for i := range v {
		v[i] = "1.5"
	}
	v[features.DstPort] = "443"
	v[features.Protocol] = "6"
	v[features.FlowBytesPerSec] = "Infinity"
	v[features.FlowPacketsPerSec] = "NaN"
	r := "10.0.0.1,40000,10.0.0.2,443,6,1500000000000000000," + strings.Join(v, ",")
	if label != "" {
		r += "," + label
	}
	return r
}

const kddRow = "0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal."

func TestLoadFormats(t *testing.T) {
	cicHeader := " Destination Port, Flow Duration, Total Fwd Packets, Total Backward Packets,Init_Win_bytes_forward, Fwd Header Length, Fwd Header Length.1,Flow Bytes/s, Label"
	tests := []struct {
		name, file, text string
		gz               bool
		o                Options
		format           Format
		rows, cols       int
		labels           []string
		check            func(t *testing.T, d *Dataset)
	}{
		{name: "flows", file: "f.csv", text: flowsHeader(true) + "\n" + flowsRow("BENIGN") + "\n" + flowsRow("DDoS") + "\n",
			format: Flows, rows: 2, cols: features.NumFeatures, labels: []string{"BENIGN", "DDoS"},
			check: func(t *testing.T, d *Dataset) {
				for j, n := range features.Names {
					if d.X.Names[j] != n {
						t.Fatalf("column %d = %q, want %q", j, d.X.Names[j], n)
					}
				}
				if got := d.X.Cols[features.DstPort][0]; got != 443 {
					t.Errorf("Destination Port = %v", got)
				}
				if !math.IsInf(float64(d.X.Cols[features.FlowBytesPerSec][0]), 1) || !math.IsNaN(float64(d.X.Cols[features.FlowPacketsPerSec][0])) {
					t.Errorf("Infinity/NaN not kept")
				}
				if d.Meta.SrcIP[1] != "10.0.0.1" || d.Meta.DstPort[0] != 443 || d.Meta.Proto[0] != 6 || d.Meta.Timestamp[0] != 1500000000000000000 {
					t.Errorf("meta = %+v", d.Meta)
				}
			}},
		{name: "flows without labels", file: "f.csv", text: flowsHeader(false) + "\n" + flowsRow("") + "\n",
			format: Flows, rows: 1, cols: features.NumFeatures, labels: []string{""}},
		{name: "cic original names", file: "c.csv", text: cicHeader + "\n80,10,2,1,8192,40,40,Infinity,BENIGN\n",
			format: CIC, rows: 1, cols: 7, labels: []string{"BENIGN"},
			check: func(t *testing.T, d *Dataset) {
				want := []string{"Destination Port", "Flow Duration", "Total Fwd Packets", "Total Bwd Packets", "Fwd Init Win Bytes", "Fwd Header Length", "Flow Bytes/s"}
				if strings.Join(d.X.Names, "|") != strings.Join(want, "|") {
					t.Errorf("names = %q", d.X.Names)
				}
				if d.Meta.DstPort[0] != 80 {
					t.Errorf("dst port meta = %v", d.Meta.DstPort)
				}
			}},
		{name: "kdd99 gz", file: "k.gz", text: kddRow + "\n" + kddRow + "\n", gz: true,
			format: KDD99, rows: 2, cols: 38 + 3 + 70 + 11, labels: []string{"normal", "normal"},
			check: func(t *testing.T, d *Dataset) {
				j := -1
				for k, n := range d.X.Names {
					if n == "service=http" {
						j = k
					}
				}
				if j < 0 || d.X.Cols[j][0] != 1 {
					t.Errorf("service=http not one-hot encoded: %v", d.X.Names)
				}
			}},
		{name: "nslkdd", file: "n.txt", text: strings.TrimSuffix(kddRow, ".") + ",21\n",
			format: NSLKDD, rows: 1, cols: 122, labels: []string{"normal"}},
		{name: "unsw", file: "u.csv", text: "dur,proto=tcp,sbytes,dbytes,label\n0.5,1,200,,Malicious\n",
			format: UNSW, rows: 1, cols: 4, labels: []string{"Malicious"},
			check: func(t *testing.T, d *Dataset) {
				if !math.IsNaN(float64(d.X.Cols[3][0])) {
					t.Errorf("empty field = %v, want NaN", d.X.Cols[3][0])
				}
			}},
		{name: "unsw original columns", file: "u.csv", text: "id,dur,proto,service,state,spkts,sbytes,dbytes,attack_cat,label\n1,0.1,tcp,-,FIN,4,200,300,Exploits,1\n",
			format: UNSW, rows: 1, cols: 4, labels: []string{"1"}},
		{name: "unsw attack category as label", file: "u.csv", text: "id,dur,proto,service,state,spkts,sbytes,dbytes,attack_cat,label\n1,0.1,tcp,-,FIN,4,200,300,Exploits,1\n",
			o: Options{LabelColumn: "attack_cat"}, format: UNSW, rows: 1, cols: 4, labels: []string{"Exploits"}},
		{name: "generic csv, label column option", file: "g.csv", text: "a,b,class\n1,2,x\n3,4,y\n",
			o: Options{LabelColumn: "class"}, format: CSV, rows: 2, cols: 2, labels: []string{"x", "y"}},
		{name: "max rows", file: "g.csv", text: "a,b,label\n1,2,x\n3,4,y\n",
			o: Options{MaxRows: 1}, format: CSV, rows: 1, cols: 2, labels: []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.file, tt.text, tt.gz)
			d, err := Load([]string{p}, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != tt.format || d.X.Len != tt.rows || len(d.X.Names) != tt.cols {
				t.Fatalf("format %s rows %d cols %d, want %s %d %d (%q)", d.Format, d.X.Len, len(d.X.Names), tt.format, tt.rows, tt.cols, d.X.Names)
			}
			if strings.Join(d.Labels, "|") != strings.Join(tt.labels, "|") {
				t.Errorf("labels %q, want %q", d.Labels, tt.labels)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestBadRows(t *testing.T) {
	tests := []struct {
		name, text, want string
		skipped          int
	}{
		{"not a number", "a,b,label\n1,2,x\n1,zz,y\n3,4,z\n", `:3: column "b": not a number: "zz"`, 1},
		{"field count", "a,b,label\n1,2,x\n1,2\n3,4,z\n", ":3: wrong number of fields", 1},
		{"unknown category", strings.Replace(kddRow, "http", "nosuch", 1) + "\n" + kddRow + "\n", `:1: column "service": unknown value "nosuch"`, 1},
		{"bad quote", "a,b,label\n1,2,x\n1,\"2,y\n", ":3:", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, "bad.csv", tt.text, false)
			_, err := Load([]string{p}, Options{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), p+tt.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, p+tt.want)
			}
			d, err := Load([]string{p}, Options{SkipBadRows: true})
			if err != nil {
				t.Fatal(err)
			}
			if d.Skipped != tt.skipped || d.FirstBad == nil {
				t.Errorf("skipped %d (%v), want %d", d.Skipped, d.FirstBad, tt.skipped)
			}
		})
	}
}

func TestFilesMustAgree(t *testing.T) {
	a := write(t, "a.csv", "a,b,label\n1,2,x\n", false)
	b := write(t, "b.csv", "b,a,label\n5,6,y\n", false)
	c := write(t, "c.csv", "a,c,label\n1,2,x\n", false)
	d, err := Load([]string{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.X.Cols[0][1] != 6 || d.X.Cols[1][1] != 5 {
		t.Errorf("columns not matched by name: %v %v", d.X.Column(0), d.X.Column(1))
	}
	if _, err := Load([]string{a, c}, Options{}); !errors.Is(err, ErrColumns) {
		t.Errorf("err = %v, want ErrColumns", err)
	}
	if _, err := Load([]string{a}, Options{Format: "weird"}); !errors.Is(err, ErrFormat) {
		t.Errorf("err = %v, want ErrFormat", err)
	}
	e := write(t, "e.csv", "x,y\n1,2\n", false)
	if _, err := Load([]string{e}, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("err = %v, want ErrFormat", err)
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{" Total Backward Packets", "Total Bwd Packets"},
		{"Init_Win_bytes_forward", "Fwd Init Win Bytes"},
		{"FWD Init Win Bytes", "Fwd Init Win Bytes"},
		{"Total Fwd Packet", "Total Fwd Packets"},
		{" Min Packet Length", "Packet Length Min"},
		{"Flow Byts/s", "Flow Bytes/s"},
		{"flow duration", "Flow Duration"},
	} {
		if got, ok := Canonical(c.in); !ok || got != c.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestRealData(t *testing.T) {
	data := shareddata.Dir(t)
	cic, _ := filepath.Glob(filepath.Join(data, "cicids2017-improved", "rnd_2500", "*.csv"))
	tests := []struct {
		name    string
		paths   []string
		format  Format
		rows    int
		classes int
		cols    int
	}{
		{"nsl-kdd", []string{filepath.Join(data, "nsl-kdd", "KDDTrain+_20Percent.txt")}, NSLKDD, 25192, 22, 122},
		{"cicids2017-improved", cic, CIC, 25127, 16, 0},
		{"unsw-nb15", []string{filepath.Join(data, "aucad", "unsw-nb15", "unsw-nb15_training_10K.csv")}, UNSW, 10000, 2, 32},
	}
	if !testing.Short() {
		tests = append(tests, struct {
			name    string
			paths   []string
			format  Format
			rows    int
			classes int
			cols    int
		}{"kddcup99 10%", []string{filepath.Join(data, "kddcup99", "kddcup.data_10_percent.gz")}, KDD99, 494021, 23, 122})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			d, err := Load(tt.paths, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rows × %d columns in %v", d.X.Len, len(d.X.Names), time.Since(start))
			classes := map[string]bool{}
			for _, l := range d.Labels {
				classes[l] = true
			}
			if d.Format != tt.format || d.X.Len != tt.rows || len(classes) != tt.classes {
				t.Errorf("format %s, %d rows, %d classes; want %s, %d, %d", d.Format, d.X.Len, len(classes), tt.format, tt.rows, tt.classes)
			}
			if tt.cols > 0 && len(d.X.Names) != tt.cols {
				t.Errorf("%d columns, want %d", len(d.X.Names), tt.cols)
			}
			if tt.format == CIC {
				for _, n := range features.Names {
					found := false
					for _, m := range d.X.Names {
						found = found || m == n
					}
					if !found {
						t.Errorf("schema feature %q not found among %q", n, d.X.Names)
					}
				}
				if len(d.Meta.SrcIP) != d.X.Len || len(d.Meta.Timestamp) != d.X.Len || d.Meta.Timestamp[0] == 0 {
					t.Errorf("meta not filled")
				}
			}
		})
	}
}

func TestStratifiedSplit(t *testing.T) {
	labels := make([]string, 0, 1000)
	for i := range 1000 {
		switch {
		case i%10 == 0:
			labels = append(labels, "rare")
		case i == 999:
			labels = append(labels, "single")
		default:
			labels = append(labels, "common")
		}
	}
	train, test, err := StratifiedSplit(labels, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	count := func(rows []int, l string) int {
		n := 0
		for _, i := range rows {
			if labels[i] == l {
				n++
			}
		}
		return n
	}
	if count(test, "rare") != 20 || count(test, "common") != 180 || count(train, "single") != 1 || len(train)+len(test) != 1000 {
		t.Errorf("split: test rare %d common %d, train single %d", count(test, "rare"), count(test, "common"), count(train, "single"))
	}
	train2, _, _ := StratifiedSplit(labels, 0.2, 1)
	train3, _, _ := StratifiedSplit(labels, 0.2, 2)
	if !slices.Equal(train, train2) || slices.Equal(train, train3) {
		t.Error("split not determined by the seed")
	}
	if _, _, err := StratifiedSplit(labels, 1, 1); err == nil {
		t.Error("test fraction 1 accepted")
	}
}

func TestSubsetAndColumns(t *testing.T) {
	p := write(t, "g.csv", "a,b,label\n1,2,x\n3,4,y\n5,6,z\n", false)
	d, err := Load([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Subset([]int{2, 0})
	if s.X.Len != 2 || s.X.Cols[1][0] != 6 || s.Labels[1] != "x" {
		t.Errorf("subset: %v %v", s.X.Column(1), s.Labels)
	}
	c, err := d.Columns([]string{"b"})
	if err != nil || c.X.Column(0)[2] != 6 {
		t.Errorf("columns: %v", err)
	}
	if _, err := d.Columns([]string{"zz"}); !errors.Is(err, ErrColumns) {
		t.Errorf("err = %v", err)
	}
	ids, classes := Classes(d.Labels)
	if len(classes) != 3 || ids[2] != 2 {
		t.Errorf("classes %v ids %v", classes, ids)
	}
}
