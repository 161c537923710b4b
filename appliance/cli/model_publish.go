package cli

import (
	"context"
	"fmt"
	"io"

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
			publish := func(f *fleet.Client, ctx context.Context) (fleet.ModelInfo, error) {
				return f.PublishModel(ctx, args[0])
			}
			return fleetQuery(c, name, publish, func(w io.Writer, mi fleet.ModelInfo) error {
				_, err := fmt.Fprintf(w, "published %s as v%d (sha256 %s, %d bytes)\n", mi.File, mi.Version, mi.SHA256, mi.Size)
				return err
			})
		},
	}
}
