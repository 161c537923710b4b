package cli

import "strings"

// Prose turns a help text written as a raw string, wrapped and indented to
// read well in the source, into one line with single spaces, which urfave/cli
// wraps to the terminal's width. The commands of bench/ use it too.
func Prose(s string) string { return strings.Join(strings.Fields(s), " ") }
