package traffic

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcap runs g to its end, writing every frame to w as a pcap file (Ethernet,
// nanosecond timestamps). progress, when not nil, is told the simulated time
// generated so far every 100 ms of it. Label rules go to g.OnRule as generated.
func WritePcap(g *Generator, w io.Writer, progress func(simulated time.Duration)) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	buf := make([]byte, MaxFrameLen)
	var ci gopacket.CaptureInfo
	var last time.Duration
	for {
		frame, ts, _, err := g.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("generating %s: %w", g.cfg.Scenario, err)
		}
		ci.Timestamp = time.Unix(0, ts)
		ci.CaptureLength, ci.Length = len(frame), len(frame)
		if err := pw.WritePacket(ci, frame); err != nil {
			return err
		}
		if at := time.Duration(ts - g.Start()); progress != nil && at-last >= 100*time.Millisecond {
			progress(at)
			last = at
		}
	}
}
