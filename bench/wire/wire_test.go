// Package wire_test is the end-to-end test of the appliance on a virtual wire: a
// client namespace and a server namespace joined through an appliance namespace by
// veth pairs, all created by the test. The daemon (`flowsieve run`, this test binary
// re-executed inside the appliance namespace) runs inline with a model trained in the
// test on generated traffic; a different generated mix is replayed through it in real
// time from both ends, and what arrives at the other end is compared with what was
// sent.
package wire_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/bench/commands"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// envDaemon makes the test binary run the flowsieve CLI with its arguments instead of
// the tests, so the daemon can run as a child process inside the appliance namespace.
const envDaemon = "FLOWSIEVE_WIRE_DAEMON"

// newTopo builds the virtual wire for a test and removes it at the end.
func newTopo(t *testing.T, queues int) *wire.Topology {
	t.Helper()
	tp, err := wire.NewTopology("fs-wire", queues)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// replay replays the test mix through the wire.
func replay(t *testing.T, tp *wire.Topology, seed uint64, dur time.Duration, tick func(time.Duration)) ([]wire.Sent, *wire.Received) {
	t.Helper()
	frames, rcv, err := tp.Replay(wire.ReplayConfig{
		Traffic: traffic.Config{Scenario: "mixed", Seed: seed, Duration: dur, Rate: 300,
			Attacks: strings.Split(attacks, ",")},
		EarlyPackets: earlyPackets, Tick: tick,
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames, rcv
}

func TestMain(m *testing.M) {
	if os.Getenv(envDaemon) == "1" {
		os.Exit(cli.Run(append([]string{"flowsieve"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The early decision point and the attacks of the test mix.
const (
	earlyPackets = 8
	tagDSCP      = 46
	tagLabel     = "SSH-Patator"
)

var attacks = "ssh-bruteforce,http-flood,slowloris,scan-syn,syn-flood"

// train generates a labelled capture and trains a flow model on it with the CLI.
func train(t *testing.T, dir string) string {
	t.Helper()
	pcap, labels, model := filepath.Join(dir, "train.pcap"), filepath.Join(dir, "labels.csv"), filepath.Join(dir, "model.json")
	var out bytes.Buffer
	if code := commands.Run([]string{"flowsieve", "gen", "--scenario", "mixed", "--seed", "1", "--duration", "60s",
		"--attacks", attacks, "--rate", "300", "--out", pcap, "--labels", labels}, &out, &out); code != 0 {
		t.Fatalf("gen: %s", out.String())
	}
	out.Reset()
	if code := cli.Run([]string{"flowsieve", "train", "--data", pcap, "--labels", labels, "--decision-packets",
		strconv.Itoa(earlyPackets), "--flow-features", "--max-depth", "10", "--min-samples-leaf", "5", "--out", model}, &out, &out); code != 0 {
		t.Fatalf("train: %s", out.String())
	}
	return model
}

// policyYAML is the test policy; floodScope is the scope of the DoS Hulk rule.
func policyYAML(floodScope string) string {
	return `version: 1
rules:
  - name: tag-slow
    labels: "` + tagLabel + `"
    action: TAG
    dscp: 46
    ttl: 5m
  - name: flood
    labels: "DoS Hulk"
    min_probability: 0.9
    action: DROP
    scope: ` + floodScope + `
    ttl: 5m
  - name: attacks
    labels: ["SYN Flood", "PortScan", "DoS slowloris"]
    min_probability: 0.9
    action: DROP
    ttl: 5m
default:
  action: PASS
  ttl: 5m
`
}

// daemon is a `flowsieve run` child process inside the appliance namespace.
type daemon struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan error
}

func startDaemon(t *testing.T, tp *wire.Topology, dir, model, pinDir string, keep bool, floodScope string) *daemon {
	t.Helper()
	return startDaemonWith(t, tp, dir, model, pinDir, keep, floodScope, "")
}

// startDaemonWith is startDaemon with extra lines of configuration.
func startDaemonWith(t *testing.T, tp *wire.Topology, dir, model, pinDir string, keep bool, floodScope, extra string) *daemon {
	t.Helper()
	d, err := launchWith(tp, dir, model, pinDir, keep, floodScope, extra)
	if d != nil {
		t.Cleanup(func() { d.stop(t, syscall.SIGKILL) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// launch starts the daemon and waits until /healthz answers ok.
func launch(tp *wire.Topology, dir, model, pinDir string, keep bool, floodScope string) (*daemon, error) {
	return launchWith(tp, dir, model, pinDir, keep, floodScope, "")
}

// launchWith is launch with extra lines of configuration.
func launchWith(tp *wire.Topology, dir, model, pinDir string, keep bool, floodScope, extra string) (*daemon, error) {
	mode := "mode: inline\ninterfaces: {in: a0, out: a1}"
	if floodScope == "monitor" { // monitor mode on a0 (the policy's flood rule is per flow)
		mode, floodScope = "mode: monitor\ninterfaces: {monitor: a0}", "flow"
	}
	cfg := fmt.Sprintf(mode+`
queues: 2
cpus: [0, 1]
xdp: {mode: native, pin_dir: %s, keep_state_on_exit: %v}
flow: {early_packets: %d, idle_timeout: 5s, active_timeout: 2m, capacity: 65536}
model: {path: %s}
policy: {path: policy.yaml}
state_dir: %s
verdicts: {flush_interval: 5ms}
metrics: {listen: "127.0.0.1:9743"}
control: {socket: %s}
log: {level: %s}
`, pinDir, keep, earlyPackets, model, filepath.Join(dir, "state"), filepath.Join(dir, "control.sock"), logLevel()) + extra
	if err := os.WriteFile(filepath.Join(dir, "flowsieve.yaml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policyYAML(floodScope)), 0o600); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	d := &daemon{log: &bytes.Buffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command("ip", "netns", "exec", tp.App.Name(), exe, "run", "--config", filepath.Join(dir, "flowsieve.yaml"))
	d.cmd.Env = append(os.Environ(), envDaemon+"=1")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		body, err := scrape(tp.App, "/healthz")
		if err == nil && strings.TrimSpace(body) == "ok" {
			return d, nil
		}
		select {
		case err := <-d.done:
			d.done <- err
			return d, fmt.Errorf("daemon exited during start-up (%v):\n%s", err, d.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("daemon not healthy after 20 s (%v):\n%s", err, d.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the daemon and waits for it (idempotent).
func (d *daemon) stop(t *testing.T, sig syscall.Signal) error {
	select {
	case err := <-d.done:
		d.done <- err
		return err
	default:
	}
	// ip netns exec execs the binary, so the PID is the daemon's.
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("daemon did not stop on %v:\n%s", sig, d.log.String())
		return errors.New("timeout")
	}
}

// scrape GETs path from the daemon's metrics listener inside ns.
func scrape(ns *netns.NS, path string) (string, error) {
	return wire.Scrape(ns, "127.0.0.1:9743", path)
}

// metric sums the samples of a metric whose label set contains every filter string.
func metric(text, name string, filters ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, f := range filters {
			ok = ok && strings.Contains(line, f)
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// logLevel is the daemon's log level: debug (every verdict) with FLOWSIEVE_WIRE_DEBUG=1.
func logLevel() string {
	if os.Getenv("FLOWSIEVE_WIRE_DEBUG") == "1" {
		return "debug"
	}
	return "info"
}

// lostFrames returns the frames of label that did not arrive.
func lostFrames(frames []wire.Sent, rcv *wire.Received, label string) []wire.Sent {
	recv := arrived(frames, rcv)
	var out []wire.Sent
	for i, s := range frames {
		if !recv[i] && s.Label == label {
			out = append(out, s)
		}
	}
	return out
}

// leakedAfter returns the attack frames after their decision point that arrived.
func leakedAfter(frames []wire.Sent, rcv *wire.Received) []wire.Sent {
	recv := arrived(frames, rcv)
	var out []wire.Sent
	for i, s := range frames {
		if recv[i] && s.After && s.Label != "BENIGN" && s.Label != tagLabel {
			out = append(out, s)
		}
	}
	return out
}

// arrived reports for each of frames, in order, whether it was received: each
// copy rcv counted answers one frame with its identity.
func arrived(frames []wire.Sent, rcv *wire.Received) []bool {
	left := maps.Clone(rcv.Count)
	got := make([]bool, len(frames))
	for i, s := range frames {
		if left[s.ID] > 0 {
			left[s.ID]--
			got[i] = true
		}
	}
	return got
}

// mountBPF mounts a bpffs instance for the test in the host's mount namespace and
// returns its path. `ip netns exec` gives the daemon a private /sys, so pins under
// /sys/fs/bpf would vanish with its process; a bpffs mounted elsewhere is shared with
// it and outlives it, as the host's /sys/fs/bpf does for a daemon run without ip netns.
func mountBPF(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bpf")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func testPinDir(name string) string {
	return fmt.Sprintf("/sys/fs/bpf/fs-wire-%s-%d", name, os.Getpid())
}

// wireRun is the daemon most wire tests start from: running on a fresh two-queue
// topology with a model trained into dir, its maps pinned in pin.
type wireRun struct {
	dir, model, pin string
	tp              *wire.Topology
	d               *daemon
}

// startWireRun starts the wireRun of the test called name (which names its pin
// directory, removed when the test ends) with the flood scope floodScope (see
// startDaemon).
func startWireRun(t *testing.T, name, floodScope string) *wireRun {
	t.Helper()
	kerneltest.Require(t)
	r := &wireRun{dir: t.TempDir(), pin: testPinDir(name)}
	r.model = train(t, r.dir)
	r.tp = newTopo(t, 2)
	t.Cleanup(func() { os.RemoveAll(r.pin) })
	r.d = startDaemon(t, r.tp, r.dir, r.model, r.pin, false, floodScope)
	return r
}

// logOnFailure prints the log of the daemon *d when the test fails.
func logOnFailure(t *testing.T, d **daemon) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", (*d).log.String())
		}
	})
}

// TestWireInline runs the appliance inline on a two-queue virtual wire: benign flows
// arrive intact, attack flows are dropped once classified, the TAG label arrives with
// its DSCP rewritten, and both directions of flows that arrive on different queues
// are joined by the owning worker (handoff).
func TestWireInline(t *testing.T) {
	r := startWireRun(t, "inline", "flow")
	dir, tp, d := r.dir, r.tp, r.d
	if pinned := pinnedThreads(t, d.cmd.Process.Pid); pinned["0"] == 0 || pinned["1"] == 0 {
		t.Errorf("workers not pinned to CPUs 0 and 1: threads by CPU list %v", pinned)
	}

	start := time.Now()
	frames, rcv := replay(t, tp, 7, 10*time.Second, nil)
	elapsed := time.Since(start)
	// The flows the daemon decided DROP, from its control API (the kernel's flow map).
	decided := map[string]bool{}
	vl, err := control.NewClient(filepath.Join(dir, "control.sock")).VerdictsList(context.Background(), control.VerdictQuery{Action: "DROP"})
	if err != nil {
		t.Fatalf("verdicts list: %v", err)
	}
	for _, v := range vl.Verdicts {
		decided[v.Lo+" "+v.Hi+" "+strconv.Itoa(int(v.Proto))] = true
	}
	metrics, err := scrape(tp.App, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, d.log.String())
	}
	res := wire.Outcome(frames, rcv, tagDSCP)
	// Attack frames after the decision point of flows the daemon decided DROP: what
	// enforcement controls (misclassified flows are the model's accuracy, logged above).
	var decidedAfter, decidedAfterDropped int
	var benignClean, benignCleanOK, benignFP int // benign frames of flows without / with a DROP verdict
	recv := arrived(frames, rcv)
	for i, s := range frames {
		got := recv[i]
		k := s.FlowKey
		isDecided := decided[k.Lo().String()+" "+k.Hi().String()+" "+strconv.Itoa(int(k.Proto))]
		if s.Label == "BENIGN" {
			if isDecided {
				benignFP++
			} else {
				benignClean++
				if got {
					benignCleanOK++
				}
			}
		}
		if s.After && s.Label != "BENIGN" && s.Label != tagLabel && isDecided {
			decidedAfter++
			if !got {
				decidedAfterDropped++
			}
		}
	}
	var attackAfter, attackAfterDropped int
	for label, tl := range res {
		t.Logf("%-14s sent %6d delivered %6d (%.2f%%) | after decision point %6d dropped %6d tagged %6d",
			label, tl.Sent, tl.Delivered, 100*float64(tl.Delivered)/float64(tl.Sent), tl.After, tl.AfterDropped, tl.AfterTagged)
		if label != "BENIGN" && label != tagLabel {
			attackAfter += tl.After
			attackAfterDropped += tl.AfterDropped
		}
	}
	t.Logf("replayed %d frames in %v (%.0f pkt/s)", len(frames), elapsed.Round(time.Millisecond), float64(len(frames))/elapsed.Seconds())
	for _, m := range []string{"flowsieve_queue_packets_total", "flowsieve_queue_handoff_total", "flowsieve_verdicts_written_total",
		"flowsieve_classifications_total", "flowsieve_xdp_packets_total"} {
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, m) && !strings.HasSuffix(line, " 0") {
				t.Log(line)
			}
		}
	}
	b := res["BENIGN"]
	if b == nil || b.Sent == 0 || benignClean == 0 {
		t.Fatal("no benign traffic replayed")
	}
	// End to end, benign delivery also depends on the model's false positives on live
	// timing (benign flows decided DROP), which vary with the load of a shared machine;
	// the appliance must deliver every benign frame no verdict told it to drop.
	t.Logf("benign delivered %.2f%% (%d of %d) end to end; %d frames of benign flows the model decided DROP; %.2f%% (%d of %d) of the others",
		100*float64(b.Delivered)/float64(b.Sent), b.Delivered, b.Sent, benignFP,
		100*float64(benignCleanOK)/float64(benignClean), benignCleanOK, benignClean)
	if share := float64(benignCleanOK) / float64(benignClean); share < 0.995 {
		t.Errorf("benign frames of flows without a DROP verdict delivered %.2f%% (%d of %d), want >= 99.5%%", 100*share, benignCleanOK, benignClean)
	}
	if attackAfter == 0 || decidedAfter == 0 {
		t.Fatal("no attack packets after the decision point")
	}
	t.Logf("attack packets after the decision point dropped: %.2f%% (%d of %d) of all attack flows; %.2f%% (%d of %d) of the flows decided DROP (%d DROP verdicts)",
		100*float64(attackAfterDropped)/float64(attackAfter), attackAfterDropped, attackAfter,
		100*float64(decidedAfterDropped)/float64(decidedAfter), decidedAfterDropped, decidedAfter, len(decided))
	if share := float64(decidedAfterDropped) / float64(decidedAfter); share < 0.95 {
		t.Errorf("attack packets after the decision point of flows decided DROP: %.2f%% dropped (%d of %d), want >= 95%%", 100*share, decidedAfterDropped, decidedAfter)
	}
	if tl := res[tagLabel]; tl == nil || tl.AfterTagged == 0 {
		t.Errorf("no %s packet arrived with DSCP %d", tagLabel, tagDSCP)
	}
	if metric(metrics, "flowsieve_queue_handoff_total", `direction="in"`) == 0 {
		t.Error("no packet metadata was handed between workers: the asymmetric path is untested")
	}
	if metric(metrics, "flowsieve_verdicts_written_total") == 0 {
		t.Error("no verdict written")
	}
	if t.Failed() {
		leak := map[string]int{}
		leakFlows := map[xdp.Key]int{}
		for _, s := range leakedAfter(frames, rcv) {
			leak[fmt.Sprintf("%s toSrv=%v", s.Label, s.ToSrv)]++
			leakFlows[s.FlowKey]++
		}
		i := 0
		for k, n := range leakFlows {
			if i++; i <= 10 {
				t.Logf("attack flow %v: %d frames after the decision point arrived", k, n)
			}
		}
		t.Logf("attack frames after the decision point that arrived: %v", leak)
		lost := map[xdp.Key]int{}
		for _, s := range lostFrames(frames, rcv, "BENIGN") {
			lost[s.FlowKey]++
		}
		for k, n := range lost {
			t.Logf("benign flow %v: %d frames lost", k, n)
		}
		t.Logf("daemon log:\n%s", d.log.String())
	}
}

// TestWireKillRestart kills the daemon with SIGKILL in the middle of a replay: the
// pinned program keeps forwarding (fail open) within a second and keeps enforcing the
// DROP verdicts written before (a source-scoped DROP of the flooding host); a restarted daemon picks up the pinned maps and
// counters and inspects again.
func TestWireKillRestart(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	model := train(t, dir)
	tp := newTopo(t, 2)
	pin := filepath.Join(mountBPF(t), "flowsieve")
	d := startDaemon(t, tp, dir, model, pin, true, "source")

	const killAt, restartAt = 3 * time.Second, 6 * time.Second
	var (
		mu          sync.Mutex
		killed      time.Duration
		restarted   time.Duration
		d2          *daemon
		restartErr  error
		dropsBefore float64
	)
	done := make(chan struct{})
	frames, rcv := replay(t, tp, 7, 9*time.Second, func(el time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case el >= killAt && killed == 0:
			if m, err := scrape(tp.App, "/metrics"); err == nil {
				dropsBefore = metric(m, "flowsieve_xdp_packets_total", `counter="drop"`)
			}
			d.cmd.Process.Kill()
			killed = el
		case el >= restartAt && restarted == 0:
			restarted = el
			go func() {
				defer close(done)
				nd, err := launch(tp, dir, model, pin, true, "source")
				mu.Lock()
				d2, restartErr = nd, err
				mu.Unlock()
			}()
		}
	})
	<-done
	mu.Lock()
	defer mu.Unlock()
	if d2 != nil {
		t.Cleanup(func() { d2.stop(t, syscall.SIGKILL) })
	}
	if restartErr != nil {
		t.Fatalf("restart: %v", restartErr)
	}
	if <-d.done; true {
		d.done <- nil
	}
	t.Logf("killed at %v, restarted at %v", killed.Round(time.Millisecond), restarted.Round(time.Millisecond))

	// While the daemon is down (from a second after the kill to the restart), benign
	// traffic flows through the kernel, and flows decided DROP before the kill stay
	// dropped.
	recv := arrived(frames, rcv)
	decidedDrop := map[netip.Addr]bool{}
	lostBefore := map[netip.Addr]bool{} // sources with any frame lost before the kill
	var benign, benignOK, enforced, enforcedDropped, fpFrames int
	for i, s := range frames {
		got := recv[i]
		switch {
		case s.At < killed:
			// An attacker whose frames past the decision point were dropped before the
			// kill got a source-scoped DROP (the policy's flood rule).
			if s.After && !got && s.ToSrv && s.Label == "DoS Hulk" {
				decidedDrop[s.Src] = true
			}
			if !got {
				lostBefore[s.Src] = true
			}
		case s.At >= killed+time.Second && s.At < restarted:
			if s.Label == "BENIGN" && lostBefore[s.Src] {
				fpFrames++ // a source the model wrongly blocked before the kill stays blocked
			} else if s.Label == "BENIGN" {
				benign++
				if got {
					benignOK++
				}
			} else if s.ToSrv && decidedDrop[s.Src] {
				enforced++
				if !got {
					enforcedDropped++
				}
			}
		}
	}
	t.Logf("daemon down: benign delivered %d of %d (not counting %d frames of benign sources blocked before the kill); frames from sources dropped before the kill: %d of %d dropped",
		benignOK, benign, fpFrames, enforcedDropped, enforced)
	if benign == 0 || float64(benignOK) < 0.995*float64(benign) {
		t.Errorf("daemon down: benign delivered %d of %d, want >= 99.5%%", benignOK, benign)
	}
	if enforced == 0 || enforcedDropped != enforced {
		t.Errorf("daemon down: %d of %d frames from sources decided DROP before the kill were dropped, want all", enforcedDropped, enforced)
	}

	// The restarted daemon reuses the pinned maps: the program's counters go on from
	// where they were, and it inspects and classifies again.
	m, err := scrape(tp.App, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "flowsieve_xdp_packets_total") && !strings.HasSuffix(line, " 0") {
			t.Log(line)
		}
	}
	if drops := metric(m, "flowsieve_xdp_packets_total", `counter="drop"`); drops < dropsBefore || dropsBefore == 0 {
		t.Errorf("xdp drop counter %v after the restart, %v before the kill: pinned state not reused", drops, dropsBefore)
	}
	if n := metric(m, "flowsieve_queue_packets_total", `action="received"`); n == 0 {
		t.Error("the restarted daemon received no frame")
	}
	if err := d2.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("restarted daemon exit: %v", err)
	}
	if t.Failed() {
		t.Logf("restarted daemon log:\n%s", d2.log.String())
	}
}

// TestWireReload sends SIGHUP to the running daemon: a broken model file is rejected
// and the running model stays (the daemon stays healthy), a valid one is swapped in.
func TestWireReload(t *testing.T) {
	r := startWireRun(t, "reload", "flow")
	model, tp, d := r.model, r.tp, r.d
	good, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}

	// waitReloads waits until reloads_total{result} reaches want.
	waitReloads := func(result string, want float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			m, err := scrape(tp.App, "/metrics")
			if err == nil && metric(m, "flowsieve_reloads_total", `result="`+result+`"`) >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("reloads_total{result=%q} did not reach %v:\n%s", result, want, d.log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := os.WriteFile(model, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitReloads("rejected", 1)
	if body, err := scrape(tp.App, "/healthz"); err != nil || strings.TrimSpace(body) != "ok" {
		t.Fatalf("after a rejected reload: healthz %q, %v", body, err)
	}
	if err := os.WriteFile(model, good, 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitReloads("ok", 1)
	if err := d.stop(t, syscall.SIGINT); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, d.log.String())
	}
	if !strings.Contains(d.log.String(), "reload rejected") {
		t.Errorf("the rejected reload was not logged:\n%s", d.log.String())
	}
}

// TestWireMonitor runs the daemon in monitor mode on the appliance's client-side
// interface: the traffic the client sends is inspected and classified and verdicts are
// written, and nothing is forwarded by user space.
func TestWireMonitor(t *testing.T) {
	r := startWireRun(t, "monitor", "monitor")
	tp, d := r.tp, r.d
	frames, _ := replay(t, tp, 7, 4*time.Second, nil)
	m, err := scrape(tp.App, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, d.log.String())
	}
	toSrv := 0
	for _, s := range frames {
		if s.ToSrv {
			toSrv++
		}
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "flowsieve_xdp_packets_total") && !strings.HasSuffix(line, " 0") {
			t.Log(line)
		}
	}
	got := metric(m, "flowsieve_queue_packets_total", `action="received"`)
	fwd := metric(m, "flowsieve_queue_packets_total", `action="forwarded"`)
	cls := metric(m, "flowsieve_classifications_total")
	t.Logf("client sent %d frames; user space received %v, forwarded %v; %v flows classified", toSrv, got, fwd, cls)
	if got == 0 || cls == 0 {
		t.Errorf("monitor mode inspected %v frames and classified %v flows, want both > 0", got, cls)
	}
	if fwd != 0 {
		t.Errorf("monitor mode forwarded %v frames", fwd)
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", d.log.String())
	}
}

// pinnedThreads counts a process's threads by their CPU affinity list.
func pinnedThreads(t *testing.T, pid int) map[string]int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				out[strings.TrimSpace(rest)]++
			}
		}
	}
	return out
}

// vmRSS returns a process's resident set size in kB.
func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

// TestWireSYNFlood floods the appliance with SYNs from hundreds of thousands of
// distinct spoofed sources while benign traffic runs: the daemon's memory stays within
// the bound its configured capacities imply, the flow tables never hold more than their
// capacity, the daemon stays healthy, and benign flows keep being delivered: at least
// minTransport of the benign frames of flows without a DROP verdict arrive (the loss
// there is the client-side AF_XDP ring overflowing under the flood) and at most
// maxDropFlows of the benign flows get a DROP verdict. The share of all benign frames
// is logged, not asserted: it depends on which flows the model gets wrong (2 of the 153
// are decided DoS Hulk even without the flood, one of 182 frames: 96.2% delivered).
//
// The benign replay is causal (wire.ReplayConfig.Causal): an answer waits for the frame
// it answers, as a real peer would. Sent on schedule, answers overtook their requests
// queued behind the flood, the appliance took the server for the flow's source, and the
// swapped features looked like DoS slowloris: the capture's long TLS download (3221 of
// 4897 frames) was dropped in about half the runs.
//
// Known gap: a frame a worker forwards uninspected because its flow's owner's handoff
// ring is full (thousands per run) can flip its flow the same way in production; 0-2
// benign flows per run are still decided DoS slowloris with the server as source.
func TestWireSYNFlood(t *testing.T) {
	r := startWireRun(t, "flood", "flow")
	dir, tp, d := r.dir, r.tp, r.d
	rss0, err := vmRSS(d.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	const dur = 8 * time.Second
	var flooded int
	var floodErr error
	done := make(chan struct{})
	rssMid := make(chan int, 1)
	time.AfterFunc(dur/2, func() {
		r, _ := vmRSS(d.cmd.Process.Pid)
		rssMid <- r
	})
	go func() {
		defer close(done)
		flooded, floodErr = tp.SYNFlood(1_000_000, netip.MustParseAddr("203.0.113.10"), time.Now().Add(dur))
	}()
	frames, rcv, err := tp.Replay(wire.ReplayConfig{
		Traffic: traffic.Config{Scenario: "benign", Seed: 3, Duration: dur, Rate: 300}, EarlyPackets: earlyPackets,
		Causal: causalWait})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if floodErr != nil {
		t.Fatal(floodErr)
	}
	m, err := scrape(tp.App, "/metrics")
	if err != nil {
		t.Fatalf("daemon unreachable after the flood: %v\n%s", err, d.log.String())
	}
	rss1, err := vmRSS(d.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if body, err := scrape(tp.App, "/healthz"); err != nil || strings.TrimSpace(body) != "ok" {
		t.Errorf("healthz after the flood: %q %v", body, err)
	}
	res := wire.Outcome(frames, rcv, tagDSCP)
	b := res["BENIGN"]
	flows := metric(m, "flowsieve_queue_flows")
	created := metric(m, "flowsieve_queue_inspect_total", `counter="flows"`)
	mid := <-rssMid
	t.Logf("flood: %d SYNs from distinct sources in %v; benign delivered %d of %d (%.1f%%); flow tables hold %v (%v created); RSS %d kB at start, %d kB half way, %d kB at the end",
		flooded, dur, b.Delivered, b.Sent, 100*float64(b.Delivered)/float64(b.Sent), flows, created, rss0, mid, rss1)
	for _, name := range []string{"flowsieve_queue_packets_total", "flowsieve_queue_verdicts_total", "flowsieve_xdp_packets_total", "flowsieve_afxdp_total"} {
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, name) && !strings.HasSuffix(line, " 0") && !strings.Contains(line, "filled") {
				t.Log(line)
			}
		}
	}
	bs, err := splitBenign(dir, frames, rcv)
	if err != nil {
		t.Fatalf("benign verdicts: %v", err)
	}
	t.Logf("benign flows %d: %d with a DROP verdict (%d of their %d frames lost), %d with a frame lost; frames of the other flows: %d of %d delivered (%.2f%%)",
		bs.Flows, bs.DropFlows, bs.DropLost, bs.DropFrames, bs.LossFlows, bs.Frames-bs.Lost, bs.Frames, 100*float64(bs.Frames-bs.Lost)/float64(max(1, bs.Frames)))
	const minTransport, maxDropFlows = 0.98, 0.05
	if bs.Frames < b.Sent/10 || float64(bs.Frames-bs.Lost) < minTransport*float64(bs.Frames) {
		t.Errorf("benign frames of flows without a DROP verdict: %d of %d delivered, want at least %.1f%%", bs.Frames-bs.Lost, bs.Frames, 100*minTransport)
	}
	if float64(bs.DropFlows) > maxDropFlows*float64(bs.Flows) {
		t.Errorf("%d of %d benign flows got a DROP verdict under the flood, want at most %.0f%%", bs.DropFlows, bs.Flows, 100*maxDropFlows)
	}
	if flooded < 100_000 {
		t.Errorf("only %d SYNs sent: the flood did not load the appliance", flooded)
	}
	if flows > 65536 {
		t.Errorf("flow tables hold %v flows, over the configured capacity 65536", flows)
	}
	// The bound the configuration implies: the flow tables (about 500 bytes a flow,
	// preallocated, touched as they fill; 1 KB allowed) with the Go GC's heap headroom
	// (x3), both workers' UMEMs (8 MB each) and rings, and 64 MB for the runtime. The
	// flood brings several times the capacity in distinct sources, so memory growing
	// with the sources (a few hundred bytes each) would exceed it.
	const capacity = 65536
	bound := 3*capacity*1 + 2*8<<10 + 64<<10 // kB
	if rss1-rss0 > bound {
		t.Errorf("RSS grew by %d kB during the flood, over the %d kB the capacities allow", rss1-rss0, bound)
	}
	if flooded < 4*capacity {
		t.Errorf("only %d distinct sources: not enough to overflow the flow tables several times", flooded)
	}
}

// TestWireControl drives the running daemon through its control socket: status, model
// show and load (a broken file is refused, the model in force stays), policy apply (dry
// run, then for real: persisted and in force), and a block written to the maps.
func TestWireControl(t *testing.T) {
	r := startWireRun(t, "control", "flow")
	dir, model, d := r.dir, r.model, r.d
	ctx := context.Background()
	c := control.NewClient(filepath.Join(dir, "control.sock"))

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, d.log.String())
	}
	if st.Mode != "inline" || st.Queues != 2 || len(st.Model.Classes) == 0 || st.PID != d.cmd.Process.Pid {
		t.Errorf("status %+v", st)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"format": "flowsieve-model"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModelLoad(ctx, broken); err == nil {
		t.Error("a broken model was loaded")
	}
	if mi, err := c.ModelShow(ctx); err != nil || mi.Path != model {
		t.Errorf("model in force after the refused load: %+v %v", mi, err)
	}
	if mi, err := c.ModelLoad(ctx, model); err != nil || mi.Nodes == 0 {
		t.Errorf("reloading the model: %+v %v", mi, err)
	}

	spec := policy.Spec{Version: 1, Default: policy.ActionSpec{Action: "PASS"}}
	pol, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	dry, err := c.PolicyApply(ctx, pol, true)
	if err != nil || dry.Applied || len(dry.Changes) == 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if info, _ := c.PolicyShow(ctx); len(info.Spec.Rules) == 0 {
		t.Error("a dry run changed the policy")
	}
	if res, err := c.PolicyApply(ctx, pol, false); err != nil || !res.Applied {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if info, err := c.PolicyShow(ctx); err != nil || info.Source != "applied" || len(info.Spec.Rules) != 0 {
		t.Errorf("policy after apply: %+v %v", info, err)
	}

	pfx := netip.MustParsePrefix("192.0.2.0/24")
	if _, err := c.Block(ctx, control.BlockRequest{Prefix: pfx, Reason: "test"}); err != nil {
		t.Fatalf("block: %v", err)
	}
	blocks, err := c.BlocksList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range blocks {
		found = found || b.Prefix == pfx.String()
	}
	if !found {
		t.Errorf("block of %v not listed: %+v", pfx, blocks)
	}
	stats, err := c.Stats(ctx)
	if err != nil || len(stats.Queues) == 0 || len(stats.Kernel) == 0 {
		t.Errorf("stats: %+v %v", stats, err)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, d.log.String())
	}
}
