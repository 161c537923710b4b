package cli

import (
	"context"
	"net/netip"

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
		Action: removePrefix("disallow", control.MethodDisallow, func(b control.Backend, p netip.Prefix) (bool, error) {
			return b.Disallow(context.Background(), p)
		}, "disallowed", "is not allowed by the operator"),
	}
}
