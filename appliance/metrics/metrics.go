// Package metrics exposes the running pipeline to Prometheus: a custom Collector that
// reads the workers' atomic counters, the sockets' AF_XDP statistics, the verdict
// writer's counters and the XDP program's per-CPU counters at scrape time (nothing
// is pushed from the packet path), and an HTTP server with /metrics and /healthz.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowsieve/flowsieve/appliance/pipeline"
	"github.com/flowsieve/flowsieve/xdp"
)

// Namespace prefixes every metric name.
const Namespace = "flowsieve"

func desc(name, help string, labels ...string) *prometheus.Desc {
	names = append(names, Namespace+"_"+name)
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

// names lists every metric name desc made, in order (see Names).
var names []string

var (
	descXDP = desc("xdp_packets_total",
		"Frames counted by the XDP program, by counter: rx (seen), drop, tag, pass (by verdict), user (to an AF_XDP socket), forward, fail_open and the parse reasons.", "counter")
	descPackets = desc("queue_packets_total",
		"Frames handled in user space per queue, by what happened: received, forwarded (peer TX ring), dropped (DROP action), tagged (forwarded with the DSCP a TAG action rewrote), held (kept until their flow's classification batch ran), tx_full (dropped, peer TX ring full).", "queue", "action")
	descBytes = desc("queue_bytes_total",
		"Bytes handled in user space per queue, by action (received, forwarded, dropped).", "queue", "action")
	descHandoff = desc("queue_handoff_total",
		"Packet metadata handed between workers so both directions of a flow reach its owner: out (sent), in (processed for others), lost (owner's ring full).", "queue", "direction")
	descQueued = desc("queue_verdicts_total",
		"Verdicts a worker produced, by outcome: queued (for the writer) or lost (writer ring full).", "queue", "outcome")
	descPolls = desc("queue_polls_total",
		"Times a worker found nothing to do and slept in poll(2); a busy queue seldom polls.", "queue")
	descWake = desc("queue_wake_errors_total",
		"RX or TX wake-ups (recvfrom/sendto on an AF_XDP socket) a worker made that failed; frames stay on their rings for the next try.", "queue")
	descFlows = desc("queue_flows",
		"Flows tracked by a worker's flow-table shard.", "queue")
	descInspect = desc("queue_inspect_total",
		"Inspector counters per queue (frames, decode errors, flows, batches and classified: flows classified in that many batches, so classified/batches is the mean batch size; dropped, tagged and unresolved frames, ...).", "queue", "counter")
	descSock = desc("afxdp_total",
		"AF_XDP socket counters per queue and interface: the kernel's (rx_dropped, rx_ring_full, fill_ring_empty, tx_ring_empty, invalid descriptors) and user space's (received, filled, transmitted, completed, rejected, wakeups).", "queue", "interface", "counter")
	descWritten = desc("verdicts_written_total",
		"Verdicts written to the XDP maps, by scope map: flow or prefix.", "map")
	descFailed  = desc("verdicts_failed_total", "Verdicts the kernel refused (see the log).")
	descExpired = desc("verdicts_expired_total", "Expired flow verdicts swept from the kernel map.")
	descSkipped = desc("verdicts_skipped_total", "Flow-scoped verdicts not written because their flow was already over (idle, FIN, RST).")
	descLabels  = desc("classifications_total", "Flows classified, by label.", "label")
	descActions = desc("decisions_total", "Policy decisions, by action.", "action")
	descReloads = desc("reloads_total", "Model and policy reloads, by result: ok or rejected.", "result")
	descUp      = desc("scrape_errors_total", "Errors reading kernel counters during this scrape.", "source")
	descStage   = desc("worker_stage_seconds",
		"Time a worker spends in each step of its loop, observed once per batch that had work: receive, inspect (decode, flow update, features), classify, handoff, transmit, complete, expire, poll (asleep).", "queue", "stage")
	descResidence = desc("frame_residence_seconds",
		"Each forwarded frame's stay in user space, from its kernel arrival stamp to its TX ring: the latency a worker adds.", "queue")
)

// Collector reads a pipeline's counters at scrape time.
type Collector struct {
	p *pipeline.Pipeline
}

// NewCollector returns a Collector for p.
func NewCollector(p *pipeline.Pipeline) *Collector { return &Collector{p: p} }

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descXDP, descPackets, descBytes, descHandoff, descQueued, descPolls, descWake,
		descFlows, descInspect, descSock, descWritten, descFailed, descExpired, descSkipped, descLabels, descActions, descReloads, descUp, descStage, descResidence,
		descAlerts, descExport} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// histogram sends a pipeline histogram (ns, power-of-two buckets) in seconds.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h pipeline.HistSnapshot, labels ...string) {
	buckets := make(map[float64]uint64, pipeline.HistBuckets-1)
	var cum uint64
	for i, c := range h.Counts[:pipeline.HistBuckets-1] {
		cum += c
		buckets[pipeline.Upper(i)/1e9] = cum
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count(), float64(h.Sum)/1e9, buckets, labels...)
}

// Collect reads the counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if cs, err := c.p.Datapath().Stats.Read(); err == nil {
		for i, v := range cs {
			counter(ch, descXDP, v, xdp.Counter(i).String())
		}
	} else {
		counter(ch, descUp, 1, "xdp")
	}
	sockErrs := uint64(0)
	for _, q := range c.p.Queues() {
		qs := strconv.Itoa(q.Queue)
		s := q.Stats
		counter(ch, descPackets, s.RXPackets.Load(), qs, "received")
		counter(ch, descPackets, s.Forwarded.Load(), qs, "forwarded")
		counter(ch, descPackets, s.Dropped.Load(), qs, "dropped")
		counter(ch, descPackets, s.TXFull.Load(), qs, "tx_full")
		counter(ch, descPackets, s.Tagged.Load(), qs, "tagged")
		counter(ch, descPackets, s.Held.Load(), qs, "held")
		counter(ch, descBytes, s.RXBytes.Load(), qs, "received")
		counter(ch, descBytes, s.FwdBytes.Load(), qs, "forwarded")
		counter(ch, descBytes, s.DropBytes.Load(), qs, "dropped")
		counter(ch, descHandoff, s.HandoffOut.Load(), qs, "out")
		counter(ch, descHandoff, s.HandoffIn.Load(), qs, "in")
		counter(ch, descHandoff, s.HandoffFull.Load(), qs, "lost")
		counter(ch, descQueued, s.Verdicts.Load(), qs, "queued")
		counter(ch, descQueued, s.VerdictsLost.Load(), qs, "lost")
		counter(ch, descPolls, s.Polls.Load(), qs)
		counter(ch, descWake, s.WakeErrors.Load(), qs)
		for st := range pipeline.NumStages {
			histogram(ch, descStage, s.Stages[st].Snapshot(), qs, st.String())
		}
		histogram(ch, descResidence, s.Residence.Snapshot(), qs)
		if q.Inspect != nil {
			st := q.Inspect()
			ch <- prometheus.MustNewConstMetric(descFlows, prometheus.GaugeValue, float64(st.Live), qs)
			var decodeErrs uint64
			for r, v := range st.Decode {
				if r != 0 {
					decodeErrs += v
				}
			}
			for _, kv := range []struct {
				name string
				v    uint64
			}{
				{"frames", st.Frames}, {"decode_errors", decodeErrs}, {"non_ip", st.NonIP}, {"fragments", st.Fragments},
				{"flows", st.Flows}, {"batches", st.Batches}, {"classified", st.Classified}, {"early", st.Early},
				{"anomalies", st.Anomalies}, {"dropped_frames", st.DroppedFrames},
				{"tagged_frames", st.TaggedFrames}, {"unresolved_frames", st.Unresolved}, {"model_swaps", st.ModelSwaps},
				{"cluster_errors", st.ClusterErrors},
			} {
				counter(ch, descInspect, kv.v, qs, kv.name)
			}
		}
		for _, sock := range q.Sockets {
			st, err := sock.Stats()
			if err != nil {
				sockErrs++
				continue
			}
			ifn := sock.Interface()
			for _, kv := range []struct {
				name string
				v    uint64
			}{
				{"rx_dropped", st.RxDropped}, {"rx_invalid_descs", st.RxInvalidDescs}, {"tx_invalid_descs", st.TxInvalidDescs},
				{"rx_ring_full", st.RxRingFull}, {"fill_ring_empty", st.RxFillRingEmptyDescs}, {"tx_ring_empty", st.TxRingEmptyDescs},
				{"received", st.Received}, {"filled", st.Filled}, {"transmitted", st.Transmitted},
				{"completed", st.Completed}, {"rejected", st.Rejected}, {"wakeups", st.Wakeups},
			} {
				counter(ch, descSock, kv.v, qs, ifn, kv.name)
			}
		}
	}
	if sockErrs > 0 {
		counter(ch, descUp, sockErrs, "afxdp")
	}
	w := c.p.Writer()
	counter(ch, descWritten, w.FlowWritten.Load(), "flow")
	counter(ch, descWritten, w.PrefixWritten.Load(), "prefix")
	counter(ch, descFailed, w.Failed.Load())
	counter(ch, descExpired, w.Expired.Load())
	counter(ch, descSkipped, w.Skipped.Load())
	labels, acts := w.Classifications()
	for l, v := range labels {
		counter(ch, descLabels, v, l)
	}
	for a, v := range acts {
		counter(ch, descActions, v, a)
	}
	ok, bad := c.p.Reloads()
	counter(ch, descReloads, ok, "ok")
	counter(ch, descReloads, bad, "rejected")
	collectOutputs(ch, c.p.Outputs())
}

// Server serves /metrics and /healthz.
type Server struct {
	mux  *http.ServeMux
	srv  *http.Server
	ln   net.Listener
	reg  *prometheus.Registry
	done chan error
}

// Register adds a collector to what /metrics serves (the fleet member's, which
// starts after the server).
func (s *Server) Register(c prometheus.Collector) error { return s.reg.Register(c) }

// Serve starts serving p's metrics on addr (host:port) and returns once it listens.
func Serve(addr string, p *pipeline.Pipeline, log *slog.Logger) (*Server, error) {
	mux, reg, err := handler(p, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	s := &Server{mux: mux, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, reg: reg, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return s, nil
}

// Handler serves /metrics (p's counters, read at scrape time) and /healthz ("ok",
// or 503 with the reason when p is not healthy): what Serve listens with, for
// embedding elsewhere and for tests.
func Handler(p *pipeline.Pipeline, log *slog.Logger) (http.Handler, error) {
	h, _, err := handler(p, log)
	return h, err
}

func handler(p *pipeline.Pipeline, log *slog.Logger) (*http.ServeMux, *prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(p)); err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux, reg, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting up to a second for scrapes in progress and then
// closing the connections of any still running.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close() // a long request (a CPU profile, a trace) is cut, not waited for
	}
	if e := <-s.done; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
