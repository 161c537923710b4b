package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/shareddata"
)

// goldenCaptures lists the captures under the data folders dirs (files named
// .pcap, .pcapng, .cap or .gz), sorted by their path below the data root.
func goldenCaptures(t *testing.T, dirs ...string) []string {
	t.Helper()
	root := shareddata.Dir(t)
	var paths []string
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			switch filepath.Ext(p) {
			case ".pcap", ".pcapng", ".cap", ".gz":
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(paths)
	return paths
}

// TestFlowsGolden runs flows over the real captures of the shared data and compares
// the records with checksums of what the command wrote before its reading,
// decoding, table and formatting were made faster (the output must stay byte for
// byte the same), and the error messages with the messages it gave then. If the
// records change on purpose (a new feature, a fixed bug), update the checksums
// and say why in the commit.
func TestFlowsGolden(t *testing.T) {
	cases := []struct {
		name   string
		dirs   []string
		args   []string
		sha256 string
		lines  int
		stderr string // with the data root replaced by DATA
	}{
		{"ndpi csv", []string{"ndpi/pcap"}, nil,
			"bbf09dbaeb9624ddab25ef9fda49b8f3633e6c3b9229414792714817cd686e23", 8207,
			"flowsieve: flows: source: DATA/ndpi/pcap/fuzz-2021-10-13.pcap: packet 1: corrupt capture: capture length exceeds snap length: 524501 > 0 (the records of the packets read before the error were written)\n"},
		{"ndpi jsonl early", []string{"ndpi/pcap"}, []string{"--format", "jsonl", "--early", "4", "--capacity", "512"},
			"bea91bcb2f5af67bcadf9212c2c832b60140d3c8921538109a424a87ca819317", 8213,
			"flowsieve: flows: source: DATA/ndpi/pcap/fuzz-2021-10-13.pcap: packet 1: corrupt capture: capture length exceeds snap length: 524501 > 0 (the records of the packets read before the error were written)\n"},
		{"odd captures csv", []string{"cicddos2019-lucid", "debian-pkg-pcaps", "stopddos", "zeek-traces"}, []string{"--capacity", "4096"},
			"22c66cdb84ef187cebae97b1474469f3dc76b34bc0e6848a14e575e5ad857103", 89879,
			"flowsieve: flows: source: DATA/debian-pkg-pcaps/dpkt/truncated_dns_2.pcap: packet 2: truncated capture: unexpected EOF (the records of the packets read before the error were written)\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths := goldenCaptures(t, c.dirs...)
			out := filepath.Join(t.TempDir(), "flows.out")
			args := append(append([]string{"flows", "--out", out}, c.args...), paths...)
			_, stderr, _ := run(t, args...)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != c.sha256 {
				t.Errorf("records over %d captures: sha256 %s (%d lines), want %s (%d lines)", len(paths), got,
					strings.Count(string(b), "\n"), c.sha256, c.lines)
			}
			if got := strings.ReplaceAll(stderr, shareddata.Dir(t), "DATA"); got != c.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, c.stderr)
			}
		})
	}
}
