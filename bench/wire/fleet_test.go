package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/flowsieve/flowsieve/xdp"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/fleet"
	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
)

// fleetBox is one appliance of the fleet test: its own virtual wire and daemon.
type fleetBox struct {
	name string
	tp   *wire.Topology
	url  string // the NATS server as seen from the appliance namespace
	d    *daemon
	ctl  *control.Client
}

// flowsieve runs the CLI (this test binary) inside ns and returns its output.
func flowsieve(ns *netns.NS, args ...string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name(), exe}, args...)...)
	cmd.Env = append(os.Environ(), envDaemon+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// enforced reports whether the daemon's block store enforces a DROP of p.
// explain logs what b enforces: its blocks and source verdicts, its flow
// verdicts that drop, and its mitigation signatures and victims, so a test that
// lost benign frames says which state dropped them.
func (b *fleetBox) explain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	blocks, err := b.ctl.BlocksList(ctx)
	t.Logf("%s: blocks and source verdicts (%v): %+v", b.name, err, blocks)
	drops, err := b.ctl.VerdictsList(ctx, control.VerdictQuery{Action: "DROP", Limit: 50})
	t.Logf("%s: flow DROP verdicts (%v): %+v", b.name, err, drops)
	sigs, err := b.ctl.SignaturesList(ctx)
	t.Logf("%s: signatures (%v): %+v", b.name, err, sigs)
	victims, err := b.ctl.VictimsList(ctx)
	t.Logf("%s: victims (%v): %+v", b.name, err, victims)
}

func (b *fleetBox) enforced(t *testing.T, p netip.Prefix) bool {
	t.Helper()
	list, err := b.ctl.BlocksList(context.Background())
	if err != nil {
		t.Fatalf("%s: blocks list: %v", b.name, err)
	}
	for _, e := range list {
		if e.Prefix == p.String() && e.Kind == "block" && e.Action == "DROP" && e.Enforced {
			return true
		}
	}
	return false
}

// fromPrefix counts the frames sent from inside p and those delivered, and
// the BENIGN flows sent and those delivered (at least 90% of their frames).
// Benign traffic is counted by flow, not by frame: a fleet verdict that hit
// benign sources would cut many flows, while one large flow the test's small
// model misjudges (a generated SMB transfer is a fifth of the benign frames)
// says nothing about the fleet.
func fromPrefix(frames []wire.Sent, rcv *wire.Received, p netip.Prefix) (sent, delivered, benign, benignDelivered int) {
	recv := arrived(frames, rcv)
	flows := map[xdp.Key]*[2]int{} // frames sent, delivered
	for i, s := range frames {
		got := recv[i]
		switch {
		case p.Contains(s.Src.Unmap()):
			sent++
			if got {
				delivered++
			}
		case s.Label == "BENIGN":
			f := flows[s.FlowKey]
			if f == nil {
				f = new([2]int)
				flows[s.FlowKey] = f
			}
			f[0]++
			if got {
				f[1]++
			}
		}
	}
	for _, f := range flows {
		benign++
		if 10*f[1] >= 9*f[0] {
			benignDelivered++
		}
	}
	return sent, delivered, benign, benignDelivered
}

// TestWireFleet runs two daemons inline on virtual wires of their own, members
// of one fleet on a nats-server in a namespace of its own (veth links to each
// appliance namespace): a `flowsieve fleet block` run on one box is enforced
// by the other's XDP program within 1 s (every frame from the prefix dropped,
// benign traffic delivered) and listed by `fleet list --json` there, as are
// the source verdicts the other's policy learned, which the first enforces; with the
// server killed the block stays enforced; restarted, an unblock reaches both;
// a model published on one is hot-swapped by both.
func TestWireFleet(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	model := train(t, dir)
	fleetNS := netnstest.New(t, "fs-fleet")
	srv := natstest.Start(t, natstest.Options{NS: fleetNS})

	var boxes []*fleetBox
	for i, name := range []string{"a", "b"} {
		tp := newTopo(t, 2)
		link := fmt.Sprintf("fl%d", i)
		if err := netns.AddVeth(netns.Veth{Name: link, Peer: "fl", NS: fleetNS, PeerNS: tp.App}); err != nil {
			t.Fatal(err)
		}
		if err := fleetNS.AddAddr(link, fmt.Sprintf("10.99.%d.1/30", i)); err != nil {
			t.Fatal(err)
		}
		if err := tp.App.AddAddr("fl", fmt.Sprintf("10.99.%d.2/30", i)); err != nil {
			t.Fatal(err)
		}
		b := &fleetBox{name: name, tp: tp, url: fmt.Sprintf("nats://10.99.%d.1:%d", i, srv.Port())}
		bdir := filepath.Join(dir, name)
		if err := os.MkdirAll(bdir, 0o700); err != nil {
			t.Fatal(err)
		}
		pin := testPinDir("fleet-" + name)
		t.Cleanup(func() { os.RemoveAll(pin) })
		b.d = startDaemonWith(t, tp, bdir, model, pin, false, "source",
			fmt.Sprintf("fleet: {url: %q, name: %s, model: follow}\n", b.url, name))
		b.ctl = control.NewClient(filepath.Join(bdir, "control.sock"))
		boxes = append(boxes, b)
	}
	a, b := boxes[0], boxes[1]
	defer func() {
		if t.Failed() {
			for _, x := range boxes {
				t.Logf("daemon %s log:\n%s", x.name, x.d.log.String())
			}
		}
	}()
	waitFleet := func(within time.Duration, what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > within {
				t.Fatalf("not within %v: %s", within, what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}

	// Before any block, frames from the attackers pass b until their flows are decided.
	attackers := netip.MustParsePrefix("192.0.2.0/24")
	frames, rcv := replay(t, b.tp, 11, 2*time.Second, nil)
	if sent, delivered, _, _ := fromPrefix(frames, rcv, attackers); sent == 0 || delivered == 0 {
		t.Fatalf("before the block b delivered %d of %d frames from %v, want some (the test could not fail)", delivered, sent, attackers)
	} else {
		t.Logf("no block: b delivered %d of %d frames from %v", delivered, sent, attackers)
	}

	// A block set on a is enforced by b within 1 s and listed there.
	if out, err := flowsieve(a.tp.App, "fleet", "block", "--nats", a.url, "--ttl", "10m", "--reason", "wire test", attackers.String()); err != nil {
		t.Fatalf("fleet block on a: %v\n%s", err, out)
	}
	took := waitFleet(time.Second, "b enforces the block", func() bool { return b.enforced(t, attackers) })
	t.Logf("a's fleet block enforced by b after %v", took)
	waitFleet(time.Second, "a enforces the block", func() bool { return a.enforced(t, attackers) })
	out, err := flowsieve(b.tp.App, "fleet", "list", "--json", "--nats", b.url)
	var list []fleet.Entry
	if err != nil || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("fleet list --json on b: %v\n%s", err, out)
	}
	var listed bool
	var learned []netip.Prefix // source verdicts b's policy made in the first replay, shared
	for _, e := range list {
		v := e.Verdict
		listed = listed || (v.Prefix == attackers && v.Scope == fleet.ScopeBlock && v.Reason == "wire test")
		if v.Scope == fleet.ScopeSource && v.Origin == "b" {
			learned = append(learned, v.Prefix)
		}
	}
	if !listed {
		t.Fatalf("fleet list --json on b lacks a's block:\n%s", out)
	}
	if len(learned) == 0 {
		t.Fatalf("b shared no source verdict of its policy:\n%s", out)
	}
	waitFleet(time.Second, "a enforces what b learned", func() bool { return a.enforced(t, learned[0]) })
	t.Logf("b shared %d learned source verdicts; a enforces %v", len(learned), learned[0])

	check := func(when string) {
		t.Helper()
		frames, rcv := replay(t, b.tp, 11, 2*time.Second, nil)
		sent, delivered, benign, benignDelivered := fromPrefix(frames, rcv, attackers)
		t.Logf("%s: b delivered %d of %d frames from %v, %d of %d benign flows delivered", when, delivered, sent, attackers, benignDelivered, benign)
		if sent == 0 || delivered != 0 {
			t.Errorf("%s: %d of %d frames from the fleet-blocked %v delivered through b, want none", when, delivered, sent, attackers)
		}
		if benign == 0 || float64(benignDelivered) < 0.9*float64(benign) {
			t.Errorf("%s: %d of %d benign flows delivered through b, want >= 90%%", when, benignDelivered, benign)
			b.explain(t)
		}
	}
	check("server up")
	fleetMetric := func(x *fleetBox, name string) float64 {
		t.Helper()
		text, err := scrape(x.tp.App, "/metrics")
		if err != nil {
			t.Fatalf("%s: scrape: %v", x.name, err)
		}
		return metric(text, name)
	}
	// b's drop verdicts reached the fleet's alert stream.
	waitFleet(2*time.Second, "alerts in the fleet's stream", func() bool {
		out, err := flowsieve(a.tp.App, "fleet", "status", "--json", "--nats", a.url)
		var st fleet.FleetStatus
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Alerts > 0
	})
	if c, n := fleetMetric(b, "flowsieve_fleet_connected"), fleetMetric(b, "flowsieve_fleet_enforced"); c != 1 || n < 2 {
		t.Errorf("b's metrics: fleet_connected %v, fleet_enforced %v; want 1 and >= 2 (a's block, b's learned verdicts)", c, n)
	}

	// Without the server, b keeps enforcing.
	srv.Kill()
	check("server killed")
	waitFleet(5*time.Second, "b's metrics show the server lost", func() bool { return fleetMetric(b, "flowsieve_fleet_connected") == 0 })
	if !b.enforced(t, attackers) {
		t.Fatal("b dropped the block with the server gone")
	}

	// Back: an unblock made on a reaches b; a model published on a reaches both.
	srv.Restart()
	if out, err := flowsieve(a.tp.App, "fleet", "unblock", "--nats", a.url, attackers.String()); err != nil {
		t.Fatalf("fleet unblock on a: %v\n%s", err, out)
	}
	for _, x := range boxes {
		waitFleet(5*time.Second, x.name+" withdraws the block", func() bool { return !x.enforced(t, attackers) })
	}
	if out, err := flowsieve(a.tp.App, "model", "publish", "--nats", a.url, model); err != nil {
		t.Fatalf("model publish on a: %v\n%s", err, out)
	}
	for _, x := range boxes {
		waitFleet(5*time.Second, x.name+" runs the published model", func() bool {
			mi, err := x.ctl.ModelShow(context.Background())
			return err == nil && strings.HasSuffix(mi.Path, filepath.Join("fleet-models", "v000001.json"))
		})
	}
	for _, x := range boxes {
		if err := x.d.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("daemon %s exit: %v", x.name, err)
		}
	}
}
