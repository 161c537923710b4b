package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// verdictsFlagScope selects which verdicts `verdicts list` shows.
const verdictsFlagScope = "scope"

// The scopes of `verdicts list --scope`.
const (
	scopeFlow      = "flow"
	scopeSource    = "source"
	scopePrefix    = "prefix"
	scopeSignature = "signature"
	scopeAll       = "all"
)

// verdictsScopeFlag is the --scope flag of `verdicts list`.
func verdictsScopeFlag() cli.Flag {
	return &cli.StringFlag{Name: verdictsFlagScope, Value: scopeFlow, EnvVars: []string{"FLOWSIEVE_VERDICTS_SCOPE"},
		Usage: "Which verdicts: flow (per-flow, the LRU map), source (one address) or prefix (wider) verdicts the daemon " +
			"wrote in the source tries, signature (per-packet signatures per victim, daemon only) or all of them."}
}

// scopedVerdicts is what `verdicts list --scope S --json` prints: the sections S selects.
type scopedVerdicts struct {
	Flows      *control.VerdictList    `json:"flows,omitempty"`
	Sources    []control.BlockEntry    `json:"sources,omitempty"`
	Prefixes   []control.BlockEntry    `json:"prefixes,omitempty"`
	Signatures []control.SignatureInfo `json:"signatures,omitempty"`
}

// runVerdictsScope lists the verdicts of scope (anything but flow alone) that
// q's action, prefix and limit select.
func runVerdictsScope(c *cli.Context, name, scope string, q control.VerdictQuery) error {
	switch scope {
	case scopeSource, scopePrefix, scopeSignature, scopeAll:
	default:
		return cli.Exit(fmt.Sprintf("%s: --scope %q: want flow, source, prefix, signature or all", name, scope), exitUsage)
	}
	if q.Label != "" && scope != scopeAll {
		return cli.Exit(fmt.Sprintf("%s: --label applies to flow verdicts only, not to --scope %s", name, scope), exitUsage)
	}
	return controlCall(c, name, true, func(b control.Backend) error {
		v, err := collectScoped(context.Background(), b, scope, q, c.App.ErrWriter, name)
		if err != nil {
			return err
		}
		if c.Bool(flagJSON) {
			return writeControlJSON(c.App.Writer, v)
		}
		writeScoped(c.App.Writer, v, scope, time.Now())
		return nil
	})
}

// collectScoped reads the sections of scope from b. With scope all, a backend
// without mitigation (the daemon stopped) only skips the signatures, noting so
// on errw.
func collectScoped(ctx context.Context, b control.Backend, scope string, q control.VerdictQuery, errw io.Writer, name string) (scopedVerdicts, error) {
	var v scopedVerdicts
	if scope == scopeAll {
		l, err := b.VerdictsList(ctx, q)
		if err != nil {
			return v, err
		}
		v.Flows = &l
	}
	if scope == scopeSource || scope == scopePrefix || scope == scopeAll {
		l, err := b.BlocksList(ctx)
		if err != nil {
			return v, err
		}
		v.Sources, v.Prefixes = splitSourceVerdicts(l, q)
		if scope == scopeSource {
			v.Prefixes = nil
		} else if scope == scopePrefix {
			v.Sources = nil
		}
	}
	if scope == scopeSignature || scope == scopeAll {
		l, err := signatureVerdicts(ctx, b, q)
		if errors.Is(err, control.ErrUnsupported) && scope == scopeAll {
			fmt.Fprintf(errw, "%s: no signatures: %v\n", name, err)
			err = nil
		}
		if err != nil {
			return v, err
		}
		v.Signatures = l
	}
	return v, nil
}

// splitSourceVerdicts returns the verdicts the daemon wrote in the source tries
// (operator blocks and allows are `blocks list`'s), split into single addresses
// and wider prefixes, filtered by q's action and prefix, at most q.Limit each.
func splitSourceVerdicts(l []control.BlockEntry, q control.VerdictQuery) (sources, prefixes []control.BlockEntry) {
	for _, e := range l {
		if e.Kind == "block" || e.Kind == "allow" {
			continue
		}
		p, err := netip.ParsePrefix(e.Prefix)
		if err != nil || (q.Action != "" && q.Action != e.Action) || (q.Prefix.IsValid() && !q.Prefix.Overlaps(p)) {
			continue
		}
		if p.IsSingleIP() {
			if q.Limit == 0 || len(sources) < q.Limit {
				sources = append(sources, e)
			}
		} else if q.Limit == 0 || len(prefixes) < q.Limit {
			prefixes = append(prefixes, e)
		}
	}
	return sources, prefixes
}

// signatureVerdicts lists the signatures whose victim is inside q's prefix and
// whose action is q's, at most q.Limit.
func signatureVerdicts(ctx context.Context, b control.Backend, q control.VerdictQuery) ([]control.SignatureInfo, error) {
	mb, ok := b.(control.MitigationBackend)
	if !ok {
		return nil, fmt.Errorf("%w: signatures are known to the running daemon only", control.ErrUnsupported)
	}
	l, err := mb.SignaturesList(ctx)
	if err != nil {
		return nil, err
	}
	out := l[:0]
	for _, s := range l {
		a, err := netip.ParseAddr(s.Victim)
		if (q.Action != "" && q.Action != s.Action) || (q.Prefix.IsValid() && (err != nil || !q.Prefix.Contains(a.Unmap()))) {
			continue
		}
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		out = append(out, s)
	}
	return out, nil
}

// writeScoped prints each section scope selects, saying so when one is empty.
func writeScoped(w io.Writer, v scopedVerdicts, scope string, now time.Time) {
	if v.Flows != nil {
		fmt.Fprintf(w, "flow verdicts (%d of %d):\n", len(v.Flows.Verdicts), v.Flows.Total)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LO\tHI\tPROTO\tACTION\tLABEL\tPACKETS\tBYTES")
		for _, f := range v.Flows.Verdicts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\n", f.Lo, f.Hi, f.Proto, f.Action, orDash(f.Label, "-"), f.Packets, humanBytes(f.Bytes))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	for _, sec := range []struct {
		scope, title string
		l            []control.BlockEntry
	}{{scopeSource, "source verdicts", v.Sources}, {scopePrefix, "prefix verdicts", v.Prefixes}} {
		if scope != sec.scope && scope != scopeAll {
			continue
		}
		fmt.Fprintf(w, "%s (%d):\n", sec.title, len(sec.l))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PREFIX\tACTION\tENFORCED\tPACKETS\tBYTES\tEXPIRES\tREASON")
		for _, e := range sec.l {
			exp := "never"
			if !e.Expires.IsZero() {
				exp = untilText(e.Expires, now)
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\t%s\n", e.Prefix, orDash(e.Action, "-"), e.Enforced, e.Packets, humanBytes(e.Bytes), exp, orDash(e.Reason, "-"))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if scope == scopeSignature || scope == scopeAll {
		fmt.Fprintf(w, "signatures (%d):\n", len(v.Signatures))
		writeSignatures(w, v.Signatures, now)
	}
}
