package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// The policy subcommands that talk to the running daemon (check is in policy.go).

func policyShowCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "print the policy the running daemon enforces",
		Description: "Asks the running daemon for its policy and prints it like `policy check` does (rules in order " +
			"with every default filled in, allowlist, warnings) and where it came from.",
		Flags: controlFlags(false),
		Action: func(c *cli.Context) error {
			if _, err := controlArgs(c, "policy show", "flowsieve policy show [--json]", 0); err != nil {
				return err
			}
			return controlCall(c, "policy show", false, func(b control.Backend) error {
				info, p, err := daemonPolicy(context.Background(), b)
				if err != nil {
					return err
				}
				src := info.Source
				if src == "" {
					src = "built-in policy"
				}
				r := newPolicyReport(src, p)
				if c.Bool(flagJSON) {
					return writePolicyJSON(c.App.Writer, r)
				}
				return writePolicyReport(c.App.Writer, r)
			})
		},
	}
}

// daemonPolicy asks the daemon for its policy and compiles it.
func daemonPolicy(ctx context.Context, b control.Backend) (control.PolicyInfo, *policy.Policy, error) {
	info, err := b.PolicyShow(ctx)
	if err != nil {
		return info, nil, err
	}
	p, err := policy.Compile(info.Spec)
	if err != nil {
		return info, nil, fmt.Errorf("the daemon's policy does not compile here (version skew?): %w", err)
	}
	return info, p, nil
}

// loadPolicyArg validates a policy file for apply and diff.
func loadPolicyArg(c *cli.Context, name string) (*policy.Policy, string, error) {
	args, err := controlArgs(c, name, "flowsieve "+name+" FILE [--json]", 1)
	if err != nil {
		return nil, "", err
	}
	p, _, err := config.LoadPolicy(args[0])
	if err != nil {
		if errors.Is(err, policy.ErrInvalid) {
			return nil, "", cli.Exit(fmt.Sprintf("%s: %s is invalid, nothing changed:\n%v", name, args[0], err), exitFailed)
		}
		return nil, "", cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailed)
	}
	return p, args[0], nil
}

func policyApplyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "validate a policy file and make the running daemon enforce it, without a restart",
		ArgsUsage: "FILE",
		Description: Prose(`Validates the whole file (an invalid file changes nothing and prints every problem with its line),
			then the daemon swaps it in atomically, persists it in its state directory (so it survives restarts)
			and the changes are printed, one line per rule added, removed or changed.`),
		Flags: controlFlags(false),
		Action: func(c *cli.Context) error {
			p, file, err := loadPolicyArg(c, "policy apply")
			if err != nil {
				return err
			}
			apply := func(b control.Backend, ctx context.Context) (control.PolicyApplied, error) {
				return b.PolicyApply(ctx, p, false)
			}
			return controlQuery(c, "policy apply", false, apply, func(w io.Writer, a control.PolicyApplied) error {
				if len(a.Changes) == 0 {
					fmt.Fprintf(w, "applied %s: no changes\n", file)
					return nil
				}
				fmt.Fprintf(w, "applied %s:\n", file)
				for _, l := range a.Changes {
					fmt.Fprintln(w, " ", l)
				}
				return nil
			})
		},
	}
}

// policyDiffResult is what policy diff --json prints.
type policyDiffResult struct {
	File    string   `json:"file"`
	Source  string   `json:"source"`
	Changes []string `json:"changes"`
}

func policyDiffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what applying a policy file would change in the running daemon",
		ArgsUsage: "FILE",
		Description: Prose(`Validates the file and compares it with the policy the running daemon enforces, rule by rule
			(matched by name), then the default, allowlist and allowlist action. Nothing is changed. Exits with
			status 0 whether or not there are differences.`),
		Flags: controlFlags(false),
		Action: func(c *cli.Context) error {
			p, file, err := loadPolicyArg(c, "policy diff")
			if err != nil {
				return err
			}
			diff := func(b control.Backend, ctx context.Context) (policyDiffResult, error) {
				info, cur, err := daemonPolicy(ctx, b)
				if err != nil {
					return policyDiffResult{}, err
				}
				return policyDiffResult{File: file, Source: info.Source, Changes: append([]string{}, policy.Diff(cur, p)...)}, nil
			}
			return controlQuery(c, "policy diff", false, diff, func(w io.Writer, r policyDiffResult) error {
				if len(r.Changes) == 0 {
					fmt.Fprintf(w, "%s: same as the policy in force\n", file)
				}
				for _, l := range r.Changes {
					fmt.Fprintln(w, l)
				}
				return nil
			})
		},
	}
}
