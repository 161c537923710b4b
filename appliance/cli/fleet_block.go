package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/fleet"
)

func fleetBlockCommand() *cli.Command {
	return &cli.Command{
		Name:      "block",
		Usage:     "block a source prefix on every appliance of the fleet",
		ArgsUsage: "PREFIX",
		Description: Prose(`Writes a block of PREFIX to the fleet's verdict bucket; every member enforces it in its own XDP
			maps within about a second, except where it overlaps that member's allowlist. It lasts --ttl (default
			fleet.default_ttl, at most fleet.max_ttl); blocking it again replaces TTL and reason.`),
		Flags: fleetFlags(
			&cli.DurationFlag{Name: blockFlagTTL, Usage: "Lifetime of the block (e.g. 30m, 12h); 0 uses fleet.default_ttl."},
			&cli.StringFlag{Name: blockFlagReason, Usage: "Why the block was made; shown by `flowsieve fleet list` (at most 200 bytes)."},
		),
		Action: func(c *cli.Context) error {
			const name = "fleet block"
			r, err := prefixArg(c, name, "flowsieve fleet block PREFIX [--ttl D] [--reason TEXT] [--nats URL]", control.MethodBlock)
			if err != nil {
				return err
			}
			put := func(f *fleet.Client, ctx context.Context) (fleet.Entry, error) {
				return f.Put(ctx, f.NewVerdict(fleet.ScopeBlock, r.Prefix, r.TTL, r.Reason))
			}
			return fleetQuery(c, name, put, func(w io.Writer, e fleet.Entry) error {
				_, err := fmt.Fprintf(w, "blocked %s in the fleet until %s\n", e.Verdict.Prefix, e.Verdict.Expires.Local().Format(time.DateTime))
				return err
			})
		},
	}
}

func fleetUnblockCommand() *cli.Command {
	return &cli.Command{
		Name:      "unblock",
		Usage:     "remove a fleet verdict of a prefix from every appliance",
		ArgsUsage: "PREFIX",
		Description: "Deletes the fleet verdict of exactly PREFIX (as `flowsieve fleet list` shows it); every member " +
			"withdraws its block. Members' own blocks of the prefix stay. Exits with status 1 when the fleet had none.",
		Flags: fleetFlags(),
		Action: func(c *cli.Context) error {
			const name = "fleet unblock"
			r, err := prefixArg(c, name, "flowsieve fleet unblock PREFIX [--nats URL]", control.MethodUnblock)
			if err != nil {
				return err
			}
			del := func(f *fleet.Client, ctx context.Context) (map[string]any, error) {
				ok, err := f.Delete(ctx, r.Prefix)
				if err == nil && !ok {
					err = cli.Exit(fmt.Sprintf("%s: %s has no fleet verdict", name, r.Prefix), exitFailed)
				}
				return map[string]any{"prefix": r.Prefix.String(), "unblocked": true}, err
			}
			return fleetQuery(c, name, del, func(w io.Writer, _ map[string]any) error {
				_, err := fmt.Fprintf(w, "unblocked %s in the fleet\n", r.Prefix)
				return err
			})
		},
	}
}
