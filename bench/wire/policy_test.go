package wire_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// flowTally counts the frames of a replay by who started the flow and whether they
// arrived.
type flowTally struct{ sent, delivered, after, afterDelivered int }

// tally sums the attack frames (not BENIGN, not the TAG label) of flows whose first
// frame came from inside in (in) and from outside it (out).
func tally(frames []wire.Sent, rcv *wire.Received, in netip.Prefix) (inside, outside flowTally) {
	recv := arrived(frames, rcv)
	initiator := map[any]netip.Addr{}
	for i, s := range frames {
		got := recv[i]
		if _, ok := initiator[s.FlowKey]; !ok {
			initiator[s.FlowKey] = s.Src
		}
		if s.Label == "BENIGN" || s.Label == tagLabel {
			continue
		}
		ft := &outside
		if in.Contains(initiator[s.FlowKey].Unmap()) {
			ft = &inside
		}
		ft.sent++
		if got {
			ft.delivered++
		}
		if s.After {
			ft.after++
			if got {
				ft.afterDelivered++
			}
		}
	}
	return inside, outside
}

// TestWirePolicyControl steers a running daemon through its control socket:
//   - a policy allowlist covering half of the attackers' block: their attack flows are
//     delivered, although the same attacks from the other half are decided DROP;
//   - a policy applied through the socket (every label PASS) changes the actions of the
//     next flows without a restart: no new DROP decision, attack frames delivered;
//   - a block made through the socket and the applied policy survive a restart of the
//     daemon that removed its pinned maps (restored from its state directory), and the
//     block drops every frame its sources send after the restart.
func TestWirePolicyControl(t *testing.T) {
	r := startWireRun(t, "policy", "flow")
	dir, model, pin, tp, d := r.dir, r.model, r.pin, r.tp, r.d
	logOnFailure(t, &d)
	ctx := context.Background()
	c := control.NewClient(filepath.Join(dir, "control.sock"))

	// 0. Under the test policy, attacks from the attackers' block are decided DROP.
	attackers := netip.MustParsePrefix("192.0.2.0/24")
	frames, rcv := replay(t, tp, 7, 2*time.Second, nil)
	in0, _ := tally(frames, rcv, attackers)
	t.Logf("test policy: %d of %d attack frames from %v after the decision point delivered", in0.afterDelivered, in0.after, attackers)
	if in0.after == 0 || in0.afterDelivered == in0.after {
		t.Fatalf("no attack frame from %v dropped under the test policy (%d of %d delivered): nothing for the allowlist to override", attackers, in0.afterDelivered, in0.after)
	}
	before, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// 1. The same policy with the attackers' block allowlisted, applied through the
	// socket: the model still says attack, nothing of theirs is dropped.
	var spec policy.Spec
	if err := yaml.Unmarshal([]byte(policyYAML("flow")), &spec); err != nil {
		t.Fatal(err)
	}
	spec.Allowlist = []string{attackers.String()}
	pol, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.PolicyApply(ctx, pol, false); err != nil || !res.Applied {
		t.Fatalf("apply the allowlist: %+v %v", res, err)
	}
	if _, err := c.VerdictsFlush(ctx, control.VerdictQuery{Action: "DROP"}); err != nil { // the test policy's
		t.Fatal(err)
	}
	frames, rcv = replay(t, tp, 8, 2*time.Second, nil)
	in, _ := tally(frames, rcv, attackers)
	after, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	attacks := func(s control.Stats) uint64 { return sum(s.Labels) - s.Labels["BENIGN"] }
	t.Logf("allowlist: %d of %d attack frames from %v delivered (%d of %d after the decision point); %d flows classified as attacks",
		in.delivered, in.sent, attackers, in.afterDelivered, in.after, attacks(after)-attacks(before))
	if in.after == 0 || attacks(after) == attacks(before) {
		t.Fatalf("the second replay has %d attack frames after the decision point from %v and %d flows classified as attacks", in.after, attackers, attacks(after)-attacks(before))
	}
	if share := float64(in.delivered) / float64(in.sent); share < 0.995 {
		t.Errorf("allowlisted attackers' frames delivered %.2f%% (%d of %d), want >= 99.5%%", 100*share, in.delivered, in.sent)
	}
	vl, err := c.VerdictsList(ctx, control.VerdictQuery{Action: "DROP", Prefix: attackers})
	if err != nil {
		t.Fatal(err)
	}
	if len(vl.Verdicts) != 0 {
		t.Errorf("%d DROP verdicts of allowlisted flows, e.g. %+v", len(vl.Verdicts), vl.Verdicts[0])
	}
	// 2. Apply a policy that passes every label; the daemon keeps running.
	pass, err := policy.Compile(policy.Spec{Version: 1, Default: policy.ActionSpec{Action: "PASS"}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.PolicyApply(ctx, pass, false); err != nil || !res.Applied {
		t.Fatalf("apply the PASS policy: %+v %v", res, err)
	}
	if _, err := c.VerdictsFlush(ctx, control.VerdictQuery{}); err != nil { // verdicts of the old policy's flows
		t.Fatal(err)
	}
	// Count decisions from the swap on: flows of the first replay that ended between the
	// last snapshot and the apply were rightly decided under the old policy, and a batch
	// already being classified when the pointer was stored finishes with the old one.
	time.Sleep(100 * time.Millisecond)
	if before, err = c.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	frames, rcv = replay(t, tp, 9, 2*time.Second, nil)
	_, all := tally(frames, rcv, netip.Prefix{})
	after, err = c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("under the PASS policy: %d of %d attack frames after the decision point delivered; DROP decisions %d before, %d after",
		all.afterDelivered, all.after, before.Actions["DROP"], after.Actions["DROP"])
	if after.Actions["DROP"] != before.Actions["DROP"] {
		t.Errorf("%d DROP decisions under a policy that passes everything", after.Actions["DROP"]-before.Actions["DROP"])
	}
	if sum(after.Labels) <= sum(before.Labels) {
		t.Error("no flow classified during the second replay")
	}
	if share := float64(all.afterDelivered) / float64(all.after); all.after == 0 || share < 0.995 {
		t.Errorf("attack frames after the decision point delivered %.2f%% (%d of %d) under the PASS policy, want >= 99.5%%", 100*share, all.afterDelivered, all.after)
	}
	if st, err := c.Status(ctx); err != nil || st.PID != d.cmd.Process.Pid {
		t.Errorf("status after the apply: %+v %v (daemon PID %d)", st, err, d.cmd.Process.Pid)
	}

	// 3. Block the attackers, restart the daemon (its pinned maps are
	// removed on exit), and check the block and the policy came back.
	blocked := attackers
	if _, err := c.Block(ctx, control.BlockRequest{Prefix: blocked, Reason: "wire test"}); err != nil {
		t.Fatalf("block: %v", err)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, d.log.String())
	}
	d = startDaemon(t, tp, dir, model, pin, false, "flow")
	blocks, err := c.BlocksList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var restored *control.BlockEntry
	for i := range blocks {
		if blocks[i].Prefix == blocked.String() && blocks[i].Kind == "block" {
			restored = &blocks[i]
		}
	}
	if restored == nil || !restored.Enforced || restored.Action != "DROP" || restored.Reason != "wire test" {
		t.Fatalf("block after the restart: %+v (list %+v)", restored, blocks)
	}
	if info, err := c.PolicyShow(ctx); err != nil || info.Source != "applied" || len(info.Spec.Rules) != 0 || info.Spec.Default.Action != "PASS" {
		t.Fatalf("policy after the restart: %+v %v", info, err)
	}
	frames, rcv = replay(t, tp, 10, 2*time.Second, nil)
	recv := arrived(frames, rcv)
	var fromBlocked, leaked, others, othersDelivered int
	for i, s := range frames {
		got := recv[i]
		if blocked.Contains(s.Src.Unmap()) {
			fromBlocked++
			if got {
				leaked++
			}
		} else if s.Label == "BENIGN" {
			others++
			if got {
				othersDelivered++
			}
		}
	}
	t.Logf("after the restart: %d of %d frames from %v delivered; %d of %d benign frames from elsewhere", leaked, fromBlocked, blocked, othersDelivered, others)
	if fromBlocked == 0 || others == 0 {
		t.Fatalf("the replay sent %d frames from %v and %d benign frames from elsewhere", fromBlocked, blocked, others)
	}
	if leaked != 0 {
		t.Errorf("%d frames from the restored block %v delivered", leaked, blocked)
	}
	if share := float64(othersDelivered) / float64(others); share < 0.995 {
		t.Errorf("benign frames delivered %.2f%% after the restart, want >= 99.5%%", 100*share)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("restarted daemon exit: %v", err)
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// TestWireOperatorAllow runs the daemon with a policy whose flood rule drops the
// flooding source (a /32 in the source trie, longer than any operator allow around
// it). With `allow` on the attackers' block through the control socket, the policy
// writes no source verdict at all (the allow's PASS trie entry forwards the
// attackers' frames in the kernel, so user space sees the flows from the victim's
// replies and would otherwise drop the victim), and their frames are delivered
// (the worker does not drop the frame that completes a DROP decision either). After
// `disallow` the same attacks are dropped again.
func TestWireOperatorAllow(t *testing.T) {
	r := startWireRun(t, "allow", "source")
	dir, tp, d := r.dir, r.tp, r.d
	logOnFailure(t, &d)
	ctx := context.Background()
	c := control.NewClient(filepath.Join(dir, "control.sock"))
	attackers := netip.MustParsePrefix("192.0.2.0/24")
	if _, err := c.Allow(ctx, control.BlockRequest{Prefix: attackers, Reason: "wire test"}); err != nil {
		t.Fatalf("allow: %v", err)
	}
	frames, rcv := replay(t, tp, 7, 2*time.Second, nil)
	in, _ := tally(frames, rcv, attackers)
	flows := map[any]bool{}
	for _, s := range frames {
		if s.Label != "BENIGN" && s.Label != tagLabel && (attackers.Contains(s.Src.Unmap()) || attackers.Contains(s.FlowKey.Lo().Addr()) || attackers.Contains(s.FlowKey.Hi().Addr())) {
			flows[s.FlowKey] = true
		}
	}
	lost := in.sent - in.delivered
	t.Logf("allowed: %d of %d attack frames of %d flows from %v delivered (%d of %d after the decision point)",
		in.delivered, in.sent, len(flows), attackers, in.afterDelivered, in.after)
	if in.after == 0 {
		t.Fatalf("no attack frame from %v after the decision point", attackers)
	}
	if share := float64(in.delivered) / float64(in.sent); share < 0.995 {
		t.Errorf("allowed attackers' frames delivered %.2f%% (%d lost of %d, %d flows), want >= 99.5%%", 100*share, lost, in.sent, len(flows))
	}
	blocks, err := c.BlocksList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victims := netip.MustParsePrefix("203.0.113.0/24") // the servers the attackers flood
	for _, b := range blocks {
		p, err := netip.ParsePrefix(b.Prefix)
		if err == nil && b.Kind == "policy" && b.Action != "PASS" && (p.Overlaps(attackers) || p.Overlaps(victims)) {
			t.Errorf("policy source verdict for a flow with an allowed endpoint: %+v", b)
		}
	}

	if ok, err := c.Disallow(ctx, attackers); err != nil || !ok {
		t.Fatalf("disallow: %v %v", ok, err)
	}
	frames, rcv = replay(t, tp, 8, 2*time.Second, nil)
	in, _ = tally(frames, rcv, attackers)
	t.Logf("disallowed: %d of %d attack frames from %v after the decision point delivered", in.afterDelivered, in.after, attackers)
	if in.after == 0 || in.afterDelivered == in.after {
		t.Errorf("after disallow no attack frame from %v was dropped (%d of %d delivered)", attackers, in.afterDelivered, in.after)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("daemon exit: %v", err)
	}
}
