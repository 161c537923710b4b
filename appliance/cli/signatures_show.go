package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

func signaturesShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print one installed signature as the tree the XDP program walks",
		ArgsUsage: "SLOT",
		Description: "Prints the signature in SLOT (0 to 63, as `signatures list` shows) with its victim, kind, counters " +
			"and expiry, then its tree: each split reads one header field and goes to the first branch when the " +
			"field is at most the threshold; DROP leaves drop the packet, pass leaves hand it to the other checks.",
		Flags:  controlFlags(false),
		Action: runSignaturesShow,
	}
}

func runSignaturesShow(c *cli.Context) error {
	const name, usage = "signatures show", "flowsieve signatures show SLOT [--json]"
	args, err := controlArgs(c, name, usage, 1)
	if err != nil {
		return err
	}
	slot, err := strconv.Atoi(args[0])
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: slot %q is not a number; usage: %s", name, args[0], usage), exitUsage)
	}
	if err := control.ValidateSlot(control.MethodSignatureShow, slot); err != nil {
		return cli.Exit(name+": "+err.Error(), exitUsage)
	}
	return mitigationCall(c, name, func(b control.MitigationBackend) error {
		s, err := b.SignatureShow(context.Background(), slot)
		if err != nil {
			return err
		}
		if c.Bool(controlFlagJSON) {
			return writeControlJSON(c.App.Writer, s)
		}
		now := time.Now()
		fmt.Fprintf(c.App.Writer, "signature %d: victim %s, %s, %s, depth %d, %d nodes\n", s.Slot, s.Victim, orDash(s.Kind, "unknown kind"),
			s.Action, s.Depth, len(s.Nodes))
		fmt.Fprintf(c.App.Writer, "installed %s ago, expires %s; %d hits; on held-back samples it dropped %.2f%% of normal and matched %.1f%% of attack packets\n\n",
			sinceText(s.Installed, now), untilText(s.Expires, now), s.Hits, 100*s.BenignDrop, 100*s.AttackMatch)
		writeSignatureTree(c.App.Writer, s.Nodes)
		return nil
	})
}

// writeSignatureTree prints a signature's nodes (pre-order, children after
// their parent) as nested if/else. Nodes that break that order are printed as
// errors rather than followed, so a malformed tree never loops.
func writeSignatureTree(w io.Writer, nodes []control.SignatureNode) {
	if len(nodes) == 0 {
		fmt.Fprintln(w, "(no nodes)")
		return
	}
	var walk func(i, depth int)
	walk = func(i, depth int) {
		pad := strings.Repeat("  ", depth)
		n := nodes[i]
		if n.Leaf {
			if n.Drop {
				fmt.Fprintln(w, pad+"DROP")
			} else {
				fmt.Fprintln(w, pad+"pass")
			}
			return
		}
		fmt.Fprintf(w, "%sif %s <= %d then\n", pad, n.Field, n.Threshold)
		for k, child := range []int{n.Left, n.Right} {
			if k == 1 {
				fmt.Fprintln(w, pad+"else")
			}
			if child <= i || child >= len(nodes) {
				fmt.Fprintf(w, "%s  <bad node %d: child %d out of order>\n", pad, i, child)
				continue
			}
			walk(child, depth+1)
		}
	}
	walk(0, 0)
}
