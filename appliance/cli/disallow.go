package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

func disallowCommand() *cli.Command {
	return removalCommand(control.MethodDisallow, "remove the operator allow of a source prefix",
		"Removes the allow of exactly PREFIX (as listed by `flowsieve blocks list` with kind allow) from the "+
			"XDP source trie and the state file: its traffic is judged by the policy again, and blocks recorded inside "+
			"it are enforced again. Pass and tag verdicts of flows with an endpoint inside it are flushed so those "+
			"flows get the decision their classification made. The policy's allowlist is not changed (edit the policy "+
			"and run `flowsieve policy apply`). Exits with status 1 when there was no such allow. Works with the "+
			"daemon stopped like block.",
		control.Backend.Disallow, "disallowed", "is not allowed by the operator")
}
