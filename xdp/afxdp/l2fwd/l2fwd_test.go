package l2fwd

import (
	"bytes"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestConfigRejected checks that bad sizes are refused before any socket is opened.
func TestConfigRejected(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"frames not a power of two", Config{Frames: 3000}},
		{"ring not a power of two", Config{Ring: 1000}},
		{"batch above the ring", Config{Ring: 64, Batch: 65}},
		{"negative strip", Config{Strip: -1}},
		{"negative TX budget", Config{TXBudget: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.In, tt.cfg.Out = "a0", "b0"
			if _, err := Open(tt.cfg); !errors.Is(err, afxdp.ErrConfig) {
				t.Fatalf("Open(%+v) = %v, want ErrConfig", tt.cfg, err)
			}
		})
	}
}

// TestForwards sends frames into one wire, forwards them with the reference forwarder
// out of a second wire, and checks every frame arrives unchanged and is counted.
func TestForwards(t *testing.T) {
	kerneltest.Require(t)
	mid, outer := wiretest.NewNS(t), wiretest.NewNS(t)
	in, out := wiretest.NewWire(t, mid, outer, 1), wiretest.NewWire(t, mid, outer, 1)
	xsks, prog := wiretest.NewRedirect(t, 1)
	wiretest.AttachXDP(t, mid, in.Name, prog)
	var f *Forwarder
	if err := mid.Do(func() (err error) { f, err = Open(Config{In: in.Name, Out: out.Name}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := xsks.Put(uint32(0), uint32(f.Fd())); err != nil {
		t.Fatal(err)
	}
	src := wiretest.NewPacketSocket(t, outer, in.Peer)
	dst := wiretest.NewPacketSocket(t, outer, out.Peer)

	var stop atomic.Bool
	type ran struct {
		r   Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		runtime.LockOSThread()
		r, err := f.Run(&stop)
		done <- ran{r, err}
	}()
	const n = 200
	sent := make([][]byte, n)
	for i := range sent {
		sent[i] = wiretest.Frame(out.PeerMAC, in.PeerMAC, 1, uint32(i), 64+i%64)
		if err := src.Send(sent[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := dst.Capture(n, 5*time.Second)
	stop.Store(true)
	res := <-done
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	if len(got) != n {
		t.Fatalf("%d of %d frames forwarded", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("frame %d changed on the way:\n got %x\nwant %x", i, got[i], sent[i])
		}
	}
	if res.r.Received != n || res.r.Forwarded != n || res.r.TXFull != 0 {
		t.Errorf("result %+v, want %d received and forwarded", res.r, n)
	}
	rx, tx, err := f.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if rx.RxDropped != 0 || tx.Transmitted < n {
		t.Errorf("socket statistics rx %+v tx %+v", rx, tx)
	}
	if err := f.u.Accounting().Check(); err != nil {
		t.Error(err)
	}
}
