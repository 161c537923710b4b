package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show what the running daemon is: mode, interfaces, XDP mode, queues, model, policy, uptime",
		Description: Prose(`Asks the running daemon through its control socket. Exits with status 3 when it is not running
			and 4 when the socket refuses this user (run as root).`),
		Flags: controlFlags(false),
		Action: func(c *cli.Context) error {
			if _, err := controlArgs(c, "status", "flowsieve status [--json]", 0); err != nil {
				return err
			}
			return controlQuery(c, "status", false, control.Backend.Status, writeStatus)
		},
	}
}

// writeStatus prints what status shows without --json.
func writeStatus(w io.Writer, s control.Status) error {
	fmt.Fprintf(w, "flowsieve %s running (pid %d) for %s, since %s\n", s.Version, s.PID,
		policy.ShortDuration(time.Duration(s.Uptime).Round(time.Second)), s.Started.Local().Format(time.DateTime))
	fmt.Fprintf(w, "mode:       %s on %s\n", s.Mode, joinOr(s.Interfaces, "-"))
	fmt.Fprintf(w, "xdp:        %s mode, %d queue(s)\n", s.XDPMode, s.Queues)
	fmt.Fprintf(w, "model:      %s", orDash(s.Model.Path, "none"))
	if len(s.Model.Classes) > 0 {
		fmt.Fprintf(w, " (%d classes: %s)", len(s.Model.Classes), strings.Join(s.Model.Classes, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "policy:     %s, %d rules\n", orDash(s.Policy, "built-in (pass everything)"), s.Rules)
	writeStatusProbe(w, s.Probe)
	return nil
}
