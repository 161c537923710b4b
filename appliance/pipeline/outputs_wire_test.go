package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/ipfix"
	"github.com/flowsieve/flowsieve/engine/policy"
)

const dropPolicy = `version: 1
rules:
  - name: attacks
    labels: ATTACK
    action: DROP
    ttl: 5m
default:
  action: PASS
  ttl: 5m
`

// TestWireOutputs runs the daemon inline on a virtual wire with export.ipfix (a UDP
// collector in the appliance's namespace), export.ipfix_file and alerts.file set,
// sends benign and attack flows (IPv4 and IPv6), waits for them to end idle, stops
// the daemon, and checks that every flow was exported once, over UDP and to the
// file, with its label and action, and that the alert log has one drop event per
// attack flow.
func TestWireOutputs(t *testing.T) {
	w := newTestWire(t, 1)
	const early, frames = 4, 6
	var pc net.PacketConn
	if err := w.app.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var mu sync.Mutex
	var datagrams [][]byte
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			datagrams = append(datagrams, append([]byte(nil), buf[:n]...))
			mu.Unlock()
		}
	}()
	out := t.TempDir()
	ipfixFile, eveFile := filepath.Join(out, "flows.ipfix"), filepath.Join(out, "eve.json")
	p := w.start(t, "outputs", dropPolicy, early, map[string]string{
		"export.ipfix": pc.LocalAddr().String(), "export.ipfix_file": ipfixFile, "alerts.file": eveFile,
		"classify.batch": "1", "classify.max_delay": "0s", "flow.idle_timeout": "300ms",
	})
	tx := openPacketSender(t, w, "c0")
	type sent struct {
		src, dst netip.Addr
		sport    uint16
		attack   bool
	}
	var flows []sent
	for i := range 8 {
		src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
		if i >= 4 {
			src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:1::2")
		}
		f := sent{src, dst, uint16(30000 + i), i%2 == 1}
		flows = append(flows, f)
		dport := uint16(80)
		if f.attack {
			dport = 5000
		}
		frame := ethFrame(src, dst, f.sport, dport)
		for range frames {
			tx.send(t, frame)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Writer().FlowWritten.Load() < uint64(len(flows)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d verdicts written within 10 s", p.Writer().FlowWritten.Load(), len(flows))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The flows end idle (their later frames are handled in the kernel) and go out.
	o := p.Outputs()
	for o.FlowsExported.Load() < uint64(len(flows)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d flows exported within 10 s", o.FlowsExported.Load(), len(flows))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(); err != nil { // the outputs flush and close
		t.Fatal(err)
	}
	t.Logf("exported %d, unlabelled %d, lost %d, verdicts lost %d, errors %d", o.FlowsExported.Load(),
		o.FlowsUnlabelled.Load(), o.FlowsLost.Load(), o.VerdictsLost.Load(), o.ExportErrors.Load())

	time.Sleep(100 * time.Millisecond) // the last datagrams cross loopback
	mu.Lock()
	got := map[string][]ipfix.Record{"udp": decodeMessages(t, datagrams), "file": readIPFIX(t, ipfixFile)}
	mu.Unlock()
	for name, recs := range got {
		if len(recs) != len(flows) {
			t.Fatalf("%s: %d records, want %d", name, len(recs), len(flows))
		}
		for _, r := range recs {
			i := int(r.SrcPort) - 30000
			if i < 0 || i >= len(flows) {
				t.Fatalf("%s: record from port %d", name, r.SrcPort)
			}
			f := flows[i]
			label, action := "BENIGN", policy.ActionPass
			if f.attack {
				label, action = "ATTACK", policy.ActionDrop
			}
			if r.Src != f.src || r.Dst != f.dst || r.Label != label || r.Action != action ||
				r.Flags&ipfix.FlagClassified == 0 || r.FwdPackets < early || r.FwdPackets > frames || r.EndReason != ipfix.EndIdle {
				t.Errorf("%s: flow %d: %v > %v label %q action %v flags %d packets %d end %d", name, i, r.Src, r.Dst,
					r.Label, r.Action, r.Flags, r.FwdPackets, r.EndReason)
			}
		}
	}
	fh, err := os.Open(eveFile)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	drops := map[int]bool{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var ev struct {
			EventType string `json:"event_type"`
			SrcPort   int    `json:"src_port"`
			Alert     struct {
				Action string `json:"action"`
			} `json:"alert"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		i := ev.SrcPort - 30000
		if ev.EventType != "drop" || ev.Alert.Action != "blocked" || i < 0 || i >= len(flows) || !flows[i].attack || drops[i] {
			t.Errorf("alert line %s", sc.Bytes())
		}
		drops[i] = true
	}
	if len(drops) != len(flows)/2 {
		t.Errorf("%d drop events, want %d", len(drops), len(flows)/2)
	}
}

// decodeMessages decodes IPFIX datagrams in order.
func decodeMessages(t *testing.T, msgs [][]byte) []ipfix.Record {
	t.Helper()
	d := ipfix.NewDecoder()
	var recs []ipfix.Record
	for i, m := range msgs {
		var err error
		if recs, err = d.Decode(m, recs); err != nil {
			t.Fatal(fmt.Errorf("datagram %d: %w", i, err))
		}
	}
	return recs
}
