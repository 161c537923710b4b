package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/fleet"
)

func fleetListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the fleet's verdicts in force",
		Description: "Prints every fleet verdict that has not expired: prefix, scope (block: an operator's; source or " +
			"prefix: learned by a member's policy), who wrote it, when it expires and why.",
		Flags: fleetFlags(),
		Action: func(c *cli.Context) error {
			return fleetCall(c, "fleet list", func(f *fleet.Client) error {
				list, err := f.List(context.Background())
				if err != nil {
					return err
				}
				if c.Bool(fleetFlagJSON) {
					if list == nil {
						list = []fleet.Entry{}
					}
					return writeControlJSON(c.App.Writer, list)
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PREFIX\tSCOPE\tORIGIN\tEXPIRES\tREASON")
				for _, e := range list {
					v := e.Verdict
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Prefix, v.Scope, v.Origin, v.Expires.Local().Format(time.DateTime), v.Reason)
				}
				return tw.Flush()
			})
		},
	}
}
