package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// Flag names of stats.
const (
	statsFlagWatch    = "watch"
	statsFlagInterval = "interval"
	statsFlagCount    = "count"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "what the appliance is doing: packets per action, label and queue, top dropped flows and sources",
		Description: Prose(`Prints the XDP program's counters (received, dropped, tagged, passed, sent to user space, failed
			open, ...), flows classified per label and decisions per action, per-queue counters, and the flows and
			source prefixes that dropped the most packets. With --watch it refreshes every --interval like top,
			showing rates per second; with --json each refresh is one JSON object per line (the snapshot plus
			"rates"). Works with the daemon stopped (kernel counters and top drops from the pinned maps).`),
		Flags: controlFlags(true,
			&cli.BoolFlag{Name: statsFlagWatch, Aliases: []string{"w"}, Usage: "Refresh every --interval until interrupted, with rates."},
			&cli.DurationFlag{Name: statsFlagInterval, Value: time.Second, Usage: "Refresh interval of --watch."},
			&cli.IntFlag{Name: statsFlagCount, Usage: "With --watch, stop after this many refreshes (0: until interrupted)."},
		),
		Action: runStats,
	}
}

// statsView is what stats --json prints: the snapshot plus rates per second
// over the last interval (watch mode only).
type statsView struct {
	control.Stats
	Interval control.Duration   `json:"interval,omitempty"`
	Rates    map[string]float64 `json:"rates,omitempty"`
	// Mitigation holds the victims and signatures (a daemon with mitigation only).
	Mitigation *mitigationView `json:"mitigation,omitempty"`
}

func runStats(c *cli.Context) error {
	const name = "stats"
	if _, err := controlArgs(c, name, "flowsieve stats [--watch] [--json]", 0); err != nil {
		return err
	}
	iv := c.Duration(statsFlagInterval)
	if iv < 10*time.Millisecond {
		return cli.Exit("stats: --interval must be at least 10ms", exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return controlCall(c, name, true, func(b control.Backend) error {
		var prev *control.Stats
		var prevAt time.Time
		var prevMit *mitigationView
		for i := 0; ; i++ {
			s, err := b.Stats(ctx)
			if err != nil {
				return err
			}
			at := time.Now()
			v := statsView{Stats: s}
			if prev != nil {
				v.Interval = control.Duration(at.Sub(prevAt))
				v.Rates = statsRates(prev, &s, at.Sub(prevAt))
			}
			v.Mitigation = readMitigation(ctx, b, prevMit, at.Sub(prevAt))
			if c.Bool(flagJSON) {
				if err := writeStatsJSON(c.App.Writer, v, c.Bool(statsFlagWatch)); err != nil {
					return err
				}
			} else {
				if c.Bool(statsFlagWatch) && isTerminal(c.App.Writer) {
					fmt.Fprint(c.App.Writer, "\x1b[H\x1b[2J")
				}
				writeStats(c.App.Writer, v)
			}
			if !c.Bool(statsFlagWatch) || (c.Int(statsFlagCount) > 0 && i+1 >= c.Int(statsFlagCount)) {
				return nil
			}
			prev, prevAt, prevMit = &s, at, v.Mitigation
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(iv):
			}
		}
	})
}

func writeStatsJSON(w io.Writer, v statsView, line bool) error {
	if line {
		return jsonLine(w, v)
	}
	return writeControlJSON(w, v)
}

func jsonLine(w io.Writer, v any) error {
	b, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// statsRates computes per-second rates of every counter between two snapshots,
// keyed "kernel.drop", "label.DDoS", "action.DROP".
func statsRates(a, b *control.Stats, d time.Duration) map[string]float64 {
	out := map[string]float64{}
	sec := d.Seconds()
	add := func(prefix string, x, y map[string]uint64) {
		for k, v := range y {
			if old := x[k]; v >= old && sec > 0 {
				out[prefix+k] = float64(v-old) / sec
			}
		}
	}
	add("kernel.", a.Kernel, b.Kernel)
	add("label.", a.Labels, b.Labels)
	add("action.", a.Actions, b.Actions)
	return out
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func writeStats(w io.Writer, v statsView) {
	when := v.Time.Local().Format(time.TimeOnly)
	if v.Rates != nil {
		fmt.Fprintf(w, "flowsieve stats at %s (rates over %s)\n\n", when, time.Duration(v.Interval).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "flowsieve stats at %s\n\n", when)
	}
	table := func(title, prefix string, m map[string]uint64, order []string) {
		if len(m) == 0 {
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tTOTAL\tPER SECOND\t\n", title)
		for _, k := range order {
			val, ok := m[k]
			if !ok {
				continue
			}
			rate := "-"
			if r, ok := v.Rates[prefix+k]; ok {
				rate = strconv.FormatFloat(r, 'f', 1, 64)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t\n", k, val, rate)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	kernelOrder := []string{}
	for _, k := range []string{"rx", "drop", "tag", "pass", "user", "forward", "fail_open"} {
		if _, ok := v.Kernel[k]; ok {
			kernelOrder = append(kernelOrder, k)
		}
	}
	for _, k := range sortedKeys(v.Kernel) {
		if !slices.Contains(kernelOrder, k) && v.Kernel[k] != 0 {
			kernelOrder = append(kernelOrder, k)
		}
	}
	table("KERNEL", "kernel.", v.Kernel, kernelOrder)
	table("ACTION", "action.", v.Actions, sortedKeys(v.Actions))
	table("LABEL", "label.", v.Labels, sortedKeys(v.Labels))
	if len(v.Queues) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "INTERFACE\tQUEUE\tPACKETS\tBYTES\tFLOWS\tACTIVE\t")
		for _, q := range v.Queues {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t\n", q.Interface, q.Queue, q.Packets, humanBytes(q.Bytes), q.Flows, q.Active)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	writeLatency(w, v.Latency)
	writeMitigationStats(w, v.Mitigation)
	if len(v.TopFlows) > 0 {
		fmt.Fprintln(w, "top dropped flows:")
		for _, f := range v.TopFlows {
			fmt.Fprintf(w, "  %s <-> %s proto %d  %d packets  %s  %s\n", f.Lo, f.Hi, f.Proto, f.Packets, humanBytes(f.Bytes), orDash(f.Label, ""))
		}
	}
	if len(v.TopSources) > 0 {
		fmt.Fprintln(w, "top dropped sources:")
		for _, s := range v.TopSources {
			fmt.Fprintf(w, "  %s (%s)  %d packets  %s\n", s.Prefix, s.Kind, s.Packets, humanBytes(s.Bytes))
		}
	}
}

// writeLatency prints where the workers' time goes: each stage that ran, and each
// forwarded frame's stay in user space (residence).
func writeLatency(w io.Writer, ls []control.StageLatency) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	rows := 0
	for _, l := range ls {
		if l.Count == 0 {
			continue
		}
		if rows == 0 {
			fmt.Fprintln(tw, "QUEUE\tSTAGE\tCOUNT\tMEAN µs\tP50 µs ≤\tP99 µs ≤\t")
		}
		rows++
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%.1f\t%.1f\t\n", l.Queue, l.Stage, l.Count, l.MeanUS, l.P50US, l.P99US)
	}
	if rows > 0 {
		tw.Flush()
		fmt.Fprintln(w)
	}
}
