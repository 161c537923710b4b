package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// signaturesFlagVictim names the victim whose signatures flush removes.
const signaturesFlagVictim = "victim"

func signaturesFlushCommand() *cli.Command {
	return &cli.Command{
		Name:  "flush",
		Usage: "remove installed signatures from the XDP program (all, or one victim's)",
		Description: "Removes every signature, or with --victim those of one destination address, from the kernel at " +
			"once. A victim still under attack may get a new signature learned; to stop that, raise the victim " +
			"thresholds in the policy's mitigation section.",
		Flags: controlFlags(false,
			&cli.StringFlag{Name: signaturesFlagVictim, EnvVars: []string{"FLOWSIEVE_VICTIM"},
				Usage: "Only the signatures of this victim (one IPv4 or IPv6 address)."}),
		Action: runSignaturesFlush,
	}
}

func runSignaturesFlush(c *cli.Context) error {
	const name = "signatures flush"
	if _, err := controlArgs(c, name, "flowsieve signatures flush [--victim ADDR] [--json]", 0); err != nil {
		return err
	}
	victim, err := control.ParseVictim(control.MethodSignaturesFlush, c.String(signaturesFlagVictim))
	if err != nil {
		return cli.Exit(name+": "+err.Error(), exitUsage)
	}
	return mitigationCall(c, name, func(b control.MitigationBackend) error {
		n, err := b.SignaturesFlush(context.Background(), victim)
		if err != nil {
			return err
		}
		if c.Bool(controlFlagJSON) {
			return writeControlJSON(c.App.Writer, control.FlushResult{Removed: n})
		}
		if victim.IsValid() {
			fmt.Fprintf(c.App.Writer, "flushed %d signatures of %s\n", n, victim)
		} else {
			fmt.Fprintf(c.App.Writer, "flushed %d signatures\n", n)
		}
		return nil
	})
}
