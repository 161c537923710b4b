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
	const usage = "flowsieve signatures show SLOT [--json]"
	return mitigationCommand("signatures show", usage, "print one installed signature as the tree the XDP program walks",
		"Prints the signature in SLOT (0 to 63, as `signatures list` shows) with its victim, kind, counters "+
			"and expiry, then its tree: each split reads one header field and goes to the first branch when the "+
			"field is at most the threshold; DROP leaves drop the packet, pass leaves hand it to the other checks.",
		1, nil, func(_ *cli.Context, args []string) (mitigationOp, error) {
			slot, err := strconv.Atoi(args[0])
			if err != nil {
				return nil, fmt.Errorf("slot %q is not a number; usage: %s", args[0], usage)
			}
			if err := control.ValidateSlot(control.MethodSignatureShow, slot); err != nil {
				return nil, err
			}
			return func(ctx context.Context, b control.MitigationBackend) (any, func(io.Writer), error) {
				s, err := b.SignatureShow(ctx, slot)
				return s, func(w io.Writer) { writeSignature(w, s, time.Now()) }, err
			}, nil
		})
}

// writeSignature prints a signature's description and its tree.
func writeSignature(w io.Writer, s control.SignatureInfo, now time.Time) {
	fmt.Fprintf(w, "signature %d: victim %s, %s, %s, depth %d, %d nodes\n", s.Slot, s.Victim, orDash(s.Kind, "unknown kind"),
		s.Action, s.Depth, len(s.Nodes))
	fmt.Fprintf(w, "installed %s ago, expires %s; %d hits; on held-back samples it dropped %.2f%% of normal and matched %.1f%% of attack packets\n\n",
		sinceText(s.Installed, now), untilText(s.Expires, now), s.Hits, 100*s.BenignDrop, 100*s.AttackMatch)
	writeSignatureTree(w, s.Nodes)
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
