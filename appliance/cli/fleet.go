package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/fleet"
)

// fleetFlagNATS names the NATS server of the fleet commands.
const fleetFlagNATS = "nats"

// exitFleetUnreachable is the exit code when the NATS server cannot be reached.
const exitFleetUnreachable = 3

// fleetCommand groups the fleet subcommands.
func fleetCommand() *cli.Command {
	return &cli.Command{
		Name:  "fleet",
		Usage: "share blocks and models with other appliances over NATS JetStream",
		Description: "The fleet is every appliance connected to the same NATS JetStream server (key fleet.url). Blocks " +
			"written to the fleet are enforced by every member through its own block store, where its own allowlist " +
			"wins; models published with `flowsieve model publish` are hot-swapped by members with fleet.model: follow.",
		Subcommands: []*cli.Command{
			fleetStatusCommand(),
			fleetListCommand(),
			fleetBlockCommand(),
			fleetUnblockCommand(),
		},
	}
}

// fleetFlags returns the flags of a fleet command: --nats, --json, the config
// flags, and extra.
func fleetFlags(extra ...cli.Flag) []cli.Flag {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: fleetFlagNATS, Usage: "NATS server URL(s), comma-separated; overrides fleet.url (env FLOWSIEVE_FLEET_URL)."},
		jsonFlag(),
	}, extra...)
	for _, f := range config.Flags() {
		if n := f.Names()[0]; slices.Contains([]string{config.FlagConfig, config.FlagSet}, n) {
			flags = append(flags, f)
		}
	}
	return flags
}

// fleetCall connects to the fleet named by --nats or the configuration and runs op.
func fleetCall(c *cli.Context, name string, op func(*fleet.Client) error) error {
	cfg, err := config.FromCLI(c)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
	}
	o := fleet.OptionsFrom(cfg.Fleet)
	if u := c.String(fleetFlagNATS); u != "" {
		o.URL = u
	}
	client, err := fleet.Connect(context.Background(), o)
	switch {
	case errors.Is(err, fleet.ErrOptions):
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
	case errors.Is(err, fleet.ErrConnect):
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFleetUnreachable)
	case errors.Is(err, fleet.ErrAuth):
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitDenied)
	case err != nil:
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailed)
	}
	defer client.Close()
	if err := op(client); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			return err
		}
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailed)
	}
	return nil
}

// fleetQuery is the body of a fleet command that asks one thing: it runs call
// through fleetCall and prints the answer as JSON with --json, otherwise with text.
func fleetQuery[T any](c *cli.Context, name string, call func(*fleet.Client, context.Context) (T, error), text func(io.Writer, T) error) error {
	return fleetCall(c, name, func(f *fleet.Client) error {
		v, err := call(f, context.Background())
		if err != nil {
			return err
		}
		return writeResult(c, v, text)
	})
}
