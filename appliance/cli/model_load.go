package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/model"
)

func modelLoadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "validate a model file, then hot-swap it into the running daemon",
		ArgsUsage: "MODEL.json",
		Description: Prose(`Validates the model file here first (a broken file is refused before the daemon sees it), then
			asks the running daemon to load it from the same path (made absolute), validate it against its feature
			schema and swap it in atomically: flows classified from then on use it, nothing is restarted.`),
		Flags: controlFlags(false),
		Action: func(c *cli.Context) error {
			args, err := controlArgs(c, "model load", "flowsieve model load MODEL.json [--json]", 1)
			if err != nil {
				return err
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return cli.Exit("model load: "+err.Error(), exitUsage)
			}
			if _, err := model.Load(path); err != nil {
				return cli.Exit("model load: "+err.Error(), exitFailed)
			}
			load := func(b control.Backend, ctx context.Context) (control.ModelInfo, error) { return b.ModelLoad(ctx, path) }
			return controlQuery(c, "model load", false, load, func(w io.Writer, m control.ModelInfo) error {
				_, err := fmt.Fprintf(w, "loaded %s: %d classes (%s), %d features, %d nodes, %d clusters\n",
					m.Path, len(m.Classes), strings.Join(m.Classes, ", "), m.Features, m.Nodes, m.Clusters)
				return err
			})
		},
	}
}
