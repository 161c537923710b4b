// Command flowsieve is the flowsieve appliance and its tools in one binary.
package main

import (
	"os"

	"github.com/flowsieve/flowsieve/appliance/cli"
)

func main() { os.Exit(cli.Main()) }
