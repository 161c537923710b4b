package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/ipfix"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// outputsConfig returns a configuration exporting to an IPFIX file and an alert log in dir.
func outputsConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: map[string]string{
		"export.ipfix_file": filepath.Join(dir, "flows.ipfix"), "alerts.file": filepath.Join(dir, "eve.json"),
		"export.queue": "64",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// readIPFIX decodes an IPFIX file.
func readIPFIX(t *testing.T, path string) []ipfix.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := ipfix.NewDecoder()
	var recs []ipfix.Record
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint16(b[2:]))
		if recs, err = d.Decode(b[:n], recs); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	return recs
}

// TestFlowExporterJoin feeds a real flow table's finished flows through a worker's
// Ended hook and verdicts through the writer's hook, in every order the daemon can
// produce them, and checks what the IPFIX file and the alert log get.
func TestFlowExporterJoin(t *testing.T) {
	dir := t.TempDir()
	cfg := outputsConfig(t, dir)
	o, err := openOutputs(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hook := o.endedHook(o.newRing(cfg.Export.Queue))
	e := o.flows
	tab, err := flow.New(flow.Config{Capacity: 1024, IdleTimeout: time.Second, ActiveTimeout: time.Minute, Seed: 1},
		func(f *flow.Flow, why flow.Reason) {
			if why != flow.Early {
				hook(f, why)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	client, server := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	// Flow i: 3+i packets from sport 1000+i; IPv6 for odd i.
	const flows = 6
	verdicts := make([]inspect.Verdict, flows)
	for i := range flows {
		src, dst := client, netip.MustParseAddr("198.51.100.2")
		if i%2 == 1 {
			src, dst = netip.MustParseAddr("2001:db8::2"), server
		}
		var p packet.Packet
		fr := ethFrame(src, dst, uint16(1000+i), 80)
		if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil {
			t.Fatal(err)
		}
		first := start + int64(i)*1e6
		for k := range 3 + i {
			tab.Update(&p, first+int64(k)*1e3, len(fr))
		}
		action := policy.ActionPass
		if i%3 == 0 {
			action = policy.ActionDrop
		}
		verdicts[i] = inspect.Verdict{Src: src, Dst: dst, SrcPort: uint16(1000 + i), DstPort: 80, Proto: 6,
			Label: []string{"ATTACK", "BENIGN"}[min(i%3, 1)], Prob: 0.5 + float32(i)/100,
			Decision: policy.Decision{Action: action, Rule: "r"}, Early: true, First: first, Last: first,
			Packets: 3, FwdPackets: 3}
	}
	now := time.Now()
	// Flows 0 and 1: the verdict comes first (decided early), then the flow ends.
	o.verdict(&verdicts[0])
	o.verdict(&verdicts[1])
	e.drain(now)
	tab.Flush() // every flow ends
	e.drain(now)
	// Flows 2 and 3: the verdict comes after the end (classified at the end, or late).
	o.verdict(&verdicts[2])
	o.verdict(&verdicts[3])
	e.drain(now)
	if got := len(e.waiting); got != 2 {
		t.Fatalf("%d flows waiting for a verdict, want 2 (flows 4 and 5)", got)
	}
	// Flows 4 and 5 never get one: they go out unlabelled after labelWait.
	e.sweep(now.Add(labelWait - time.Millisecond))
	if got := len(e.waiting); got != 2 {
		t.Fatalf("swept before labelWait: %d waiting", got)
	}
	e.sweep(now.Add(labelWait))
	if err := o.close(); err != nil {
		t.Fatal(err)
	}

	recs := readIPFIX(t, filepath.Join(dir, "flows.ipfix"))
	if len(recs) != flows {
		t.Fatalf("%d records exported, want %d", len(recs), flows)
	}
	st := o.stats
	if st.FlowsExported.Load() != flows || st.FlowsUnlabelled.Load() != 2 || st.FlowsLost.Load() != 0 {
		t.Errorf("stats: %d exported, %d unlabelled, %d lost", st.FlowsExported.Load(), st.FlowsUnlabelled.Load(), st.FlowsLost.Load())
	}
	for _, r := range recs {
		i := int(r.SrcPort) - 1000
		if i < 0 || i >= flows {
			t.Fatalf("record with source port %d", r.SrcPort)
		}
		v := &verdicts[i]
		if r.Src != v.Src || r.Dst != v.Dst || r.FwdPackets != uint64(3+i) || r.BwdPackets != 0 ||
			r.FwdBytes != uint64((3+i)*len(ethFrame(v.Src, v.Dst, 1, 80))) || r.EndReason != ipfix.EndForced {
			t.Errorf("flow %d: record %+v", i, r)
		}
		if i >= 4 {
			if r.Flags != 0 || r.Label != "" {
				t.Errorf("flow %d without a verdict exported with label %q flags %d", i, r.Label, r.Flags)
			}
			continue
		}
		if r.Label != v.Label || r.Action != v.Decision.Action || r.Prob != v.Prob || r.Flags != ipfix.FlagClassified|ipfix.FlagEarly {
			t.Errorf("flow %d: label %q action %v prob %v flags %d, want %q %v %v", i, r.Label, r.Action, r.Prob, r.Flags,
				v.Label, v.Decision.Action, v.Prob)
		}
	}
	// The alert log has the DROP verdicts (flows 0 and 3), not the PASS ones.
	b, err := os.ReadFile(filepath.Join(dir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("alert log has %d lines, want 2:\n%s", len(lines), b)
	}
	for _, l := range lines {
		var ev struct {
			EventType string `json:"event_type"`
			SrcPort   int    `json:"src_port"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.EventType != "drop" || (ev.SrcPort != 1000 && ev.SrcPort != 1003) {
			t.Errorf("alert line %s (%v)", l, err)
		}
	}
}

// TestEndedHookLosesWhenFull: a worker never waits for the exporter; flows beyond
// the ring are counted lost.
func TestEndedHookLosesWhenFull(t *testing.T) {
	cfg := outputsConfig(t, t.TempDir())
	o, err := openOutputs(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	r := o.newRing(4)
	hook := o.endedHook(r)
	var f flow.Flow
	for range 10 {
		hook(&f, flow.EndIdle)
	}
	if got, lost := r.Len(), o.stats.FlowsLost.Load(); got != r.Cap() || lost != uint64(10-r.Cap()) {
		t.Errorf("ring holds %d of %d, %d lost", got, r.Cap(), lost)
	}
	if n := testing.AllocsPerRun(100, func() { hook(&f, flow.EndIdle) }); n != 0 {
		t.Errorf("the Ended hook allocates %v times per flow", n)
	}
}

// TestOutputsOff: without export and alerts keys nothing is opened and the hooks are
// no-ops (the workers get no Ended hook).
func TestOutputsOff(t *testing.T) {
	cfg, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := openOutputs(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if o.newRing(16) != nil || o.endedHook(nil) != nil || o.alerts != nil || o.flows != nil {
		t.Error("outputs opened without being configured")
	}
	var v inspect.Verdict
	o.verdict(&v)
	if err := o.close(); err != nil {
		t.Error(err)
	}
}
