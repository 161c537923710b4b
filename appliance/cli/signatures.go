package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// signaturesCommand groups the signature subcommands.
func signaturesCommand() *cli.Command {
	c := mitigationGroup("signatures", "list, show or flush the per-packet signatures the daemon installed in the XDP program",
		signaturesListCommand(), signaturesShowCommand(), signaturesFlushCommand())
	c.Description = "While a victim is under attack the daemon learns a small decision tree over packet header fields " +
		"that separates the attack's packets from the victim's normal traffic, checks it on held-back samples, and " +
		"installs it in the XDP program, scoped to the victim and with a TTL. These commands need the running daemon."
	return c
}

func signaturesListCommand() *cli.Command {
	return mitigationCommand("signatures list", "flowsieve signatures list [--json]",
		"list the installed signatures with their victim, kind, hits and expiry, newest first",
		"Lists every signature in force: its slot (give it to `signatures show`), the victim it is scoped "+
			"to, the attack kind, what a matching packet gets, the packets it matched, the share of held-back normal "+
			"packets it would drop (BENIGN DROP) and of attack packets it matched, and when it expires.",
		0, nil, listOp(control.MitigationBackend.SignaturesList, writeSignatures, "(no signatures installed)"))
}

// writeSignatures prints signatures as a table.
func writeSignatures(w io.Writer, l []control.SignatureInfo, now time.Time) {
	writeRows(w, "SLOT\tVICTIM\tKIND\tACTION\tDEPTH\tHITS\tBENIGN DROP\tATTACK MATCH\tAGE\tEXPIRES", l, func(s control.SignatureInfo) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%d\t%.2f%%\t%.1f%%\t%s\t%s", s.Slot, s.Victim, orDash(s.Kind, "-"), s.Action,
			s.Depth, s.Hits, 100*s.BenignDrop, 100*s.AttackMatch, sinceText(s.Installed, now), untilText(s.Expires, now))
	})
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
