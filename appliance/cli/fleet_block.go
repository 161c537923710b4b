package cli

import (
	"context"
	"fmt"
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
		Description: "Writes a block of PREFIX to the fleet's verdict bucket; every member enforces it in its own XDP " +
			"maps within about a second, except where it overlaps that member's allowlist. It lasts --ttl (default " +
			"fleet.default_ttl, at most fleet.max_ttl); blocking it again replaces TTL and reason.",
		Flags: fleetFlags(
			&cli.DurationFlag{Name: blockFlagTTL, Usage: "Lifetime of the block (e.g. 30m, 12h); 0 uses fleet.default_ttl."},
			&cli.StringFlag{Name: blockFlagReason, Usage: "Why the block was made; shown by `flowsieve fleet list` (at most 200 bytes)."},
		),
		Action: func(c *cli.Context) error {
			const name = "fleet block"
			args, err := controlArgs(c, name, "flowsieve fleet block PREFIX [--ttl D] [--reason TEXT] [--nats URL]", 1)
			if err != nil {
				return err
			}
			r, err := control.ValidateBlock(control.MethodBlock, control.BlockParams{Prefix: args[0], TTL: control.Duration(c.Duration(blockFlagTTL)), Reason: c.String(blockFlagReason)})
			if err != nil {
				return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
			}
			return fleetCall(c, name, func(f *fleet.Client) error {
				e, err := f.Put(context.Background(), f.NewVerdict(fleet.ScopeBlock, r.Prefix, r.TTL, r.Reason))
				if err != nil {
					return err
				}
				if c.Bool(fleetFlagJSON) {
					return writeControlJSON(c.App.Writer, e)
				}
				fmt.Fprintf(c.App.Writer, "blocked %s in the fleet until %s\n", e.Verdict.Prefix, e.Verdict.Expires.Local().Format(time.DateTime))
				return nil
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
			args, err := controlArgs(c, name, "flowsieve fleet unblock PREFIX [--nats URL]", 1)
			if err != nil {
				return err
			}
			r, err := control.ValidateBlock(control.MethodUnblock, control.BlockParams{Prefix: args[0]})
			if err != nil {
				return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
			}
			return fleetCall(c, name, func(f *fleet.Client) error {
				ok, err := f.Delete(context.Background(), r.Prefix)
				if err != nil {
					return err
				}
				if !ok {
					return cli.Exit(fmt.Sprintf("%s: %s has no fleet verdict", name, r.Prefix), exitFailed)
				}
				if c.Bool(fleetFlagJSON) {
					return writeControlJSON(c.App.Writer, map[string]any{"prefix": r.Prefix.String(), "unblocked": true})
				}
				fmt.Fprintf(c.App.Writer, "unblocked %s in the fleet\n", r.Prefix)
				return nil
			})
		},
	}
}
