package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/fleet"
)

func modelPublishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a model file to the fleet: members with fleet.model: follow hot-swap it",
		ArgsUsage: "MODEL.json",
		Description: "Validates the model file, then stores it in the fleet's model store as the next version with its " +
			"SHA-256. Every member with fleet.model: follow downloads it, checks the hash and hot-swaps it; a member " +
			"whose daemon cannot load it keeps its running model and reports the refusal in `flowsieve fleet status`.",
		Flags: fleetFlags(),
		Action: func(c *cli.Context) error {
			const name = "model publish"
			args, err := controlArgs(c, name, "flowsieve model publish MODEL.json [--nats URL] [--json]", 1)
			if err != nil {
				return err
			}
			return fleetCall(c, name, func(f *fleet.Client) error {
				mi, err := f.PublishModel(context.Background(), args[0])
				if err != nil {
					return err
				}
				if c.Bool(fleetFlagJSON) {
					return writeControlJSON(c.App.Writer, mi)
				}
				fmt.Fprintf(c.App.Writer, "published %s as v%d (sha256 %s, %d bytes)\n", mi.File, mi.Version, mi.SHA256, mi.Size)
				return nil
			})
		},
	}
}
