package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

func unblockCommand() *cli.Command {
	return &cli.Command{
		Name:      "unblock",
		Usage:     "remove the block of a source prefix",
		ArgsUsage: "PREFIX",
		Description: "Removes the block of exactly PREFIX (as listed by `flowsieve blocks list`, whether an operator or " +
			"the policy made it) from the XDP source trie and the state file, so delivery resumes from the next packet. " +
			"Exits with status 1 when there was no such block. Works with the daemon stopped like block.",
		Flags: controlFlags(true),
		Action: func(c *cli.Context) error {
			args, err := controlArgs(c, "unblock", "flowsieve unblock PREFIX [--json]", 1)
			if err != nil {
				return err
			}
			r, err := control.ValidateBlock(control.MethodUnblock, control.BlockParams{Prefix: args[0]})
			if err != nil {
				return cli.Exit("unblock: "+err.Error(), exitUsage)
			}
			return controlCall(c, "unblock", true, func(b control.Backend) error {
				ok, err := b.Unblock(context.Background(), r.Prefix)
				if err != nil {
					return err
				}
				if c.Bool(controlFlagJSON) {
					if err := writeControlJSON(c.App.Writer, control.UnblockResult{Removed: ok}); err != nil {
						return err
					}
				} else if ok {
					fmt.Fprintf(c.App.Writer, "unblocked %s\n", r.Prefix)
				}
				if !ok {
					return cli.Exit(fmt.Sprintf("unblock: %s is not blocked (see `flowsieve blocks list`)", r.Prefix), exitFailed)
				}
				return nil
			})
		},
	}
}
