package control

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/appliance/config"
)

func TestServerOptions(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	load := func(set map[string]string) *config.Config {
		t.Helper()
		c, err := config.Load(config.Sources{Flags: set})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	o, err := ServerOptions(load(map[string]string{"control.socket": "/run/x.sock"}), nil)
	if err != nil || o.SocketPath != "/run/x.sock" || o.SocketMode != 0o600 || o.TCPAddr != "" {
		t.Fatalf("unix only: %+v %v", o, err)
	}
	tcp := map[string]string{"control.tcp.listen": "127.0.0.1:7777", "control.tcp.token_file": tok}
	for _, tt := range []struct {
		name, content string
		mode          os.FileMode
		ok            bool
	}{
		{"good", "0123456789abcdef0123\n", 0o600, true},
		{"exposed", "0123456789abcdef0123\n", 0o644, false},
		{"short", "abc\n", 0o600, false},
		{"empty", "", 0o600, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(tok, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tok, tt.mode); err != nil {
				t.Fatal(err)
			}
			o, err := ServerOptions(load(tcp), nil)
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrToken)) {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (o.Token != "0123456789abcdef0123" || o.TCPAddr != "127.0.0.1:7777") {
				t.Fatalf("options %+v", o)
			}
		})
	}
	os.Remove(tok)
	if _, err := ServerOptions(load(tcp), nil); !errors.Is(err, ErrToken) {
		t.Fatalf("missing token file: %v", err)
	}
}
