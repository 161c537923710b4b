package sender

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSender measures the top rate of each method this kernel allows into a veth
// whose far end counts and drops the frames in XDP, by frame size and (AF_XDP) number
// of transmit queues. One op sends 2^16 frames; pkt/s counts the frames the far end
// received, so a loss would lower it (delivered says which share arrived).
//
//	go test -run '^$' -bench Sender -benchtime 40x ./xdp/sender
func BenchmarkSender(b *testing.B) {
	const perOp = 1 << 16
	for _, c := range []struct {
		method string
		queues int
	}{{MethodAFXDP, 1}, {MethodAFXDP, 2}, {MethodLiveFrames, 1}} {
		for _, size := range []int{64, 512, 1514} {
			b.Run(fmt.Sprintf("%s/queues=%d/frame=%d", c.method, c.queues, size), func(b *testing.B) {
				benchSender(b, c.method, c.queues, size, perOp)
			})
		}
	}
}

func benchSender(b *testing.B, method string, queues, size int, perOp uint32) {
	requireMethod(b, method)
	ns, m := veth(b, queues)
	s, err := NewConfig(ns, "fss0", Config{Method: method})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	frame := testFrame(size, 0)
	total := func() uint64 {
		var n uint64
		for q := range queues {
			n += count(b, m, uint32(q))
		}
		return n
	}
	if _, err := s.Send(frame, perOp); err != nil { // warm-up
		b.Fatal(err)
	}
	before := total()
	var sent uint64
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		n, err := s.Send(frame, perOp)
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	el := time.Since(start)
	b.StopTimer()
	got := total() - before
	b.ReportMetric(float64(got)/el.Seconds(), "pkt/s")
	b.ReportMetric(float64(got)/float64(sent), "delivered")
}
