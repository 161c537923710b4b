package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// Flag names of block and allow.
const (
	blockFlagTTL    = "ttl"
	blockFlagReason = "reason"
)

func blockEntryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: blockFlagTTL, Usage: "Remove the entry after this long (e.g. 30m, 12h); 0 keeps it until removed."},
		&cli.StringFlag{Name: blockFlagReason, Usage: "Why the entry was made; shown by `flowsieve blocks list` (at most 256 bytes)."},
	}
}

func blockCommand() *cli.Command {
	return blockEntryCommand(control.MethodBlock, "drop every packet from a source prefix, from the next packet on",
		"Blocks a source address or prefix (192.0.2.7, 192.0.2.0/24, 2001:db8::/32) in the XDP program's "+
			"source trie and records the block in the state directory, so it survives restarts. A prefix that overlaps "+
			"the allowlist (the policy's or `flowsieve allow`'s) is refused. When the daemon is not running, the block "+
			"is written to the maps it left pinned and to the state file directly (see --offline). Blocking a blocked "+
			"prefix again replaces its TTL and reason.")
}

// blockEntryCommand is block or allow, named after its method m: it takes one
// PREFIX with --ttl and --reason and records the entry through the daemon or,
// when it is not running, in the pinned maps and the state file.
func blockEntryCommand(m control.Method, usage, description string) *cli.Command {
	return &cli.Command{Name: string(m), Usage: usage, ArgsUsage: "PREFIX", Description: description,
		Flags:  controlFlags(true, blockEntryFlags()...),
		Action: func(c *cli.Context) error { return runBlockEntry(c, string(m), m) },
	}
}

// runBlockEntry runs block or allow.
func runBlockEntry(c *cli.Context, name string, m control.Method) error {
	r, err := prefixArg(c, name, "flowsieve "+name+" PREFIX [--ttl D] [--reason TEXT] [--json]", m)
	if err != nil {
		return err
	}
	enter := func(b control.Backend, ctx context.Context) (control.BlockEntry, error) {
		if m == control.MethodBlock {
			return b.Block(ctx, r)
		}
		return b.Allow(ctx, r)
	}
	return controlQuery(c, name, true, enter, func(w io.Writer, e control.BlockEntry) error {
		writeBlockEntry(w, name+"ed", e)
		return nil
	})
}

// writeBlockEntry prints a block or allow entry after verb.
func writeBlockEntry(w io.Writer, verb string, e control.BlockEntry) {
	fmt.Fprintf(w, "%s %s", verb, e.Prefix)
	if !e.Expires.IsZero() {
		fmt.Fprintf(w, " until %s", e.Expires.Local().Format(time.DateTime))
	}
	if e.Reason != "" {
		fmt.Fprintf(w, " (%s)", e.Reason)
	}
	if !e.Enforced {
		fmt.Fprint(w, "; recorded, enforced when the daemon starts")
	}
	fmt.Fprintln(w)
}
