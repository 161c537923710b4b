package harness

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// dataDir is ../shared/data beside the module root, or "" when absent.
func dataDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("real captures not available at %s (a fresh clone has no ../shared): %v", d, err)
	}
	return d
}

// rawIPv4UDP is a 28-byte IPv4/UDP packet 10.0.0.1:1000 → 10.0.0.2:53 (checksum not checked).
var rawIPv4UDP = []byte{
	0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
	0x03, 0xe8, 0, 53, 0, 8, 0, 0,
}

func writeRawPcap(t *testing.T, pkts ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1e6), CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestLoadPcapRawIP(t *testing.T) {
	dir := t.TempDir()
	labelsPath := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(labelsPath, []byte("src,label\n10.0.0.1,DNS Amplification\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeRawPcap(t, rawIPv4UDP, rawIPv4UDP, []byte{0x45, 0}) // the last is cut short
	for _, c := range []struct {
		name string
		o    PcapOptions
		want string
	}{
		{"no truth", PcapOptions{}, Unlabelled},
		{"fixed label", PcapOptions{Label: "SYN Flood"}, "SYN Flood"},
		{"labels file", PcapOptions{Labels: labelsPath, Label: Benign}, "DNS Amplification"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := LoadPcap(path, c.o)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Len() != 2 || tr.Skipped != 1 || len(tr.Flows) != 1 || tr.Flows[0].Packets != 2 {
				t.Fatalf("frames %d, skipped %d, flows %+v", tr.Len(), tr.Skipped, tr.Flows)
			}
			f := tr.Frames[0]
			if len(f) != 60 || f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 {
				t.Errorf("frame not re-framed as padded Ethernet: % x", f)
			}
			if got := tr.LabelOf(0); got != c.want {
				t.Errorf("label %q, want %q", got, c.want)
			}
			if s := tr.Flows[0].Src.String(); s != "10.0.0.1:1000" {
				t.Errorf("flow source %s", s)
			}
		})
	}
}

func TestLoadPcapErrors(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.pcap")
	good, err := os.ReadFile(writeRawPcap(t, rawIPv4UDP, rawIPv4UDP))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trunc, good[:len(good)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	empty := writeRawPcap(t, []byte{0x45})
	badLabels := filepath.Join(dir, "bad.csv")
	os.WriteFile(badLabels, []byte("src,label\nnot-an-address,X\n"), 0o644)
	for _, c := range []struct {
		name, path string
		o          PcapOptions
		sentinel   error
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), PcapOptions{}, os.ErrNotExist},
		{"truncated", trunc, PcapOptions{}, ErrTrace},
		{"no IP frame", empty, PcapOptions{}, ErrTrace},
		{"bad labels", empty, PcapOptions{Labels: badLabels}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadPcap(c.path, c.o)
			if err == nil {
				t.Fatal("no error")
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("%v does not wrap %v", err, c.sentinel)
			}
			t.Log(err)
		})
	}
}

// TestLoadPcapReal loads the real attack captures the full bench replays and the
// CIC-DDoS2019 sample with its attacker as ground truth.
func TestLoadPcapReal(t *testing.T) {
	d := dataDir(t)
	labelsPath := filepath.Join(t.TempDir(), "cic.csv")
	if err := os.WriteFile(labelsPath, []byte("src,label\n172.16.0.5,SYN Flood\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadPcap(filepath.Join(d, "cicddos2019-lucid", "CIC-DDoS-2019-SynFlood.pcap"), PcapOptions{Labels: labelsPath, Label: Benign})
	if err != nil {
		t.Fatal(err)
	}
	var syn, other int
	for i := range tr.Len() {
		if tr.LabelOf(i) == "SYN Flood" {
			syn++
		} else {
			other++
		}
	}
	t.Logf("CIC-DDoS2019: %d frames (%d skipped), %d flows, %d SYN Flood frames, %d others", tr.Len(), tr.Skipped, len(tr.Flows), syn, other)
	if syn < tr.Len()/2 {
		t.Errorf("only %d of %d frames from the attacker", syn, tr.Len())
	}
	for _, f := range []string{"stopddos/pkt.TCP.synflood.spoofed.pcap", "stopddos/amp.UDP.snmp.src161.pcapng", "esnet-curated-pcaps/attacks/scanners/nmap/nmap_80_all.pcap"} {
		tr, err := LoadPcap(filepath.Join(d, f), PcapOptions{Label: "attack", MaxFrames: 5000})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d frames (%d skipped), %d flows", f, tr.Len(), tr.Skipped, len(tr.Flows))
		if tr.Len() == 0 {
			t.Errorf("%s: no frames", f)
		}
	}
}
