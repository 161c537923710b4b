package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/fleet"
)

func fleetStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the fleet: server, verdicts, models, alerts and members",
		Description: Prose(`Connects to the NATS server and prints its version, how many fleet verdicts are in force, the
			latest published model, the alert stream's size and every member that sent a heartbeat in the last
			30 s with what it enforces, what its allowlist refused, what it buffers and which model it runs.`),
		Flags: fleetFlags(),
		Action: func(c *cli.Context) error {
			return fleetQuery(c, "fleet status", (*fleet.Client).Status, writeFleetStatus)
		},
	}
}

// writeFleetStatus prints what fleet status shows without --json.
func writeFleetStatus(w io.Writer, st fleet.FleetStatus) error {
	fmt.Fprintf(w, "server   %s (nats-server %s)\n", st.Server, st.ServerVersion)
	fmt.Fprintf(w, "verdicts %d in force (%d stored)\n", st.Verdicts, st.Stored)
	if st.Models > 0 {
		fmt.Fprintf(w, "models   %d published, latest v%d %s sha256 %.12s by %s\n", st.Models, st.Latest.Version, st.Latest.File, st.Latest.SHA256, st.Latest.Publisher)
	} else {
		fmt.Fprintln(w, "models   none published")
	}
	fmt.Fprintf(w, "alerts   %d\n", st.Alerts)
	fmt.Fprintf(w, "members  %d\n", len(st.Members))
	for _, m := range st.Members {
		model := "local model"
		if m.Model.Version > 0 {
			model = fmt.Sprintf("model v%d", m.Model.Version)
		}
		fmt.Fprintf(w, "  %-20s enforces %d, refused %d, pending %d, %s, up since %s\n",
			m.Name, m.Enforced, m.Refused, m.Pending, model, m.Since.Local().Format(time.DateTime))
	}
	return nil
}
