package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// victimsCommand groups the victim subcommands.
func victimsCommand() *cli.Command {
	return mitigationGroup("victims", "the destinations the daemon sees under attack", victimsListCommand())
}

// writeVictims prints victims as a table.
func writeVictims(w io.Writer, l []control.VictimInfo, now time.Time) {
	writeRows(w, "VICTIM\tKIND\tSINCE\tPPS\tBPS\tSOURCES\tMITIGATION\tSIGNATURES", l, func(v control.VictimInfo) string {
		sigs := make([]string, len(v.Signatures))
		for i, s := range v.Signatures {
			sigs[i] = strconv.Itoa(s)
		}
		return fmt.Sprintf("%s\t%s\t%s ago\t%.0f\t%s/s\t%d\t%s\t%s", v.Addr, orDash(v.Kind, "-"), sinceText(v.Since, now),
			v.PacketsPerSecond, humanBytes(uint64(max(v.BytesPerSecond, 0))), v.Sources, orDash(v.Mitigation, "none"), joinOr(sigs, "-"))
	})
}

func victimsListCommand() *cli.Command {
	return mitigationCommand("victims list", "flowsieve victims list [--json]",
		"list the destinations under attack, most packets per second first",
		"Lists every destination the victim detector tracks as under attack: the attack kind, since "+
			"when, packets and bytes per second over the detector's short window, the estimated number of distinct "+
			"sources, and how it is protected (signature, rate_limit, sources, or none while still learning) with "+
			"the slots of its signatures. Needs the running daemon.",
		0, nil, listOp(control.MitigationBackend.VictimsList, writeVictims, "(no victims under attack)"))
}
