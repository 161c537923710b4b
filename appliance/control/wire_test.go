package control

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
)

// TestBlockTakesEffect drives the real XDP program on a veth pair inside two
// namespaces this test creates: a block sent through the control socket drops
// the sender's next datagram, unblock restores delivery, and an allow wins over
// a wider block. The backend is the block/allow part the daemon embeds
// (OverMaps) over the attached program's maps.
func TestBlockTakesEffect(t *testing.T) {
	app, peer := netnstest.Pair(t, "fs-control", netns.Veth{Name: "fca0", Peer: "fcp0"})
	if err := app.AddAddr("fca0", "10.77.0.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := peer.AddAddr("fcp0", "10.77.0.2/24"); err != nil {
		t.Fatal(err)
	}
	var d *xdp.Datapath
	var rx *net.UDPConn
	err := app.Do(func() error {
		var err error
		if d, err = xdp.Open(xdp.Options{Interfaces: []string{"fca0"}, Queues: 1, FlowEntries: 1024, PrefixEntries: 1024}); err != nil {
			return err
		}
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 7777})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	defer rx.Close()
	var tx *net.UDPConn
	if err := peer.Do(func() error {
		var err error
		tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 7777})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	b := OverMaps(Maps{Verdicts: d.Verdicts, Blocklist: d.Blocklist, Stats: d.Stats}, BlockStoreOptions{StatePath: filepath.Join(t.TempDir(), "blocks.json")})
	s := startServer(t, b, Options{})
	c := NewClient(s.Path())
	ctx := context.Background()

	// delivered sends one datagram and reports whether it arrived within 300 ms.
	seq := byte(0)
	delivered := func() bool {
		t.Helper()
		seq++
		if _, err := tx.Write([]byte{seq}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		for {
			_ = rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := rx.ReadFromUDP(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 && buf[0] == seq {
				return true
			}
		}
	}
	drops := func() uint64 {
		t.Helper()
		c, err := d.Stats.Read()
		if err != nil {
			t.Fatal(err)
		}
		return c[xdp.CounterDrop]
	}
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"before", func() error { return nil }, true},
		{"block", func() error {
			// The flow is fast-pathed first: a PASS flow verdict, which the XDP
			// program looks up before the source trie. The block must still win.
			k := xdp.FlowKey(netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("10.77.0.1"),
				uint16(tx.LocalAddr().(*net.UDPAddr).Port), 7777, 17)
			if err := d.Verdicts.Put([]xdp.Key{k}, []xdp.Verdict{{Action: xdp.ActionPass}}); err != nil {
				return err
			}
			_, err := c.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("10.77.0.2/32"), TTL: time.Minute})
			return err
		}, false},
		{"unblock", func() error {
			ok, err := c.Unblock(ctx, netip.MustParsePrefix("10.77.0.2/32"))
			if err == nil && !ok {
				err = errors.New("nothing unblocked")
			}
			return err
		}, true},
		{"wider-block", func() error {
			_, err := c.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("10.77.0.0/16")})
			return err
		}, false},
		{"allow-inside", func() error {
			_, err := c.Allow(ctx, BlockRequest{Prefix: netip.MustParsePrefix("10.77.0.0/30")})
			return err
		}, true},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		before := drops()
		if got := delivered(); got != st.want {
			t.Fatalf("%s: delivered %v, want %v", st.name, got, st.want)
		}
		if dropped := drops() - before; (dropped > 0) == st.want {
			t.Fatalf("%s: %d packets dropped by the XDP program", st.name, dropped)
		}
	}
	// The allow is refused as a target for blocks through the socket, too.
	if _, err := c.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("10.77.0.2/32")}); !errors.Is(err, ErrAllowlisted) {
		t.Fatalf("block inside an allow: %v", err)
	}
}
