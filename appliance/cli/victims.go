package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// victimsCommand groups the victim subcommands.
func victimsCommand() *cli.Command {
	return &cli.Command{
		Name:  "victims",
		Usage: "the destinations the daemon sees under attack",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list the destinations under attack, most packets per second first",
			Description: "Lists every destination the victim detector tracks as under attack: the attack kind, since " +
				"when, packets and bytes per second over the detector's short window, the estimated number of distinct " +
				"sources, and how it is protected (signature, rate_limit, sources, or none while still learning) with " +
				"the slots of its signatures. Needs the running daemon.",
			Flags:  controlFlags(false),
			Action: runVictimsList,
		}},
	}
}

func runVictimsList(c *cli.Context) error {
	const name = "victims list"
	if _, err := controlArgs(c, name, "flowsieve victims list [--json]", 0); err != nil {
		return err
	}
	return mitigationCall(c, name, func(b control.MitigationBackend) error {
		l, err := b.VictimsList(context.Background())
		if err != nil {
			return err
		}
		if c.Bool(controlFlagJSON) {
			return writeControlJSON(c.App.Writer, l)
		}
		writeVictims(c.App.Writer, l, time.Now())
		if len(l) == 0 {
			fmt.Fprintln(c.App.Writer, "(no victims under attack)")
		}
		return nil
	})
}

// writeVictims prints victims as a table.
func writeVictims(w io.Writer, l []control.VictimInfo, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VICTIM\tKIND\tSINCE\tPPS\tBPS\tSOURCES\tMITIGATION\tSIGNATURES")
	for _, v := range l {
		sigs := make([]string, len(v.Signatures))
		for i, s := range v.Signatures {
			sigs[i] = strconv.Itoa(s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s ago\t%.0f\t%s/s\t%d\t%s\t%s\n", v.Addr, orDash(v.Kind, "-"), sinceText(v.Since, now),
			v.PacketsPerSecond, humanBytes(uint64(max(v.BytesPerSecond, 0))), v.Sources, orDash(v.Mitigation, "none"), joinOr(sigs, "-"))
	}
	tw.Flush()
}
