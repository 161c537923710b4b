// Package cli holds the flowsieve command-line interface: one file per command,
// each with a constructor returning its *cli.Command. Run is the testable core of main.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// Version is the flowsieve version, set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// New returns the flowsieve application writing to the given streams. extra adds
// commands built outside this package: the binary's main adds the benchmark
// harness's commands (gen, bench, demo), which live in bench/ because the appliance's
// own packages never import the harness.
func New(stdout, stderr io.Writer, extra ...*cli.Command) *cli.App {
	return &cli.App{
		Name:                 "flowsieve",
		Usage:                "an inline ML traffic appliance: flows, features, models and verdicts at line rate",
		Version:              Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // Run maps errors to exit codes
		Commands:             append(commands(), extra...),
	}
}

// commands lists every command, one constructor per file of this package.
func commands() []*cli.Command {
	return []*cli.Command{
		// Each helper adds its command here, one line per command, in this order.
		flowsCommand(),
		analyzeCommand(),
		clusterCommand(),
		policyCommand(),
		trainCommand(),
		evalCommand(),
		datasetCommand(),
		modelCommand(),
		runCommand(),
		statusCommand(),
		blockCommand(),
		unblockCommand(),
		allowCommand(),
		disallowCommand(),
		blocksCommand(),
		verdictsCommand(),
		signaturesCommand(),
		victimsCommand(),
		statsCommand(),
		probeCommand(),
		fleetCommand(),
	}
}

// Run runs the application with args (args[0] is the program name) and returns the
// process exit code: 0 on success, the code of a cli.ExitCoder, or 1 for other errors.
func Run(args []string, stdout, stderr io.Writer, extra ...*cli.Command) int {
	err := New(stdout, stderr, extra...).Run(args)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "flowsieve:", err)
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if ec.ExitCode() != 0 {
			return ec.ExitCode()
		}
	}
	return 1
}

// Main runs flowsieve with the process arguments and streams, plus the extra commands.
func Main(extra ...*cli.Command) int { return Run(os.Args, os.Stdout, os.Stderr, extra...) }
