package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/fleet"
)

func fleetListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the fleet's verdicts in force",
		Description: Prose(`Prints every fleet verdict that has not expired: prefix, scope (block: an operator's; source or
			prefix: learned by a member's policy), who wrote it, when it expires and why.`),
		Flags: fleetFlags(),
		Action: func(c *cli.Context) error {
			list := func(f *fleet.Client, ctx context.Context) ([]fleet.Entry, error) {
				l, err := f.List(ctx)
				if l == nil {
					l = []fleet.Entry{}
				}
				return l, err
			}
			return fleetQuery(c, "fleet list", list, writeFleetList)
		},
	}
}

// writeFleetList prints fleet list as a table.
func writeFleetList(w io.Writer, list []fleet.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tSCOPE\tORIGIN\tEXPIRES\tREASON")
	for _, e := range list {
		v := e.Verdict
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Prefix, v.Scope, v.Origin, v.Expires.Local().Format(time.DateTime), v.Reason)
	}
	return tw.Flush()
}
