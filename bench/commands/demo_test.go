package commands

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestDemoOffline runs the demo's offline path (what it does without root or BPF): the
// same engine over the generated mix drops attack packets and passes benign ones.
func TestDemoOffline(t *testing.T) {
	mpath, ppath, err := demoTrain(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := demoOffline(7, 5*time.Second, mpath, ppath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *rep)
	if rep.BenignPackets == 0 || rep.AttackPackets == 0 || rep.FlowsClassified == 0 {
		t.Fatalf("empty report: %+v", *rep)
	}
	if rep.AttackDropped == 0 {
		t.Error("no attack packet dropped")
	}
	if share := float64(rep.BenignDelivered) / float64(rep.BenignPackets); share < 0.99 {
		t.Errorf("benign delivered %.2f%%", 100*share)
	}
}

// TestDemoInline runs `flowsieve demo --json` on a short replay through the real
// virtual wire and checks the report comes from what arrived.
func TestDemoInline(t *testing.T) {
	kerneltest.Require(t)
	var out, errb bytes.Buffer
	if code := Run([]string{"flowsieve", "demo", "--duration", "4s", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep demoReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	t.Logf("%s", out.String())
	if rep.Sender != wire.ReplaySender {
		t.Errorf("sender %q, want %q", rep.Sender, wire.ReplaySender)
	}
	if rep.Mode != "inline" || rep.BenignPackets == 0 || rep.AttackPackets == 0 || rep.FlowsClassified == 0 || rep.ThroughputPPS == 0 {
		t.Fatalf("incomplete report: %+v", rep)
	}
	if rep.BenignDelivered == 0 || rep.AttackDropped == 0 {
		t.Errorf("nothing delivered or nothing dropped: %+v", rep)
	}
}
