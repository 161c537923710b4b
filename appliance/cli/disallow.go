package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

func disallowCommand() *cli.Command {
	return &cli.Command{
		Name:      "disallow",
		Usage:     "remove the operator allow of a source prefix",
		ArgsUsage: "PREFIX",
		Description: "Removes the allow of exactly PREFIX (as listed by `flowsieve blocks list` with kind allow) from the " +
			"XDP source trie and the state file: its traffic is judged by the policy again, and blocks recorded inside " +
			"it are enforced again. Pass and tag verdicts of flows with an endpoint inside it are flushed so those " +
			"flows get the decision their classification made. The policy's allowlist is not changed (edit the policy " +
			"and run `flowsieve policy apply`). Exits with status 1 when there was no such allow. Works with the " +
			"daemon stopped like block.",
		Flags: controlFlags(true),
		Action: func(c *cli.Context) error {
			args, err := controlArgs(c, "disallow", "flowsieve disallow PREFIX [--json]", 1)
			if err != nil {
				return err
			}
			r, err := control.ValidateBlock(control.MethodDisallow, control.BlockParams{Prefix: args[0]})
			if err != nil {
				return cli.Exit("disallow: "+err.Error(), exitUsage)
			}
			return controlCall(c, "disallow", true, func(b control.Backend) error {
				ok, err := b.Disallow(context.Background(), r.Prefix)
				if err != nil {
					return err
				}
				if c.Bool(controlFlagJSON) {
					if err := writeControlJSON(c.App.Writer, control.UnblockResult{Removed: ok}); err != nil {
						return err
					}
				} else if ok {
					fmt.Fprintf(c.App.Writer, "disallowed %s\n", r.Prefix)
				}
				if !ok {
					return cli.Exit(fmt.Sprintf("disallow: %s is not allowed by the operator (see `flowsieve blocks list`)", r.Prefix), exitFailed)
				}
				return nil
			})
		},
	}
}
