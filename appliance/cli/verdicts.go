package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// Flag names of the verdicts subcommands.
const (
	verdictsFlagLabel  = "label"
	verdictsFlagAction = "action"
	verdictsFlagPrefix = "prefix"
	verdictsFlagLimit  = "limit"
	verdictsFlagMatch  = "match"
)

func verdictsCommand() *cli.Command {
	return &cli.Command{
		Name:  "verdicts",
		Usage: "list or flush the live per-flow verdicts",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list the live per-flow verdicts with their counters and remaining TTL, most packets first",
				Description: Prose(`Lists the flows that have a verdict in the kernel: both endpoints, protocol, action, the
					label the model gave (known to the running daemon only), packets and bytes since the verdict, and
					the time left. Works with the daemon stopped like block (without labels).`),
				Flags: controlFlags(true,
					&cli.StringFlag{Name: verdictsFlagLabel, Usage: "Only flows classified as this label (case-insensitive)."},
					&cli.StringFlag{Name: verdictsFlagAction, Usage: "Only verdicts with this action: DROP, TAG or PASS."},
					&cli.StringFlag{Name: verdictsFlagPrefix, Usage: "Only flows with an endpoint inside this prefix or address."},
					&cli.IntFlag{Name: verdictsFlagLimit, Value: 50, Usage: "Print at most this many verdicts (0 for all)."},
					verdictsScopeFlag(),
				),
				Action: runVerdictsList,
			},
			{
				Name:  "flush",
				Usage: "remove per-flow verdicts so those flows are classified again",
				Description: Prose(`Removes the per-flow verdicts that match every --match given (all of them without --match);
					their flows go back through the model from the next packet. Source blocks are not touched (use
					unblock). Works with the daemon stopped like block (without label matches).`),
				Flags: controlFlags(true,
					&cli.StringSliceFlag{Name: verdictsFlagMatch,
						Usage: "A condition KEY=VALUE, repeatable: label=L, action=DROP|TAG|PASS, prefix=P (an endpoint inside P)."},
				),
				Action: runVerdictsFlush,
			},
		},
	}
}

func runVerdictsList(c *cli.Context) error {
	const name = "verdicts list"
	if _, err := controlArgs(c, name, "flowsieve verdicts list [--scope S] [--label L] [--action A] [--prefix P] [--limit N] [--json]", 0); err != nil {
		return err
	}
	q, err := control.ValidateFilter(control.MethodVerdictsList, control.VerdictFilter{Label: c.String(verdictsFlagLabel),
		Action: c.String(verdictsFlagAction), Prefix: c.String(verdictsFlagPrefix), Limit: c.Int(verdictsFlagLimit)})
	if err != nil {
		return cli.Exit(name+": "+err.Error(), exitUsage)
	}
	if s := c.String(verdictsFlagScope); s != scopeFlow {
		return runVerdictsScope(c, name, s, q)
	}
	list := func(b control.Backend, ctx context.Context) (control.VerdictList, error) {
		return b.VerdictsList(ctx, q)
	}
	return controlQuery(c, name, true, list, writeVerdictList)
}

// writeVerdictList prints verdicts list as a table.
func writeVerdictList(out io.Writer, l control.VerdictList) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "LO\tHI\tPROTO\tACTION\tLABEL\tPACKETS\tBYTES\tTTL LEFT")
	for _, v := range l.Verdicts {
		act := v.Action
		if act == "TAG" {
			act += " dscp=" + strconv.Itoa(int(v.DSCP))
		}
		ttl := "never"
		if v.Remaining != nil {
			ttl = policy.ShortDuration(time.Duration(*v.Remaining).Round(time.Second))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", v.Lo, v.Hi, v.Proto, act, orDash(v.Label, "-"), v.Packets, humanBytes(v.Bytes), ttl)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d of %d matching verdicts shown\n", len(l.Verdicts), l.Total)
	return nil
}

// parseMatches turns --match KEY=VALUE conditions into a filter.
func parseMatches(ms []string) (control.VerdictFilter, error) {
	var f control.VerdictFilter
	for _, m := range ms {
		k, v, ok := strings.Cut(m, "=")
		if !ok || v == "" {
			return f, fmt.Errorf("--match %q: want KEY=VALUE with KEY label, action or prefix", m)
		}
		var dst *string
		switch strings.ToLower(k) {
		case "label":
			dst = &f.Label
		case "action":
			dst = &f.Action
		case "prefix", "src", "addr":
			dst = &f.Prefix
		default:
			return f, fmt.Errorf("--match %q: unknown key %q (want label, action or prefix)", m, k)
		}
		if *dst != "" {
			return f, fmt.Errorf("--match %q: %s given twice", m, k)
		}
		*dst = v
	}
	return f, nil
}

func runVerdictsFlush(c *cli.Context) error {
	const name = "verdicts flush"
	if _, err := controlArgs(c, name, "flowsieve verdicts flush [--match KEY=VALUE ...] [--json]", 0); err != nil {
		return err
	}
	f, err := parseMatches(c.StringSlice(verdictsFlagMatch))
	if err != nil {
		return cli.Exit(name+": "+err.Error(), exitUsage)
	}
	q, err := control.ValidateFilter(control.MethodVerdictsFlush, f)
	if err != nil {
		return cli.Exit(name+": "+err.Error(), exitUsage)
	}
	flush := func(b control.Backend, ctx context.Context) (control.FlushResult, error) {
		n, err := b.VerdictsFlush(ctx, q)
		return control.FlushResult{Removed: n}, err
	}
	return controlQuery(c, name, true, flush, func(w io.Writer, r control.FlushResult) error {
		_, err := fmt.Fprintf(w, "flushed %d verdicts\n", r.Removed)
		return err
	})
}
