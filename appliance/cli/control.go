package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/control"
)

// Exit codes of the commands that talk to the daemon (policy show/apply/diff,
// block, unblock, allow, blocks, verdicts, stats, status, model load).
const (
	exitFailed     = 1 // the request was refused or failed (invalid prefix, allowlisted, nothing to unblock, ...)
	exitUsage      = 2 // bad command line or configuration
	exitNotRunning = 3 // no daemon on the control socket (and no offline fallback)
	exitDenied     = 4 // the control socket refused this user
)

// Flag names shared by the control commands; flagJSON is also the fleet commands'.
const (
	flagJSON           = "json"
	controlFlagOffline = "offline"
	controlFlagOnline  = "no-offline"
)

// controlConfigFlags are the configuration flags control commands take: the
// config file, --set, and the keys they use (socket, state dir).
func controlConfigFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range config.Flags() {
		if n := f.Names()[0]; slices.Contains([]string{config.FlagConfig, config.FlagSet, "control-socket", "state-dir"}, n) {
			out = append(out, f)
		}
	}
	return out
}

// controlFlags returns the flags of a control command: --json, the config
// flags, and with offline the --offline and --no-offline flags.
func controlFlags(offline bool, extra ...cli.Flag) []cli.Flag {
	flags := append([]cli.Flag{
		jsonFlag(),
	}, extra...)
	if offline {
		flags = append(flags,
			&cli.BoolFlag{Name: controlFlagOffline, EnvVars: []string{"FLOWSIEVE_OFFLINE"},
				Usage: "Do not ask the daemon: edit the XDP maps it left pinned (xdp.pin_dir) and the block state file (state_dir) directly. This is what happens anyway when the daemon is not running."},
			&cli.BoolFlag{Name: controlFlagOnline,
				Usage: "Fail when the daemon is not running instead of editing the pinned maps directly."})
	}
	return append(flags, controlConfigFlags()...)
}

// jsonFlag is the --json flag of the control and fleet commands.
func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: flagJSON, Usage: "Print the result as JSON, for scripts."}
}

// controlCall runs op against the daemon's control socket. When the daemon is
// not running (or --offline is given) and offlineOK, it runs op against the
// offline backend instead, noting so on stderr; otherwise it returns an exit
// error saying what to do.
func controlCall(c *cli.Context, name string, offlineOK bool, op func(control.Backend) error) error {
	cfg, err := config.FromCLI(c)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
	}
	forceOffline := offlineOK && c.Bool(controlFlagOffline)
	if !forceOffline {
		err = op(control.NewClient(cfg.Control.Socket))
		if !errors.Is(err, control.ErrNotRunning) {
			return controlExit(name, err)
		}
		if !offlineOK || c.Bool(controlFlagOnline) {
			hint := "start it with `flowsieve run`, or point --control-socket (FLOWSIEVE_CONTROL_SOCKET) at its socket"
			if offlineOK {
				hint = "start it with `flowsieve run`, or drop --no-offline to edit the pinned maps directly"
			}
			return cli.Exit(fmt.Sprintf("%s: %v: %s", name, err, hint), exitNotRunning)
		}
	}
	pol, _, _, err := cfg.LoadActivePolicy()
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: flowsieve is not running and its policy cannot be read to check blocks against "+
			"its allowlist: %v; give the daemon's --config (FLOWSIEVE_CONFIG), or --set policy.path=FILE (empty for the built-in policy)", name, err), exitUsage)
	}
	off, err := control.OpenBlockStore(control.BlockStoreOptions{PinDir: cfg.XDP.PinDir, StatePath: cfg.BlocksPath(), Policy: pol})
	if err != nil {
		return controlExit(name, fmt.Errorf("offline: %w", err))
	}
	defer off.Close()
	where := "the XDP maps pinned in " + cfg.XDP.PinDir + " and " + cfg.BlocksPath()
	if !off.Pinned() {
		where = cfg.BlocksPath() + " only (no maps pinned in " + cfg.XDP.PinDir + "; it applies when the daemon starts)"
	}
	if forceOffline {
		fmt.Fprintf(c.App.ErrWriter, "%s: --offline: using %s\n", name, where)
	} else {
		fmt.Fprintf(c.App.ErrWriter, "%s: flowsieve is not running (no socket at %s): using %s\n", name, cfg.Control.Socket, where)
	}
	return controlExit(name, op(off))
}

// controlQuery is the body of a command that asks the daemon (or with offlineOK
// the pinned maps) one thing: it runs call through controlCall and prints the
// answer as JSON with --json, otherwise with text.
func controlQuery[T any](c *cli.Context, name string, offlineOK bool, call func(control.Backend, context.Context) (T, error), text func(io.Writer, T) error) error {
	return controlCall(c, name, offlineOK, func(b control.Backend) error {
		v, err := call(b, context.Background())
		if err != nil {
			return err
		}
		return writeResult(c, v, text)
	})
}

// writeResult prints v as JSON with --json, otherwise with text.
func writeResult[T any](c *cli.Context, v T, text func(io.Writer, T) error) error {
	if c.Bool(flagJSON) {
		return writeControlJSON(c.App.Writer, v)
	}
	return text(c.App.Writer, v)
}

// prefixArg takes exactly one PREFIX argument and validates it with the block
// parameters of the --ttl and --reason flags (when the command has them) for method m.
func prefixArg(c *cli.Context, name, usage string, m control.Method) (control.BlockRequest, error) {
	args, err := controlArgs(c, name, usage, 1)
	if err != nil {
		return control.BlockRequest{}, err
	}
	r, err := control.ValidateBlock(m, control.BlockParams{Prefix: args[0], TTL: control.Duration(c.Duration(blockFlagTTL)), Reason: c.String(blockFlagReason)})
	if err != nil {
		return r, cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
	}
	return r, nil
}

// controlExit maps a control error to the command's exit code.
func controlExit(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(cli.ExitCoder)):
		return err
	case errors.Is(err, control.ErrDenied):
		return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitDenied)
	case errors.Is(err, control.ErrNotRunning):
		return cli.Exit(fmt.Sprintf("%s: %v: start it with `flowsieve run`", name, err), exitNotRunning)
	}
	return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailed)
}

// controlArgs applies flags given after positional arguments and checks the
// number of positional arguments.
func controlArgs(c *cli.Context, name, usage string, n int) ([]string, error) {
	args, err := interspersedFlags(c)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("%s: %v; usage: %s", name, err, usage), exitUsage)
	}
	if len(args) != n {
		return nil, cli.Exit(fmt.Sprintf("%s: want %d argument(s), got %d; usage: %s", name, n, len(args), usage), exitUsage)
	}
	return args, nil
}

// writeControlJSON prints v indented.
func writeControlJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanBytes formats a byte count.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// joinOr returns s joined, or dash when empty.
func joinOr(s []string, dash string) string {
	if len(s) == 0 {
		return dash
	}
	return strings.Join(s, ", ")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// removalCommand is unblock or disallow, named after its method: see removePrefix.
func removalCommand(method control.Method, usage, description string, remove func(control.Backend, context.Context, netip.Prefix) (bool, error), done, missing string) *cli.Command {
	return &cli.Command{Name: string(method), Usage: usage, ArgsUsage: "PREFIX", Description: description,
		Flags: controlFlags(true), Action: removePrefix(string(method), method, remove, done, missing)}
}

// removePrefix is the action of unblock and disallow: take exactly one PREFIX, remove
// that entry through the daemon or the pinned maps with remove, and exit 1 when there
// was none. done and missing complete "NAME: PREFIX ..." messages.
func removePrefix(name string, method control.Method, remove func(control.Backend, context.Context, netip.Prefix) (bool, error), done, missing string) cli.ActionFunc {
	return func(c *cli.Context) error {
		r, err := prefixArg(c, name, "flowsieve "+name+" PREFIX [--json]", method)
		if err != nil {
			return err
		}
		return controlCall(c, name, true, func(b control.Backend) error {
			ok, err := remove(b, context.Background(), r.Prefix)
			if err != nil {
				return err
			}
			err = writeResult(c, control.UnblockResult{Removed: ok}, func(w io.Writer, _ control.UnblockResult) error {
				if ok {
					fmt.Fprintf(w, "%s %s\n", done, r.Prefix)
				}
				return nil
			})
			if err == nil && !ok {
				return cli.Exit(fmt.Sprintf("%s: %s %s (see `flowsieve blocks list`)", name, r.Prefix, missing), exitFailed)
			}
			return err
		})
	}
}
