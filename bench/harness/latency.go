package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Latency probes: small UDP frames, each a new flow (source port = sequence), sent
// among the replayed frames every probeEvery and carrying the time they were handed
// to the kernel. Their flows have no verdict at the receiver, so its XDP program
// hands them to an AF_XDP socket there, which reads the time back: both ends run in
// this process, on one clock. At the appliance a probe is the first frame of a flow,
// so it takes the path every new flow takes.
const (
	probeEvery = time.Millisecond
	probeLen   = 64
	probeMagic = 0x66736c6174656e63 // "fslatenc"
)

var (
	probeSrc = [4]byte{10, 255, 0, 1}
	probeDst = [4]byte{10, 255, 0, 2}
)

// prober stamps probe frames and collects their one-way delays.
type prober struct {
	base time.Time
	mu   sync.Mutex
	lat  []float64 // microseconds
	sent int
}

// write builds probe seq into b (at least probeLen bytes) stamped now.
func (p *prober) write(b []byte, seq uint16) []byte {
	f := b[:probeLen]
	clear(f)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:34]
	ip[0], ip[3], ip[8], ip[9] = 0x45, probeLen-14, 64, 17
	copy(ip[12:16], probeSrc[:])
	copy(ip[16:20], probeDst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], 1024+seq%60000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], probeLen-34)
	binary.LittleEndian.PutUint64(f[42:], probeMagic)
	binary.LittleEndian.PutUint64(f[50:], uint64(time.Since(p.base)))
	p.sent++
	return f
}

// read records the delay of a received frame if it is a probe.
func (p *prober) read(f []byte) {
	if len(f) < 58 || binary.LittleEndian.Uint64(f[42:]) != probeMagic {
		return
	}
	d := time.Since(p.base) - time.Duration(binary.LittleEndian.Uint64(f[50:]))
	p.mu.Lock()
	p.lat = append(p.lat, float64(d.Nanoseconds())/1e3)
	p.mu.Unlock()
}

// quantiles returns p50 and p99 of the delays and how many arrived.
func (p *prober) quantiles() (p50, p99 float64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := slices.Clone(p.lat)
	slices.Sort(v)
	return quantile(v, 0.5), quantile(v, 0.99), len(v)
}

// probeReceiver is one AF_XDP socket per queue of the receiver (a redirected
// frame may arrive on any), all on one UMEM and registered with the receiver's XDP
// program (frames without a verdict), reading probes until stopped.
type probeReceiver struct {
	u     *afxdp.UMEM
	socks []*afxdp.Socket
	stop  chan struct{}
	done  chan error
}

func startProbeReceiver(ns *netns.NS, ifname string, queues int, d *xdp.Datapath, p *prober) (*probeReceiver, error) {
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 1024 * queues})
	if err != nil {
		return nil, err
	}
	r := &probeReceiver{u: u, stop: make(chan struct{}), done: make(chan error, 1)}
	for q := range queues {
		var s *afxdp.Socket
		if err := ns.Do(func() (err error) {
			s, err = u.Open(afxdp.SocketConfig{Interface: ifname, Queue: q, Mode: afxdp.ModeCopy, FillSize: 1024, RXSize: 1024})
			return err
		}); err != nil {
			u.Close()
			return nil, fmt.Errorf("harness: probe receiver: %w", err)
		}
		if err := d.RegisterSocket(ifname, q, s.Fd()); err != nil {
			u.Close()
			return nil, err
		}
		r.socks = append(r.socks, s)
	}
	go func() {
		descs := make([]afxdp.Desc, 64)
		idle := 0
		for {
			select {
			case <-r.stop:
				r.done <- nil
				return
			default:
			}
			got := 0
			for _, s := range r.socks {
				s.Refill()
				n := s.Receive(descs)
				for _, dsc := range descs[:n] {
					p.read(u.Data(dsc))
				}
				s.Recycle(descs[:n])
				got += n
			}
			if got == 0 {
				idle++
				if idle > 100 { // nothing for a while: stop spinning
					time.Sleep(100 * time.Microsecond)
				}
			} else {
				idle = 0
			}
		}
	}()
	return r, nil
}

func (r *probeReceiver) close() error {
	close(r.stop)
	err := <-r.done
	return errors.Join(err, r.u.Close())
}
