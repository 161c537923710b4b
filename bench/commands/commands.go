// Package commands holds the flowsieve commands that drive the benchmark harness and
// its traffic: gen (labelled traffic), bench (the virtual-wire benchmark) and demo (the
// inline demo). They live in bench/ because they build on bench/traffic, bench/wire and
// bench/harness, which the appliance's packages never import; the flowsieve binary's
// main adds them to the appliance's command line.
package commands

import (
	"io"

	"github.com/urfave/cli/v2"

	fscli "github.com/flowsieve/flowsieve/appliance/cli"
)

// All returns the harness's commands, one constructor per file of this package.
func All() []*cli.Command {
	return []*cli.Command{
		genCommand(),
		benchCommand(),
		demoCommand(),
	}
}

// Run runs flowsieve, with these commands included, as the binary does: the testable
// core of main (see appliance/cli.Run).
func Run(args []string, stdout, stderr io.Writer) int {
	return fscli.Run(args, stdout, stderr, All()...)
}
