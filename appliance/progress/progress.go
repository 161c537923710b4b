// Package progress draws progress bars for long commands: on a terminal for people,
// silent in scripts and CI. The CLI and the benchmark harness's commands share it.
package progress

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// New returns a progress bar on stderr when it is a terminal, or a silent one
// otherwise, so long runs show progress to people and stay quiet in scripts and CI.
// max < 0 means unknown total (a spinner).
func New(stderr io.Writer, max int64, what string) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return progressbar.DefaultSilent(max, what)
	}
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(false),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
}
