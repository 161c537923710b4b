package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// mitigationOp is what a mitigation command asks the daemon: it returns the
// result (printed by --json) and a function printing it as text.
type mitigationOp func(ctx context.Context, b control.MitigationBackend) (result any, text func(io.Writer), err error)

// mitigationGroup returns a command grouping subcommands.
func mitigationGroup(name, usage string, subs ...*cli.Command) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, Subcommands: subs}
}

// mitigationCommand returns a command of the daemon's mitigation API named by
// the last word of name. It takes nargs positional arguments (usage shows
// them); prepare checks them and the flags before the daemon is asked (its
// error exits with exitUsage) and returns what to ask.
func mitigationCommand(name, usage, summary, desc string, nargs int, flags []cli.Flag,
	prepare func(*cli.Context, []string) (mitigationOp, error)) *cli.Command {
	run := func(c *cli.Context) error {
		args, err := controlArgs(c, name, usage, nargs)
		if err != nil {
			return err
		}
		op, err := prepare(c, args)
		if err != nil {
			return cli.Exit(name+": "+err.Error(), exitUsage)
		}
		return mitigationCall(c, name, func(b control.MitigationBackend) error {
			res, text, err := op(context.Background(), b)
			if err != nil {
				return err
			}
			if c.Bool(flagJSON) {
				return writeControlJSON(c.App.Writer, res)
			}
			text(c.App.Writer)
			return nil
		})
	}
	cmd := name[strings.LastIndexByte(name, ' ')+1:]
	argsUsage := strings.TrimPrefix(usage, "flowsieve "+name)
	return &cli.Command{Name: cmd, Usage: summary, ArgsUsage: strings.TrimSpace(argsUsage), Description: desc,
		Flags: controlFlags(false, flags...), Action: run}
}

// mitigationCall runs op against the running daemon's mitigation API; there is
// no offline fallback (signatures and victims live in the daemon).
func mitigationCall(c *cli.Context, name string, op func(control.MitigationBackend) error) error {
	return controlCall(c, name, false, func(b control.Backend) error {
		mb, ok := b.(control.MitigationBackend)
		if !ok {
			return fmt.Errorf("%w: signatures and victims are known to the running daemon only", control.ErrUnsupported)
		}
		return op(mb)
	})
}

// listOp is the prepare step of a list command: ask for the list with fetch and
// print it with write, or empty when there is none.
func listOp[T any](fetch func(control.MitigationBackend, context.Context) ([]T, error), write func(io.Writer, []T, time.Time),
	empty string) func(*cli.Context, []string) (mitigationOp, error) {
	return func(*cli.Context, []string) (mitigationOp, error) {
		return func(ctx context.Context, b control.MitigationBackend) (any, func(io.Writer), error) {
			l, err := fetch(b, ctx)
			return l, func(w io.Writer) {
				write(w, l, time.Now())
				if len(l) == 0 {
					fmt.Fprintln(w, empty)
				}
			}, err
		}, nil
	}
}

// writeRows prints a tab-aligned table: header, then row(e) for each element.
func writeRows[T any](w io.Writer, header string, l []T, row func(T) string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, e := range l {
		fmt.Fprintln(tw, row(e))
	}
	tw.Flush()
}
