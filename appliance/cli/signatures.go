package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// signaturesCommand groups the signature subcommands.
func signaturesCommand() *cli.Command {
	return &cli.Command{
		Name:  "signatures",
		Usage: "list, show or flush the per-packet signatures the daemon installed in the XDP program",
		Description: "While a victim is under attack the daemon learns a small decision tree over packet header fields " +
			"that separates the attack's packets from the victim's normal traffic, checks it on held-back samples, and " +
			"installs it in the XDP program, scoped to the victim and with a TTL. These commands need the running daemon.",
		Subcommands: []*cli.Command{
			signaturesListCommand(),
			signaturesShowCommand(),
			signaturesFlushCommand(),
		},
	}
}

func signaturesListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the installed signatures with their victim, kind, hits and expiry, newest first",
		Description: "Lists every signature in force: its slot (give it to `signatures show`), the victim it is scoped " +
			"to, the attack kind, what a matching packet gets, the packets it matched, the share of held-back normal " +
			"packets it would drop (BENIGN DROP) and of attack packets it matched, and when it expires.",
		Flags:  controlFlags(false),
		Action: runSignaturesList,
	}
}

func runSignaturesList(c *cli.Context) error {
	const name = "signatures list"
	if _, err := controlArgs(c, name, "flowsieve signatures list [--json]", 0); err != nil {
		return err
	}
	return mitigationCall(c, name, func(b control.MitigationBackend) error {
		l, err := b.SignaturesList(context.Background())
		if err != nil {
			return err
		}
		if c.Bool(controlFlagJSON) {
			return writeControlJSON(c.App.Writer, l)
		}
		writeSignatures(c.App.Writer, l, time.Now())
		if len(l) == 0 {
			fmt.Fprintln(c.App.Writer, "(no signatures installed)")
		}
		return nil
	})
}

// writeSignatures prints signatures as a table.
func writeSignatures(w io.Writer, l []control.SignatureInfo, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tVICTIM\tKIND\tACTION\tDEPTH\tHITS\tBENIGN DROP\tATTACK MATCH\tAGE\tEXPIRES")
	for _, s := range l {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%.2f%%\t%.1f%%\t%s\t%s\n", s.Slot, s.Victim, orDash(s.Kind, "-"), s.Action,
			s.Depth, s.Hits, 100*s.BenignDrop, 100*s.AttackMatch, sinceText(s.Installed, now), untilText(s.Expires, now))
	}
	tw.Flush()
}

// sinceText says how long ago t was, "-" for the zero time.
func sinceText(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return policy.ShortDuration(now.Sub(t).Round(time.Second))
}

// untilText says when t comes: "in 8s", "expired", or "never" for the zero time.
func untilText(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "never"
	case !t.After(now):
		return "expired"
	}
	return "in " + policy.ShortDuration(t.Sub(now).Round(time.Second))
}

// mitigationCall runs op against the running daemon's mitigation API; there is
// no offline fallback (signatures and victims live in the daemon).
func mitigationCall(c *cli.Context, name string, op func(control.MitigationBackend) error) error {
	return controlCall(c, name, false, func(b control.Backend) error {
		mb, ok := b.(control.MitigationBackend)
		if !ok {
			return fmt.Errorf("%w: signatures and victims are known to the running daemon only", control.ErrUnsupported)
		}
		return op(mb)
	})
}
