package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	fscli "github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/appliance/progress"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/labels"
)

// Flag names of the gen command.
const (
	genFlagScenario  = "scenario"
	genFlagSeed      = "seed"
	genFlagDuration  = "duration"
	genFlagRate      = "rate"
	genFlagIPv6Share = "ipv6-share"
	genFlagAttacks   = "attacks"
	genFlagHosts     = "hosts"
	genFlagOut       = "out"
	genFlagLabels    = "labels"
	genFlagList      = "list"
)

func genCommand() *cli.Command {
	return &cli.Command{
		Name:  "gen",
		Usage: "generate labelled benign and attack traffic into a pcap, with its ground truth",
		Description: fscli.Prose(`Generates a deterministic capture of realistic traffic (Ethernet, IPv4/IPv6, TCP/UDP/ICMP with
			correct checksums, nanosecond timestamps) for one scenario, and optionally a labels file that gives
			every flow its label (BENIGN or the attack name; see docs/labels.md). The same flags and seed give a
			byte-identical capture. Use --list to see the scenarios and attacks.`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: genFlagScenario, Aliases: []string{"s"}, EnvVars: []string{"FLOWSIEVE_GEN_SCENARIO"},
				Usage: "Scenario to generate (see --list)."},
			&cli.Uint64Flag{Name: genFlagSeed, Value: 1, EnvVars: []string{"FLOWSIEVE_GEN_SEED"},
				Usage: "Random seed. The same seed and flags give the same bytes."},
			&cli.DurationFlag{Name: genFlagDuration, Value: 60 * time.Second, EnvVars: []string{"FLOWSIEVE_GEN_DURATION"},
				Usage: "Length of the capture in simulated time."},
			&cli.Float64Flag{Name: genFlagRate, EnvVars: []string{"FLOWSIEVE_GEN_RATE"},
				Usage: "Packets per second of the scenario's main traffic (0 takes the scenario's default; session traffic reaches it approximately)."},
			&cli.Float64Flag{Name: genFlagIPv6Share, EnvVars: []string{"FLOWSIEVE_GEN_IPV6_SHARE"},
				Usage: "Share of flows (and attackers) that use IPv6, from 0 to 1."},
			&cli.StringFlag{Name: genFlagAttacks, EnvVars: []string{"FLOWSIEVE_GEN_ATTACKS"},
				Usage: "Comma-separated attacks for the mixed scenario (default " + strings.Join(traffic.DefaultMixedAttacks, ",") + ")."},
			&cli.IntFlag{Name: genFlagHosts, EnvVars: []string{"FLOWSIEVE_GEN_HOSTS"},
				Usage: "Number of benign client hosts (default 200), or the botnet size of syn-flood-botnet (default 50)."},
			&cli.StringFlag{Name: genFlagOut, Aliases: []string{"o"}, EnvVars: []string{"FLOWSIEVE_GEN_OUT"},
				Usage: "The pcap file to write (nanosecond timestamps, Ethernet)."},
			&cli.StringFlag{Name: genFlagLabels, EnvVars: []string{"FLOWSIEVE_GEN_LABELS"},
				Usage: "Also write the labels file (CSV) of the generated flows here."},
			&cli.BoolFlag{Name: genFlagList, Usage: "Describe the scenarios and attacks and exit."},
		},
		Action: runGen,
	}
}

func runGen(c *cli.Context) error {
	if c.Bool(genFlagList) {
		return genList(c.App.Writer)
	}
	cfg := traffic.Config{
		Scenario:  c.String(genFlagScenario),
		Seed:      c.Uint64(genFlagSeed),
		Duration:  c.Duration(genFlagDuration),
		Rate:      c.Float64(genFlagRate),
		IPv6Share: c.Float64(genFlagIPv6Share),
		Hosts:     c.Int(genFlagHosts),
	}
	if cfg.Scenario == "" {
		return cli.Exit("gen: --scenario is required (see flowsieve gen --list)", 2)
	}
	if a := c.String(genFlagAttacks); a != "" {
		if cfg.Scenario != "mixed" {
			return cli.Exit("gen: --attacks applies to the mixed scenario only", 2)
		}
		for _, n := range strings.Split(a, ",") {
			cfg.Attacks = append(cfg.Attacks, strings.TrimSpace(n))
		}
	}
	if cfg.Duration <= 0 {
		return cli.Exit(fmt.Sprintf("gen: --%s must be positive, got %v", genFlagDuration, cfg.Duration), 2)
	}
	outName := c.String(genFlagOut)
	if outName == "" {
		return cli.Exit("gen: --out FILE.pcap is required", 2)
	}
	g, err := traffic.New(cfg)
	if err != nil {
		return cli.Exit("gen: "+err.Error(), 2)
	}

	elapsed, rules, err := genWrite(c, g, outName)
	if err != nil {
		return err
	}
	total, by := g.Packets()
	w := c.App.Writer
	fmt.Fprintf(w, "%s: %d packets of scenario %s over %v, generated in %v (%.0f packets/s)\n",
		outName, total, cfg.Scenario, cfg.Duration, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	for l := range traffic.NumLabels {
		if by[l] > 0 {
			fmt.Fprintf(w, "  %-18s %d packets\n", l.String(), by[l])
		}
	}
	if rules >= 0 {
		fmt.Fprintf(w, "%s: %d label rules\n", c.String(genFlagLabels), rules)
	}
	return nil
}

// genWrite writes g's traffic to the pcap file name, and its label rules to the
// --labels file, with a progress bar; it returns how long generating took and the
// label rules written (-1 without --labels).
func genWrite(c *cli.Context, g *traffic.Generator, name string) (time.Duration, int, error) {
	out, err := os.Create(name)
	if err != nil {
		return 0, 0, cli.Exit("gen: "+err.Error(), 1)
	}
	var lf *os.File
	var lw *labels.Writer
	if lname := c.String(genFlagLabels); lname != "" {
		if lf, err = os.Create(lname); err != nil {
			out.Close()
			return 0, 0, cli.Exit("gen: "+err.Error(), 1)
		}
		lw = labels.NewWriter(lf)
		g.OnRule = func(r labels.Rule) { lw.Write(r) }
	}
	cfg := g.Config()
	bar := progress.New(c.App.ErrWriter, cfg.Duration.Milliseconds(), "generating (simulated ms)")
	start := time.Now()
	bw := bufio.NewWriterSize(out, 1<<20)
	werr := traffic.WritePcap(g, bw, func(at time.Duration) { bar.Set64(at.Milliseconds()) })
	bar.Finish()
	elapsed := time.Since(start)
	werr = errors.Join(werr, bw.Flush(), out.Close())
	if lw != nil {
		werr = errors.Join(werr, lw.Flush(), lf.Close())
	}
	if werr != nil {
		return 0, 0, cli.Exit("gen: "+name+": "+werr.Error(), 1)
	}
	if lw == nil {
		return elapsed, -1, nil
	}
	return elapsed, lw.Count(), nil
}

// genList describes the scenarios and their parameters.
func genList(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCENARIO\tLABEL\tDEFAULT RATE\tDESCRIPTION")
	for _, s := range traffic.Scenarios() {
		fmt.Fprintf(w, "%s\t%s\t%.0f pkt/s\t%s\n", s.Name, s.Label, s.Rate, s.Description)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprint(out, `
Parameters (flags): --seed N, --duration D (default 60s), --rate PPS (the scenario's main traffic;
session traffic reaches it approximately), --ipv6-share F (0..1), --hosts N (benign clients, or
botnet size), --attacks a,b (mixed only). Addresses: clients 198.51.100.0/24, servers
203.0.113.0/24 (web .10-.13, ssh .22, dns .53, ntp .123, bulk .5; attack victim: web .10),
attackers 192.0.2.0/24 (.10 + attack index), spoofed sources and botnets 198.18.0.0/15
(one /19 per attack), IPv6 under 2001:db8::/32 (clients :c::, servers :5::, attackers :a::,
spoofed :f:<attack>::/64). Labels: BENIGN flows by 5-tuple and time span; attacks by source
block and time window (see docs/labels.md).
`)
	return nil
}
