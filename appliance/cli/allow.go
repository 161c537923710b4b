package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

func allowCommand() *cli.Command {
	return blockEntryCommand(control.MethodAllow, "trust a source prefix: never drop or tag it",
		Prose(`Allows a source address or prefix: its packets are forwarded in the kernel whatever the model
			says (a PASS entry in the source trie, which wins over any wider block), its drop and tag verdicts are
			removed, and new blocks overlapping it are refused. Blocks already recorded inside it stay recorded but
			are not enforced. The entry is persisted in the state directory. Works with the daemon stopped like block.`))
}
