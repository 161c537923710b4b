package cli

import (
	"context"
	"net/netip"

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
		Action: removePrefix("unblock", control.MethodUnblock, func(b control.Backend, p netip.Prefix) (bool, error) {
			return b.Unblock(context.Background(), p)
		}, "unblocked", "is not blocked"),
	}
}
