package source

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/shareddata"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestSniffReader(t *testing.T) {
	pcap := append(magicPcapMicroLE[:], make([]byte, 20)...)
	cases := []struct {
		name string
		data []byte
		want bool
	}{
		{"pcap-micro-le", pcap, true},
		{"pcap-nano-be", append(magicPcapNanoBE[:], 0, 0), true},
		{"pcapng", magicPcapng[:], true},
		{"gzip-pcap", gz(pcap), true},
		{"csv", []byte("Src IP,Dst IP,Label\n"), false},
		{"gzip-csv", gz([]byte("a,b,c\n1,2,3\n")), false},
		{"short", []byte{0xd4, 0xc3}, false},
		{"empty", nil, false},
		{"broken-gzip", []byte{0x1f, 0x8b, 0, 0}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SniffReader(bytes.NewReader(c.data)); got != c.want {
				t.Errorf("SniffReader = %v, want %v", got, c.want)
			}
		})
	}
}

// TestSniffRealFiles: the shared data's captures sniff as captures whatever their
// extension (several .pcapng there are classic pcap), its CSV tables do not.
func TestSniffRealFiles(t *testing.T) {
	dir := shareddata.Dir(t)
	for _, c := range []struct {
		glob string
		want bool
	}{
		{"malcolm-pcap/pcaps/protocols/*.pcap", true},
		{"ndpi/pcap/*.pcapng", true},
		{"cicids2017-improved/rnd_2500/*.csv", false},
	} {
		paths, _ := filepath.Glob(filepath.Join(dir, c.glob))
		if len(paths) == 0 {
			t.Fatalf("nothing matches %s", c.glob)
		}
		for _, p := range paths {
			got, err := Sniff(p)
			if err != nil || got != c.want {
				t.Errorf("Sniff(%s) = %v, %v; want %v", p, got, err, c.want)
			}
		}
	}
	if _, err := Sniff(filepath.Join(t.TempDir(), "missing")); !os.IsNotExist(err) {
		t.Errorf("Sniff of a missing file: %v, want not-exist", err)
	}
}
