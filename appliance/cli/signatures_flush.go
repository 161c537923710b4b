package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// signaturesFlagVictim names the victim whose signatures flush removes.
const signaturesFlagVictim = "victim"

func signaturesFlushCommand() *cli.Command {
	victimFlag := &cli.StringFlag{Name: signaturesFlagVictim, EnvVars: []string{"FLOWSIEVE_VICTIM"},
		Usage: "Only the signatures of this victim (one IPv4 or IPv6 address)."}
	return mitigationCommand("signatures flush", "flowsieve signatures flush [--victim ADDR] [--json]",
		"remove installed signatures from the XDP program (all, or one victim's)",
		"Removes every signature, or with --victim those of one destination address, from the kernel at "+
			"once. A victim still under attack may get a new signature learned; to stop that, raise the victim "+
			"thresholds in the policy's mitigation section.",
		0, []cli.Flag{victimFlag}, func(c *cli.Context, _ []string) (mitigationOp, error) {
			victim, err := control.ParseVictim(control.MethodSignaturesFlush, c.String(signaturesFlagVictim))
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, b control.MitigationBackend) (any, func(io.Writer), error) {
				n, err := b.SignaturesFlush(ctx, victim)
				return control.FlushResult{Removed: n}, func(w io.Writer) {
					if victim.IsValid() {
						fmt.Fprintf(w, "flushed %d signatures of %s\n", n, victim)
					} else {
						fmt.Fprintf(w, "flushed %d signatures\n", n)
					}
				}, err
			}, nil
		})
}
