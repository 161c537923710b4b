package control

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/flowsieve/flowsieve/appliance/config"
)

// ErrToken is returned for a missing, empty or exposed TCP token file.
var ErrToken = errors.New("control: bad token file")

// ServerOptions returns the server options the daemon's configuration asks
// for (control.socket, control.socket_mode, control.tcp.*), reading the TCP
// token from control.tcp.token_file, which must be non-empty and readable by
// its owner only.
func ServerOptions(c *config.Config, log *slog.Logger) (Options, error) {
	o := Options{SocketPath: c.Control.Socket, SocketMode: os.FileMode(c.Control.SocketMode), Logger: log}
	t := c.Control.TCP
	if t.Listen == "" {
		return o, nil
	}
	o.TCPAddr, o.AllowRemote = t.Listen, t.AllowRemote
	fi, err := os.Stat(t.TokenFile)
	if err != nil {
		return o, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return o, fmt.Errorf("%w: %s has mode %04o: it must be readable by its owner only (chmod 600 %s)", ErrToken, t.TokenFile, fi.Mode().Perm(), t.TokenFile)
	}
	b, err := os.ReadFile(t.TokenFile)
	if err != nil {
		return o, fmt.Errorf("%w: %v", ErrToken, err)
	}
	o.Token = strings.TrimSpace(string(b))
	if len(o.Token) < 16 {
		return o, fmt.Errorf("%w: %s holds a token of %d characters, want at least 16", ErrToken, t.TokenFile, len(o.Token))
	}
	return o, nil
}

// ClientFor returns a client of the daemon's unix socket as configured.
func ClientFor(c *config.Config) *Client { return NewClient(c.Control.Socket) }
