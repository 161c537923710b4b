package cli

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

func blocksCommand() *cli.Command {
	return &cli.Command{
		Name:  "blocks",
		Usage: "list blocked and allowed source prefixes",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list operator blocks and allows and the policy's source verdicts, with their counters",
			Description: Prose(`Lists the operator's blocks and allows (persisted in the state directory) and the source and
				prefix verdicts the policy wrote, with the action the kernel enforces, packets and bytes counted,
				reason and expiry. ENFORCED is no for an entry the kernel does not have (e.g. a block inside an allow).
				Works with the daemon stopped like block.`),
			Flags: controlFlags(true),
			Action: func(c *cli.Context) error {
				if _, err := controlArgs(c, "blocks list", "flowsieve blocks list [--json]", 0); err != nil {
					return err
				}
				return controlQuery(c, "blocks list", true, control.Backend.BlocksList, writeBlocks)
			},
		}},
	}
}

// writeBlocks prints blocks list as a table.
func writeBlocks(out io.Writer, l []control.BlockEntry) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PREFIX\tKIND\tACTION\tENFORCED\tPACKETS\tBYTES\tEXPIRES\tREASON")
	for _, e := range l {
		exp := "never"
		if !e.Expires.IsZero() {
			exp = "in " + policy.ShortDuration(time.Until(e.Expires).Round(time.Second))
		}
		enf := map[bool]string{true: "yes", false: "no"}[e.Enforced]
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Prefix, e.Kind, orDash(e.Action, "-"), enf,
			strconv.FormatUint(e.Packets, 10), humanBytes(e.Bytes), exp, orDash(e.Reason, "-"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(l) == 0 {
		fmt.Fprintln(out, "(no blocks or allows)")
	}
	return nil
}

func orDash(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
