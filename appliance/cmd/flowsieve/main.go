// Command flowsieve is the flowsieve appliance and its tools in one binary. main is the
// one place where the appliance's command line and the benchmark harness's commands
// (bench/commands: gen, bench, demo) are joined.
package main

import (
	"os"

	"github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/bench/commands"
)

func main() { os.Exit(cli.Main(commands.All()...)) }
