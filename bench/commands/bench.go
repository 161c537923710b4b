package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	fscli "github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/bench/harness"
	"github.com/flowsieve/flowsieve/configs"
)

// Flag names of the bench command.
const (
	benchFlagQuick      = "quick"
	benchFlagJSON       = "json"
	benchFlagOut        = "out"
	benchFlagScenario   = "scenario"
	benchFlagSeed       = "seed"
	benchFlagDuration   = "duration"
	benchFlagPcap       = "pcap"
	benchFlagLabels     = "labels"
	benchFlagLabel      = "label"
	benchFlagQueues     = "queues"
	benchFlagSender     = "sender"
	benchFlagTiming     = "timing"
	benchFlagPcapTiming = "pcap-timing"
	benchFlagMaxPackets = "max-packets"
	benchFlagMaxTime    = "max-time"
	benchFlagDecision   = "decision"
	benchFlagNoBase     = "no-baselines"
	benchFlagAppliance  = "appliance"
	benchFlagModel      = "model"
	benchFlagScope      = "scope"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure flowsieve through a virtual wire against the baselines of this machine",
		Description: fscli.Prose(`Builds a virtual wire (sender, appliance and receiver network namespaces joined by veth pairs,
			all created and removed by the command), replays a generated scenario with ground truth and any captures
			given with --pcap through flowsieve's XDP program inline (path xdp-verdicts: DROP verdicts for attack flows
			written from ground truth after their --decision-th frame), and counts every frame per label at the receiver.
			In the same run it measures a bare XDP_DROP program against flowsieve's drop (xdp_drop_ratio), a minimal
			AF_XDP receive loop against flowsieve's (afxdp_rx_ratio), the engine alone from memory (engine_pps) and,
			when /usr/bin/python3 has scikit-learn, its decision tree and MiniBatchKMeans on the same flows.
			The same replay also goes through a baseline wire (a minimal XDP redirect in place of the appliance), so the report gives the latency the appliance alone adds (p50/p99, new and offloaded flows).
			Per label it reports time to mitigation in frames and seconds; on the appliance path, the daemon's AF_XDP statistics and whether its user-space path was overloaded.
			Needs root. Prints a Markdown table, or JSON with --json; --out also writes report.md, report.json and PNG plots.`),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: benchFlagQuick, Usage: "Run small sizes so the whole bench takes under 45 seconds.", EnvVars: []string{"FLOWSIEVE_BENCH_QUICK"}},
			&cli.BoolFlag{Name: benchFlagJSON, Usage: "Print every figure and ratio as JSON instead of Markdown."},
			&cli.StringFlag{Name: benchFlagOut, Usage: "Write report.md, report.json and the PNG plots into this directory.", EnvVars: []string{"FLOWSIEVE_BENCH_OUT"}},
			&cli.StringFlag{Name: benchFlagScenario, Value: "mixed", Usage: "Generated scenario replayed first (see flowsieve gen --list)."},
			&cli.Uint64Flag{Name: benchFlagSeed, Value: 2, Usage: "Seed of the generated traffic (the training capture uses seed+1000)."},
			&cli.DurationFlag{Name: benchFlagDuration, Usage: "Length of the generated capture (default 60s, 15s with --quick)."},
			&cli.StringSliceFlag{Name: benchFlagPcap, Usage: "A capture to replay after the scenario, optionally with the label of its flows as PATH=LABEL (overriding --label); repeat for several."},
			&cli.StringFlag{Name: benchFlagLabels, Usage: "A labels file with the ground truth of the --pcap captures."},
			&cli.StringFlag{Name: benchFlagLabel, Usage: "The label of every flow of the --pcap captures no labels rule names (e.g. an attack name for a capture of one attack)."},
			&cli.IntFlag{Name: benchFlagQueues, Value: 2, Usage: "Receive and transmit queues of every veth end."},
			&cli.StringFlag{Name: benchFlagSender, Value: "afxdp", Usage: "Sender of the replays: afxdp (distinct frames from one AF_XDP socket per queue, with latency probes) or tcpreplay.", EnvVars: []string{"FLOWSIEVE_BENCH_SENDER"}},
			&cli.StringFlag{Name: benchFlagTiming, Value: "top", Usage: "Replay timing: top (as fast as possible), original, a speed-up factor such as 10, or an even rate such as 20000pps."},
			&cli.StringFlag{Name: benchFlagPcapTiming, Usage: "Replay timing of the --pcap captures, as --timing (default: --timing). An even rate suits real captures, whose own timing ranges from hours of gaps to floods faster than the wire."},
			&cli.IntFlag{Name: benchFlagMaxPackets, Usage: "Frames per replay at most (0: all)."},
			&cli.DurationFlag{Name: benchFlagMaxTime, Usage: "Seconds per replay at most (default 20s, 5s with --quick)."},
			&cli.IntFlag{Name: benchFlagDecision, Value: 8, Usage: "Frames of an attack flow that pass before its DROP verdict is written (the model's decision point); 0 writes every verdict up front."},
			&cli.StringFlag{Name: benchFlagScope, Value: "flow", Usage: "What a verdict covers: flow (the attack flow's 5-tuple) or source (the attacking address, in the blocklist, after --decision frames it sent). With --appliance, the scope of the daemon's DROP decisions."},
			&cli.BoolFlag{Name: benchFlagNoBase, Usage: "Skip the baselines (replays only)."},
			&cli.BoolFlag{Name: benchFlagAppliance, Usage: "Replay through the real appliance (this binary's run command inside the appliance namespace) instead of XDP verdicts written from ground truth: its model is trained on another seed of the scenario plus the first half (in time order) of every labelled --pcap capture, and only the second half of each capture is replayed, so the report gives the model's detection of real traffic it never saw (a within-capture hold-out, not a cross-dataset result). With the baselines, it also measures the appliance's forwarding rate for new flows (user space) and offloaded flows (kernel), as ratios to the AF_XDP reference loop and the bare XDP_DROP program.", EnvVars: []string{"FLOWSIEVE_BENCH_APPLIANCE"}},
			&cli.StringFlag{Name: benchFlagModel, Usage: "With --appliance: the model file the daemon runs, or \"default\" for the shipped model; nothing is trained and every --pcap capture is replayed whole (a cross-source result for captures the model never trained on). Empty: train as --appliance says.", EnvVars: []string{"FLOWSIEVE_BENCH_MODEL"}},
		},
		Action: benchAction,
	}
}

func parseTiming(s string) (harness.Timing, error) {
	switch s {
	case "top", "":
		return harness.Timing{}, nil
	case "original":
		return harness.Timing{Scale: 1}, nil
	}
	if r, ok := strings.CutSuffix(s, "pps"); ok {
		f, err := strconv.ParseFloat(r, 64)
		if err != nil || !(f > 0) {
			return harness.Timing{}, fmt.Errorf("%q: want a positive rate such as 20000pps", s)
		}
		return harness.Timing{PPS: f}, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || !(f > 0) {
		return harness.Timing{}, fmt.Errorf("%q: want top, original, a positive factor or a rate such as 20000pps", s)
	}
	return harness.Timing{Scale: f}, nil
}

func benchAction(c *cli.Context) error {
	timing, err := parseTiming(c.String(benchFlagTiming))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--%s %v", benchFlagTiming, err), 2)
	}
	var pcapTiming *harness.Timing
	if s := c.String(benchFlagPcapTiming); s != "" {
		pt, err := parseTiming(s)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--%s %v", benchFlagPcapTiming, err), 2)
		}
		pcapTiming = &pt
	}
	if s := c.String(benchFlagScope); s != harness.ScopeFlow && s != harness.ScopeSource {
		return cli.Exit(fmt.Sprintf("--%s %q: want flow or source", benchFlagScope, s), 2)
	}
	if s := c.String(benchFlagSender); s != "afxdp" && s != "tcpreplay" {
		return cli.Exit(fmt.Sprintf("--%s %q: want afxdp or tcpreplay", benchFlagSender, s), 2)
	}
	cfg := harness.Config{
		Quick: c.Bool(benchFlagQuick), Scenario: c.String(benchFlagScenario), Seed: c.Uint64(benchFlagSeed),
		Duration: c.Duration(benchFlagDuration), Queues: c.Int(benchFlagQueues), Sender: c.String(benchFlagSender),
		Timing: timing, PcapTiming: pcapTiming, MaxPackets: c.Int(benchFlagMaxPackets), MaxTime: c.Duration(benchFlagMaxTime),
		Decision: c.Int(benchFlagDecision), Scope: c.String(benchFlagScope), Baselines: !c.Bool(benchFlagNoBase),
		Progress: func(s string) { fmt.Fprintln(c.App.ErrWriter, "bench:", s) },
	}
	if c.Bool(benchFlagAppliance) {
		exe, err := os.Executable()
		if err != nil {
			return cli.Exit(fmt.Sprintf("bench: %v", err), 1)
		}
		cfg.Appliance = []string{exe}
	}
	if path := c.String(benchFlagModel); path != "" {
		if !c.Bool(benchFlagAppliance) {
			return cli.Exit(fmt.Sprintf("--%s needs --%s", benchFlagModel, benchFlagAppliance), 2)
		}
		m, err := configs.LoadModel(path)
		if err != nil {
			return cli.Exit(fmt.Sprintf("bench: --%s %s: %v", benchFlagModel, path, err), 1)
		}
		cfg.Model = m
	}
	for _, p := range c.StringSlice(benchFlagPcap) {
		label := c.String(benchFlagLabel)
		if i := strings.LastIndexByte(p, '='); i > 0 {
			p, label = p[:i], p[i+1:]
		}
		cfg.Pcaps = append(cfg.Pcaps, harness.PcapRun{Path: p, PcapOptions: harness.PcapOptions{Labels: c.String(benchFlagLabels), Label: label}})
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := harness.Run(ctx, cfg)
	if err != nil {
		return cli.Exit(fmt.Sprintf("bench: %v", err), 1)
	}
	if dir := c.String(benchFlagOut); dir != "" {
		if err := writeBenchOut(dir, rep); err != nil {
			return cli.Exit(fmt.Sprintf("bench: %v", err), 1)
		}
	}
	if c.Bool(benchFlagJSON) {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.Markdown(c.App.Writer)
}

func writeBenchOut(dir string, rep *harness.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.Markdown(&md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), js, 0o644); err != nil {
		return err
	}
	_, err = rep.Plots(dir)
	return err
}
