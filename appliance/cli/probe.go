package cli

import (
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/xdp"
)

// probeFlagIface names the interface flag of probe.
const probeFlagIface = "iface"

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:  "probe",
		Usage: "show what this kernel offers the XDP path and what flowsieve does where it lacks something",
		Description: Prose(`Probes every BPF helper, map type and program feature flowsieve uses, XDP native and generic
			attach, AF_XDP copy, need-wakeup and zero-copy sockets, XDP metadata, live-frame test runs, 2 MB pages
			and kernel BTF, and prints for each whether it is supported, why not, and the fallback flowsieve uses
			(none: flowsieve needs it). Without --iface the attach and socket attempts run on a veth pair in a
			temporary network namespace; with it, on that interface: a pass-everything XDP program is attached for
			a moment and an AF_XDP socket bound to queue 0, which some drivers answer with a short link reset.
			Needs root for a complete answer.`),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagJSON, Usage: "Print the probe as JSON, for scripts."},
			&cli.StringFlag{Name: probeFlagIface, EnvVars: []string{"FLOWSIEVE_PROBE_IFACE"},
				Usage: "Try XDP attach modes and AF_XDP sockets on this interface instead of a temporary veth pair."},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("probe: takes no arguments; usage: flowsieve probe [--json] [--iface IF]", exitUsage)
			}
			iface := c.String(probeFlagIface)
			if iface != "" {
				if _, err := net.InterfaceByName(iface); err != nil {
					return cli.Exit(fmt.Sprintf("probe: --%s %s: %v", probeFlagIface, iface, err), exitUsage)
				}
			}
			k := xdp.ProbeKernel(iface)
			if c.Bool(flagJSON) {
				return writeControlJSON(c.App.Writer, k)
			}
			return writeProbe(c.App.Writer, k)
		},
	}
}

// writeProbe prints the probe as a table, one feature a line, sorted by name.
func writeProbe(w io.Writer, k xdp.KernelProbe) error {
	fmt.Fprintf(w, "kernel %s; attach and AF_XDP attempts on %s\n", k.Kernel, k.Interface)
	names := make([]string, 0, len(k.Features))
	for n := range k.Features {
		names = append(names, n)
	}
	slices.Sort(names)
	width := len("FEATURE")
	for _, n := range names {
		width = max(width, len(n))
	}
	fmt.Fprintf(w, "%-*s  %-9s  %s\n", width, "FEATURE", "SUPPORTED", "REASON / FALLBACK")
	for _, n := range names {
		f := k.Features[n]
		if f.Supported {
			fmt.Fprintf(w, "%-*s  yes\n", width, n)
			continue
		}
		fmt.Fprintf(w, "%-*s  %-9s  %s\n", width, n, probeVerdict(f), probeDetail(f))
	}
	broken := 0
	for _, f := range k.Features {
		if f.Broken {
			broken++
		}
	}
	if miss := k.Unsupported(); len(miss) > 0 {
		fmt.Fprintf(w, "%d of %d features missing\n", len(miss), len(k.Features))
	}
	if broken > 0 {
		fmt.Fprintf(w, "%d undecided: the probe could not make its attempt (see the reasons; most need root)\n", broken)
	}
	return nil
}

func probeVerdict(f xdp.Feature) string {
	if f.Broken {
		return "unknown"
	}
	return "no"
}

func probeDetail(f xdp.Feature) string {
	if f.Fallback == "" {
		return f.Reason + "; no fallback: flowsieve needs it"
	}
	return f.Reason + "; fallback: " + f.Fallback
}

// writeStatusProbe prints the daemon's probe in status: one line, then each missing
// feature with its fallback. Nothing for a daemon that does not report it.
func writeStatusProbe(w io.Writer, k *xdp.KernelProbe) {
	if k == nil {
		return
	}
	miss := k.Unsupported()
	fmt.Fprintf(w, "kernel:     %s, %d of %d probed features missing\n", k.Kernel, len(miss), len(k.Features))
	for _, n := range miss {
		fmt.Fprintf(w, "  %s: %s\n", n, probeDetail(k.Features[n]))
	}
}
