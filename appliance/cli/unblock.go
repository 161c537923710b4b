package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

func unblockCommand() *cli.Command {
	return removalCommand(control.MethodUnblock, "remove the block of a source prefix",
		"Removes the block of exactly PREFIX (as listed by `flowsieve blocks list`, whether an operator or "+
			"the policy made it) from the XDP source trie and the state file, so delivery resumes from the next packet. "+
			"Exits with status 1 when there was no such block. Works with the daemon stopped like block.",
		control.Backend.Unblock, "unblocked", "is not blocked")
}
