package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/metrics"
	"github.com/flowsieve/flowsieve/appliance/pipeline"
	"github.com/flowsieve/flowsieve/engine/model/modeltest"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// The test model calls flows to ports below attackPort BENIGN, the others ATTACK;
// the policy passes BENIGN and drops the rest.
const (
	attackPort = 1000
	early      = 2
	policyYAML = `version: 1
rules:
  - name: benign
    labels: "BENIGN"
    action: PASS
    ttl: 5m
default:
  action: DROP
  ttl: 5m
`
)

// writeModel saves a one-split tree on the destination port (below attackPort:
// BENIGN).
func writeModel(t *testing.T, path string) { modeltest.WritePortSplit(t, path, attackPort, early) }

// tcpFrame is a 64-byte Ethernet/IPv4 TCP ACK from src:sport to dst:dport.
func tcpFrame(src, dst netip.Addr, sport, dport uint16) []byte {
	return craft.Frame{Src: src, Dst: dst, Proto: craft.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: craft.TCPAck}.Build(64)
}

// scrape GETs path from h and returns the status and body.
func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// parse reads the text exposition into name{labels} → value and name → TYPE.
func parse(t *testing.T, body string) (map[string]float64, map[string]string) {
	t.Helper()
	vals, types := map[string]float64{}, map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad exposition line %q", line)
		}
		vals[line[:i]] = v
	}
	return vals, types
}

// TestCollector runs the real pipeline inline between two veths (in namespaces
// the test creates), sends a benign and an attack flow through it, and checks the
// scraped metrics against the counters they are read from, their names, labels and
// types, a reload, and /healthz before and after Close; then Serve on loopback in
// the appliance namespace.
func TestCollector(t *testing.T) {
	kerneltest.Require(t)
	var nss [3]*netns.NS // client, appliance, server
	for i := range nss {
		ns, err := netns.New(fmt.Sprintf("fs-metrics-%d", os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		nss[i] = ns
	}
	for _, v := range []netns.Veth{
		{Name: "c0", Peer: "a0", NS: nss[0], PeerNS: nss[1]},
		{Name: "a1", Peer: "s0", NS: nss[1], PeerNS: nss[2]},
	} {
		if err := netns.AddVeth(v); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	mpath, ppath := filepath.Join(dir, "model.json"), filepath.Join(dir, "policy.yaml")
	writeModel(t, mpath)
	if err := os.WriteFile(ppath, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Flags: map[string]string{
		"mode": "inline", "interfaces.in": "a0", "interfaces.out": "a1", "queues": "1",
		"xdp.mode": "native", "xdp.pin_dir": fmt.Sprintf("/sys/fs/bpf/flowsieve-metrics-%d", os.Getpid()),
		"xdp.keep_state_on_exit": "false", "flow.early_packets": strconv.Itoa(early),
		"model.path": mpath, "policy.path": ppath, "state_dir": filepath.Join(dir, "state"),
		"verdicts.flush_interval": "1ms", "metrics.listen": "",
	}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var p *pipeline.Pipeline
	if err := nss[1].Do(func() (err error) {
		p, err = pipeline.Start(cfg, log)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			p.Close()
		}
	})
	h, err := metrics.Handler(p, log)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := scrape(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz of the running pipeline: %d %q", code, body)
	}

	// Traffic: each flow's first frames reach the worker, which classifies it at the
	// decision point; the verdicts (one PASS, one DROP) then apply in the kernel.
	tx, err := sender.New(nss[0], "c0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	benign, attack := tcpFrame(src, dst, 40000, 80), tcpFrame(src, dst, 40001, 5000)
	var sent uint64
	deadline := time.Now().Add(10 * time.Second)
	for p.Writer().FlowWritten.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("verdicts not written within 10 s: %d", p.Writer().FlowWritten.Load())
		}
		for _, f := range [][]byte{benign, attack} {
			n, err := tx.Send(f, early)
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range [][]byte{benign, attack} {
		n, err := tx.Send(f, 100)
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}

	// Scrape between two readings of every source: each value lies between them.
	q := p.Queues()[0]
	st := q.Stats
	xdp0, err := p.Datapath().Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	rx0, fwd0, drop0, polls0 := st.RXPackets.Load(), st.Forwarded.Load(), st.Dropped.Load(), st.Polls.Load()
	written0 := p.Writer().FlowWritten.Load()
	res0, insp0 := st.Residence.Snapshot(), st.Stages[pipeline.StageInspect].Snapshot()
	code, body := scrape(t, h, "/metrics")
	xdp1, err := p.Datapath().Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	rx1, fwd1, drop1, polls1 := st.RXPackets.Load(), st.Forwarded.Load(), st.Dropped.Load(), st.Polls.Load()
	written1 := p.Writer().FlowWritten.Load()
	res1, insp1 := st.Residence.Snapshot(), st.Stages[pipeline.StageInspect].Snapshot()
	labels, acts := p.Writer().Classifications()
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	vals, types := parse(t, body)
	between := func(name string, lo, hi uint64) {
		t.Helper()
		v, ok := vals[name]
		if !ok {
			t.Errorf("%s missing", name)
		} else if v < float64(lo) || v > float64(hi) {
			t.Errorf("%s = %v, want in [%d, %d]", name, v, lo, hi)
		}
	}
	for c := range xdp.NumCounters {
		between(fmt.Sprintf(`flowsieve_xdp_packets_total{counter="%s"}`, c), xdp0[c], xdp1[c])
	}
	between(`flowsieve_queue_packets_total{action="received",queue="0"}`, rx0, rx1)
	between(`flowsieve_queue_packets_total{action="forwarded",queue="0"}`, fwd0, fwd1)
	between(`flowsieve_queue_packets_total{action="dropped",queue="0"}`, drop0, drop1)
	between(`flowsieve_queue_polls_total{queue="0"}`, polls0, polls1)
	between(`flowsieve_frame_residence_seconds_count{queue="0"}`, res0.Count(), res1.Count())
	between(`flowsieve_worker_stage_seconds_count{queue="0",stage="inspect"}`, insp0.Count(), insp1.Count())
	between(`flowsieve_verdicts_written_total{map="flow"}`, written0, written1)
	for l, v := range labels {
		between(fmt.Sprintf(`flowsieve_classifications_total{label="%s"}`, l), v, v)
	}
	for a, v := range acts {
		between(fmt.Sprintf(`flowsieve_decisions_total{action="%s"}`, a), v, v)
	}
	between(`flowsieve_reloads_total{result="ok"}`, 1, 1)
	between(`flowsieve_reloads_total{result="rejected"}`, 0, 0)

	// What the traffic must have produced.
	cases := []struct {
		name string
		min  float64
	}{
		{`flowsieve_xdp_packets_total{counter="rx"}`, float64(sent)},
		{`flowsieve_xdp_packets_total{counter="drop"}`, 1},
		{`flowsieve_xdp_packets_total{counter="pass"}`, 1},
		{`flowsieve_queue_packets_total{action="received",queue="0"}`, 2 * early},
		{`flowsieve_queue_packets_total{action="forwarded",queue="0"}`, 2 * early},
		{`flowsieve_queue_bytes_total{action="received",queue="0"}`, 2 * early * 64},
		{`flowsieve_afxdp_total{counter="received",interface="a0",queue="0"}`, 2 * early},
		{`flowsieve_afxdp_total{counter="transmitted",interface="a1",queue="0"}`, 2 * early},
		{`flowsieve_queue_inspect_total{counter="classified",queue="0"}`, 2},
		{`flowsieve_classifications_total{label="BENIGN"}`, 1},
		{`flowsieve_classifications_total{label="ATTACK"}`, 1},
		{fmt.Sprintf(`flowsieve_decisions_total{action="%s"}`, policy.ActionPass), 1},
		{fmt.Sprintf(`flowsieve_decisions_total{action="%s"}`, policy.ActionDrop), 1},
		{`flowsieve_verdicts_written_total{map="flow"}`, 2},
		{`flowsieve_queue_flows{queue="0"}`, 0},
		{`flowsieve_frame_residence_seconds_count{queue="0"}`, 2 * early},
		{`flowsieve_worker_stage_seconds_count{queue="0",stage="inspect"}`, 1},
		{`flowsieve_worker_stage_seconds_count{queue="0",stage="transmit"}`, 1},
	}
	for _, c := range cases {
		if v, ok := vals[c.name]; !ok || v < c.min {
			t.Errorf("%s = %v (present %v), want ≥ %v", c.name, v, ok, c.min)
		}
	}
	if _, ok := vals[`flowsieve_scrape_errors_total{source="xdp"}`]; ok {
		t.Errorf("scrape errors reading the XDP counters")
	}
	for name, want := range map[string]string{
		"flowsieve_xdp_packets_total": "counter", "flowsieve_queue_flows": "gauge",
		"flowsieve_afxdp_total": "counter", "flowsieve_verdicts_written_total": "counter",
		"flowsieve_frame_residence_seconds": "histogram", "flowsieve_worker_stage_seconds": "histogram",
	} {
		if types[name] != want {
			t.Errorf("TYPE of %s = %q, want %s", name, types[name], want)
		}
	}
	for name := range vals {
		if !strings.HasPrefix(name, metrics.Namespace+"_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s outside the %s namespace", name, metrics.Namespace)
		}
	}

	// Serve: the same handler on a real listener, inside the appliance namespace.
	var srv *metrics.Server
	if err := nss[1].Do(func() (err error) {
		srv, err = metrics.Serve("127.0.0.1:0", p, log)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if err := nss[1].Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", srv.Addr(), time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /healthz HTTP/1.0\r\nHost: flowsieve\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "ok\n" {
		t.Errorf("served /healthz: %s %q", resp.Status, b)
	}
	// Profiles: absent until asked for, then the index lists them.
	for _, want := range []int{http.StatusNotFound, http.StatusOK} {
		if want == http.StatusOK {
			srv.ServeProfiles()
		}
		if code, body := get(t, nss[1], srv.Addr(), "/debug/pprof/"); code != want || want == http.StatusOK && !strings.Contains(body, "mutex") {
			t.Errorf("/debug/pprof/: %d, want %d (%.80q)", code, want, body)
		}
	}
	// A CPU profile in progress does not hold up Close.
	go nss[1].Do(func() error {
		c, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
		if err == nil {
			fmt.Fprintf(c, "GET /debug/pprof/profile?seconds=10 HTTP/1.0\r\nHost: flowsieve\r\n\r\n")
			io.Copy(io.Discard, c) // until Close cuts it
			c.Close()
		}
		return err
	})
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Close took %v with a profile in progress", d)
	}

	// A closed pipeline is not healthy.
	closed = true
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := scrape(t, h, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after Close: %d %q", code, body)
	}
}

// get fetches path from addr inside ns.
func get(t *testing.T, ns *netns.NS, addr, path string) (int, string) {
	t.Helper()
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: flowsieve\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
