package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/flowsieve/flowsieve/bench/wire"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// PathAppliance: the real appliance (`flowsieve run`, inline between ha0 and ha1)
// classifies every flow with a model trained by the harness and writes the
// verdicts itself.
const PathAppliance = "appliance"

// Appliance says how to start the daemon inside the appliance namespace.
type Appliance struct {
	// Command is the argv prefix that runs the flowsieve CLI (e.g. the flowsieve
	// binary); "run --config FILE" is appended.
	Command []string
	Env     []string // extra environment of the daemon
	Model   *model.Model
	// Policy is the policy file's YAML; "" drops every class but BENIGN.
	Policy string
}

// dropAttacksYAML is the appliance path's policy: BENIGN passes, every other class
// is dropped for 5 minutes, the DROP covering the flow or, with ScopeSource, its
// source (--scope source on the appliance path). The default is ScopeFlow's.
func dropAttacksYAML(scope string) string {
	drop := "  action: DROP\n"
	if scope == ScopeSource {
		drop += "  scope: source\n"
	}
	return "version: 1\nrules:\n  - name: benign\n    labels: \"BENIGN\"\n    action: PASS\n    ttl: 5m\n" +
		"default:\n" + drop + "  ttl: 5m\n"
}

// idleTimeout is the daemon's flow idle timeout: replays leave gaps far shorter,
// and after a replay the harness waits about this long for the daemon to end
// (and classify) the flows still live.
const idleTimeout = 2 * time.Second

const metricsAddr = "127.0.0.1:9743"

// daemon is a `flowsieve run` child process inside the appliance namespace.
type daemon struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan error
	ns   *netns.NS
	ctl  string // control socket
}

// startDaemon writes the model, policy and configuration into dir and starts the
// daemon, waiting until /healthz answers ok.
func startDaemon(a *Appliance, ns *netns.NS, queues, decision int, dir string) (*daemon, error) {
	if len(a.Command) == 0 || a.Model == nil {
		return nil, errors.New("harness: appliance path needs a command and a model")
	}
	mp := filepath.Join(dir, "model.json")
	if err := a.Model.Save(mp); err != nil {
		return nil, err
	}
	pol := a.Policy
	if pol == "" {
		pol = dropAttacksYAML(ScopeFlow)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(pol), 0o600); err != nil {
		return nil, err
	}
	pin := filepath.Join("/sys/fs/bpf", fmt.Sprintf("fs-harness-%d-%d", os.Getpid(), time.Now().UnixNano()))
	cfg := fmt.Sprintf(`mode: inline
interfaces: {in: %s, out: %s}
queues: %d
xdp: {mode: native, pin_dir: %s, keep_state_on_exit: false}
flow: {early_packets: %d, idle_timeout: %s, active_timeout: 2m, capacity: 262144}
model: {path: %s}
policy: {path: policy.yaml}
state_dir: %s
verdicts: {flush_interval: 1ms}
metrics: {listen: "%s"}
control: {socket: %s}
log: {level: info}
`, AppIn, AppOut, queues, pin, decision, idleTimeout, mp, filepath.Join(dir, "state"), metricsAddr, filepath.Join(dir, "control.sock"))
	cf := filepath.Join(dir, "flowsieve.yaml")
	if err := os.WriteFile(cf, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"netns", "exec", ns.Name()}, a.Command...)
	args = append(args, "run", "--config", cf)
	d := &daemon{log: &bytes.Buffer{}, done: make(chan error, 1), ns: ns, ctl: filepath.Join(dir, "control.sock")}
	d.cmd = exec.Command("ip", args...)
	d.cmd.Env = append(os.Environ(), a.Env...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		body, err := d.scrape("/healthz")
		if err == nil && strings.TrimSpace(body) == "ok" {
			return d, nil
		}
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("harness: appliance exited during start-up (%v):\n%s", err, d.log.String())
		default:
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("harness: appliance not healthy after 20 s (%v):\n%s", err, d.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM (SIGKILL after 10 s) to the daemon, which ip netns exec
// replaced by exec, and waits for it.
func (d *daemon) stop() error {
	select {
	case err := <-d.done:
		d.done <- err
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			return fmt.Errorf("harness: appliance: %v:\n%s", err, d.log.String())
		}
		return nil
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("harness: appliance did not stop on SIGTERM:\n%s", d.log.String())
	}
}

// scrape GETs path from the daemon's metrics listener inside its namespace.
func (d *daemon) scrape(path string) (string, error) {
	return wire.Scrape(d.ns, metricsAddr, path)
}

// counters returns the daemon's flowsieve_* metrics (name{labels} → value).
func (d *daemon) counters() (map[string]uint64, error) {
	body, err := d.scrape("/metrics")
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "flowsieve_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil || v == 0 {
			continue
		}
		m[line[:i]] = uint64(v)
	}
	return m, nil
}

// flowVerdicts lists the flow verdicts the daemon has in its kernel map, through
// its control socket.
func (d *daemon) flowVerdicts() ([]control.FlowVerdict, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := control.NewClient(d.ctl).VerdictsList(ctx, control.VerdictQuery{})
	if err != nil {
		return nil, fmt.Errorf("harness: appliance verdicts: %w", err)
	}
	return l.Verdicts, nil
}

// allow gives prefix an operator allow (a PASS prefix verdict) through the
// daemon's control socket.
func (d *daemon) allow(prefix netip.Prefix) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		// The control socket may come up a moment after /healthz answers.
		_, err := control.NewClient(d.ctl).Allow(ctx, control.BlockRequest{Prefix: prefix, Reason: "harness: offloaded latency probes"})
		if err == nil {
			return nil
		}
		if !errors.Is(err, control.ErrNotRunning) || ctx.Err() != nil {
			return fmt.Errorf("harness: appliance allow %s: %w", prefix, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drain waits until the daemon's flow tables are empty (every flow ended by its
// idle timeout and classified), at most idleTimeout plus the expiry period and a
// margin; it reports whether they emptied.
func (d *daemon) drain() (bool, error) {
	deadline := time.Now().Add(idleTimeout + 3*time.Second)
	for {
		m, err := d.counters()
		if err != nil {
			return false, err
		}
		live := uint64(0)
		for k, v := range m {
			if strings.HasPrefix(k, "flowsieve_queue_flows{") {
				live += v
			}
		}
		if live == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}
