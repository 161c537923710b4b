package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/export"
	"github.com/flowsieve/flowsieve/appliance/hugemem"
	"github.com/flowsieve/flowsieve/appliance/progress"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/ipfix"
	"github.com/flowsieve/flowsieve/engine/labels"
)

// Flag names of the flows command (the table flags are shared with analyze).
const (
	flowsFlagOut           = "out"
	flowsFlagFormat        = "format"
	flowsFlagEarly         = "early"
	flowsFlagIdleTimeout   = "idle-timeout"
	flowsFlagActiveTimeout = "active-timeout"
	flowsFlagCapacity      = "capacity"
	flowsFlagSeed          = "hash-seed"
	flowsFlagLabels        = "labels"
	flowsFlagIPFIX         = "ipfix"
	flowsFlagIPFIXFile     = "ipfix-file"
	flowsFlagCPUProfile    = "cpuprofile"
)

// Output formats of the flows command.
const (
	flowsFormatCSV   = "csv"
	flowsFormatJSONL = "jsonl"
)

// flowsTimestampLayout is how the CSV writes a flow's first packet time: the
// CICFlowMeter layout, in UTC, with microseconds.
const flowsTimestampLayout = "2006-01-02 15:04:05.000000"

// tableFlags configure the flow table; flows and analyze share them.
func tableFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: flowsFlagIdleTimeout, Value: flow.DefaultIdleTimeout, EnvVars: []string{"FLOWSIEVE_IDLE_TIMEOUT"},
			Usage: "A flow with no packet for this long ends. CICFlowMeter has no idle timeout: use a long one (for example 120s) to reproduce its Idle features."},
		&cli.DurationFlag{Name: flowsFlagActiveTimeout, Value: flow.DefaultActiveTimeout, EnvVars: []string{"FLOWSIEVE_ACTIVE_TIMEOUT"},
			Usage: "A flow ends this long after its first packet, and later packets start a new flow."},
		&cli.IntFlag{Name: flowsFlagCapacity, Value: flow.DefaultCapacity, EnvVars: []string{"FLOWSIEVE_FLOW_CAPACITY"},
			Usage: "Maximum number of live flows; when full, the least recently seen of a small sample is ended early (evicted)."},
		&cli.Uint64Flag{Name: flowsFlagSeed, Value: 1, EnvVars: []string{"FLOWSIEVE_HASH_SEED"},
			Usage: "Seed of the flow table's hash; 0 draws a random seed. The output does not depend on it: the same input gives the same records in the same order."},
	}
}

func flowsCommand() *cli.Command {
	return &cli.Command{
		Name:      "flows",
		Usage:     "turn captures into one record of CICFlowMeter features per flow",
		ArgsUsage: "CAPTURE...",
		Description: "Reads pcap and pcapng captures (gzip-compressed or not; the format comes from the magic bytes), " +
			"tracks bidirectional flows and writes one record per flow: CSV with the columns Src IP, Src Port, " +
			"Dst IP, Dst Port, Protocol, Timestamp followed by the CICFlowMeter feature columns, or JSON lines " +
			"with the flow's identity, packet and wire-byte counts and its features. Forward is the direction of " +
			"a flow's first packet. With --early N, a flow's record holds its features as of its N-th packet " +
			"(what the appliance classifies); flows with fewer packets are written when they end.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: flowsFlagOut, Aliases: []string{"o"}, EnvVars: []string{"FLOWSIEVE_FLOWS_OUT"},
				Usage: "File to write the records to. Without it they go to standard output."},
			&cli.StringFlag{Name: flowsFlagFormat, Value: flowsFormatCSV, EnvVars: []string{"FLOWSIEVE_FLOWS_FORMAT"},
				Usage: "Record format: csv or jsonl (one JSON object per line)."},
			&cli.IntFlag{Name: flowsFlagEarly, EnvVars: []string{"FLOWSIEVE_EARLY_PACKETS"},
				Usage: "Early decision point: write each flow's features as of its N-th packet. 0 writes them at the flow's end."},
			&cli.StringFlag{Name: flowsFlagLabels, EnvVars: []string{"FLOWSIEVE_FLOWS_LABELS"},
				Usage: "Labels file (CSV, see docs/labels.md) giving each flow its class: adds a Label column to the CSV and a \"label\" key to JSON lines (empty when no rule matches)."},
			&cli.StringFlag{Name: flowsFlagIPFIX, EnvVars: []string{"FLOWSIEVE_FLOWS_IPFIX"},
				Usage: "Also export every finished flow as IPFIX over UDP to this collector, HOST:PORT (see docs/ipfix.md)."},
			&cli.StringFlag{Name: flowsFlagIPFIXFile, EnvVars: []string{"FLOWSIEVE_FLOWS_IPFIX_FILE"},
				Usage: "Also write every finished flow as IPFIX messages to this file."},
			&cli.StringFlag{Name: flowsFlagCPUProfile, Hidden: true,
				Usage: "Write a CPU profile (pprof) of the run to this file."},
		}, tableFlags()...),
		Action: runFlows,
	}
}

// tableConfig builds the flow table configuration from the shared flags.
func tableConfig(c *cli.Context) (flow.Config, error) {
	cfg := flow.Config{
		Capacity:      c.Int(flowsFlagCapacity),
		IdleTimeout:   c.Duration(flowsFlagIdleTimeout),
		ActiveTimeout: c.Duration(flowsFlagActiveTimeout),
		Seed:          c.Uint64(flowsFlagSeed),
	}
	if cfg.IdleTimeout <= 0 || cfg.ActiveTimeout <= 0 {
		return cfg, fmt.Errorf("--%s and --%s must be positive", flowsFlagIdleTimeout, flowsFlagActiveTimeout)
	}
	if cfg.Capacity <= 0 {
		return cfg, fmt.Errorf("--%s must be positive, got %d", flowsFlagCapacity, cfg.Capacity)
	}
	return cfg, nil
}

func runFlows(c *cli.Context) error {
	paths, err := lateFlags(c)
	if err != nil {
		return cli.Exit("flows: "+err.Error(), 2)
	}
	if len(paths) == 0 {
		return cli.Exit("flows: no capture given; usage: flowsieve flows CAPTURE... [--out FILE] [--format csv|jsonl]", 2)
	}
	if err := checkCaptures(paths); err != nil {
		return cli.Exit("flows: "+err.Error(), 2)
	}
	format := c.String(flowsFlagFormat)
	if format != flowsFormatCSV && format != flowsFormatJSONL {
		return cli.Exit(fmt.Sprintf("flows: --%s must be csv or jsonl, got %q", flowsFlagFormat, format), 2)
	}
	cfg, err := tableConfig(c)
	if err != nil {
		return cli.Exit("flows: "+err.Error(), 2)
	}
	if name := c.String(flowsFlagCPUProfile); name != "" {
		stop, err := startCPUProfile(name)
		if err != nil {
			return cli.Exit("flows: "+err.Error(), 1)
		}
		defer stop()
	}
	cfg.EarlyPackets = c.Int(flowsFlagEarly)
	if cfg.EarlyPackets < 0 {
		return cli.Exit(fmt.Sprintf("flows: --%s must be 0 or more, got %d", flowsFlagEarly, cfg.EarlyPackets), 2)
	}

	var exporter *export.Exporter
	if addr, name := c.String(flowsFlagIPFIX), c.String(flowsFlagIPFIXFile); addr != "" || name != "" {
		if exporter, err = export.New(export.Config{Addr: addr, File: name}); err != nil {
			return cli.Exit("flows: "+err.Error(), 2)
		}
	}
	out := c.App.Writer
	var file *os.File
	if name := c.String(flowsFlagOut); name != "" {
		if file, err = os.Create(name); err != nil {
			if exporter != nil {
				exporter.Close()
			}
			return cli.Exit("flows: "+err.Error(), 1)
		}
		out = file
	}
	w := &flowWriter{w: bufio.NewWriterSize(out, 256<<10), jsonl: format == flowsFormatJSONL, early: cfg.EarlyPackets > 0,
		ipfix: exporter}
	if name := c.String(flowsFlagLabels); name != "" {
		set, err := labels.Load(name)
		if err != nil {
			return cli.Exit("flows: "+err.Error(), 2)
		}
		w.label = func(f *flow.Flow) string {
			src, sport := f.Src()
			dst, dport := f.Dst()
			return set.Label(src, dst, sport, dport, f.Proto(), f.First(), f.Last())
		}
	}
	if !w.jsonl {
		w.header()
	}
	// The table on 2 MB pages: fewer TLB misses on its records (appliance/hugemem).
	mem := hugemem.New(nil)
	defer mem.Close()
	cfg.Memory = mem.Alloc
	pipe := newFlowPipe(w)
	t, err := flow.New(cfg, pipe.sink)
	if err != nil {
		pipe.close()
		return cli.Exit("flows: "+err.Error(), 2)
	}
	o := &flow.Offline{Table: t}
	readErr := readCaptures(c, paths, o)
	t.Flush()
	pipe.close()
	werr := w.w.Flush()
	if file != nil {
		werr = errors.Join(werr, file.Close())
	}
	if w.ipfix != nil {
		werr = errors.Join(werr, w.ipfix.Close())
	}
	switch {
	case werr != nil || w.err != nil:
		return cli.Exit(fmt.Sprintf("flows: writing records: %v", errors.Join(werr, w.err)), 1)
	case readErr != nil:
		return cli.Exit(fmt.Sprintf("flows: %v (the records of the packets read before the error were written)", readErr), 1)
	}
	return nil
}

// lateFlags applies the flags given after the captures ("flows a.pcap --out x.csv":
// urfave/cli v2 stops parsing flags at the first argument) and returns the captures.
// "--" ends the flags: later arguments are captures even if they start with "-".
func lateFlags(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var paths []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(paths, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			paths = append(paths, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := commandFlag(c, name)
		if f == nil {
			return nil, fmt.Errorf("flag %s is not defined", a)
		}
		if !hasValue {
			if _, ok := f.(*cli.BoolFlag); ok {
				value = "true"
			} else {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				value = args[i]
			}
		}
		for _, n := range f.Names() { // the name and its aliases
			if err := c.Set(n, value); err != nil {
				return nil, fmt.Errorf("flag %s: %w", a, err)
			}
		}
	}
	return paths, nil
}

// commandFlag returns the command's flag with this name or alias, or nil.
func commandFlag(c *cli.Context, name string) cli.Flag {
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// checkCaptures fails early, before any output, when a capture cannot be opened.
func checkCaptures(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// readCaptures feeds every capture into o, showing progress by bytes read on a
// terminal. A damaged capture does not stop the others; the errors are joined.
// Regular files are mapped into memory and read in place (no copy through read(2));
// others (a pipe, a device) are read as a stream.
func readCaptures(c *cli.Context, paths []string, o *flow.Offline) error {
	var total int64
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	if total == 0 {
		total = -1 // pipes only: a bar of unknown length (at 0 it fails every write)
	}
	bar := progress.New(c.App.ErrWriter, total, "reading captures")
	defer bar.Finish()
	var done int64
	o.Progress = func(off int64) { bar.Set64(done + off) }
	defer func() { o.Progress = nil }()
	var errs []error
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if data, unmap, ok := mapCapture(f); ok {
			err = errors.Join(readMapped(o, data, p), unmap())
			done += int64(len(data))
			bar.Set64(done)
		} else {
			err = o.ReadCapture(io.TeeReader(f, bar), p)
		}
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flowWriter writes flow records as CSV or JSON lines, in the order the table
// ends the flows; a flowPipe formats them (recordFormat) on other goroutines.
type flowWriter struct {
	w     *bufio.Writer
	jsonl bool
	early bool // records are early snapshots: skip the end of flows already written
	// label, when set, names each flow's class; the CSV gets a Label column and the
	// JSON a "label" key. (Set by the --labels flag.) It must be safe for
	// concurrent use.
	label func(f *flow.Flow) string
	// ipfix, when set, gets every finished flow as an IPFIX record.
	ipfix *export.Exporter
	rec   ipfix.Record
	err   error
}

// header writes the CSV header.
func (w *flowWriter) header() {
	b := []byte("Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp")
	for j, name := range features.Names {
		if j == features.Protocol {
			continue // the identity column Protocol holds it
		}
		b = append(b, ',')
		b = append(b, name...)
	}
	if w.label != nil {
		b = append(b, ",Label"...)
	}
	b = append(b, '\n')
	w.write(b)
}

func (w *flowWriter) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

// export hands a finished flow to the IPFIX exporter, if any.
func (w *flowWriter) export(f *flow.Flow, why flow.Reason) {
	if w.ipfix != nil && why != flow.Early && w.err == nil {
		ipfix.FromFlow(&w.rec, f, why)
		w.err = w.ipfix.Export(&w.rec)
	}
}

// skip reports whether the flow gets no record: with --early, the end of a flow
// whose record was written at its early decision point.
func (w *flowWriter) skip(f *flow.Flow, why flow.Reason) bool {
	return w.early && why != flow.Early && f.EarlyDone
}

// recordFormat formats records; each formatting goroutine has its own.
type recordFormat struct {
	w      *flowWriter // the settings: jsonl, label
	vals   [features.NumFeatures]float32
	stamps stampCache
}

// appendRecord appends the record of f, ended for why, to b.
func (r *recordFormat) appendRecord(b []byte, f *flow.Flow, why flow.Reason) []byte {
	f.Values(&r.vals)
	src, sport := f.Src()
	dst, dport := f.Dst()
	if r.w.jsonl {
		b = append(b, `{"src":"`...)
		b = src.AppendTo(b)
		b = append(b, `","sport":`...)
		b = strconv.AppendUint(b, uint64(sport), 10)
		b = append(b, `,"dst":"`...)
		b = dst.AppendTo(b)
		b = append(b, `","dport":`...)
		b = strconv.AppendUint(b, uint64(dport), 10)
		b = append(b, `,"proto":`...)
		b = strconv.AppendUint(b, uint64(f.Proto()), 10)
		b = append(b, `,"first_ts":`...)
		b = strconv.AppendInt(b, f.First(), 10)
		b = append(b, `,"last_ts":`...)
		b = strconv.AppendInt(b, f.Last(), 10)
		b = append(b, `,"fwd_packets":`...)
		b = strconv.AppendUint(b, f.FwdPackets(), 10)
		b = append(b, `,"bwd_packets":`...)
		b = strconv.AppendUint(b, f.BwdPackets(), 10)
		b = append(b, `,"fwd_wire_bytes":`...)
		b = strconv.AppendUint(b, f.FwdWireBytes, 10)
		b = append(b, `,"bwd_wire_bytes":`...)
		b = strconv.AppendUint(b, f.BwdWireBytes, 10)
		b = append(b, `,"end":"`...)
		b = append(b, why.String()...)
		b = append(b, '"')
		if r.w.label != nil {
			b = append(b, `,"label":`...)
			b = strconv.AppendQuote(b, r.w.label(f))
		}
		b = append(b, `,"features":{`...)
		for j, v := range r.vals {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, features.Names[j])
			b = append(b, ':')
			b = appendFeature(b, v)
		}
		return append(b, "}}\n"...)
	}
	b = src.AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(sport), 10)
	b = append(b, ',')
	b = dst.AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(dport), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(f.Proto()), 10)
	b = append(b, ',')
	b = r.stamps.appendStamp(b, f.First())
	b = appendCSVFeatures(b, &r.vals)
	if r.w.label != nil {
		b = append(b, ',')
		b = append(b, r.w.label(f)...)
	}
	return append(b, '\n')
}
