package flow

import (
	"errors"
	"fmt"
	"io"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// Offline feeds captures through the decoder into a Table: the offline path of the
// engine (source → packet.Decode → Table.Update) used by the commands, model
// training, tests and benchmarks. Frames that fail to decode are counted by reason
// and left out of the flows. Call Table.Flush after the last capture.
type Offline struct {
	Table     *Table
	Decode    packet.Counters // decoded frames (ReasonNone) and failures by reason
	Frames    uint64          // frames read
	WireBytes uint64          // sum of the frames' wire lengths
	First     int64           // first frame time seen, unix ns (0 before any)
	Last      int64           // last frame time seen, unix ns
	// OnFrame, when set, sees every frame after decoding, with the decode error (nil
	// on success; then p holds the decoded packet). It is called before the table
	// sees the packet (the table takes packets in batches of up to 32).
	OnFrame func(f *source.Frame, p *packet.Packet, err error)
	// Progress, when set, is called every progressFrames frames of a capture read
	// with ReadBytes, with the bytes of it consumed so far (source.Reader.Offset).
	Progress func(offset int64)

	frame source.Frame
	in    [batchMax]Input // decoded packets waiting for Table.UpdateBatch
	n     int
}

// ReadFile reads one capture file (pcap or pcapng, gzip or not) into the table.
// Packets before damage in a truncated or corrupt file are kept; the error names
// the file and packet number.
func (o *Offline) ReadFile(path string) error {
	r, err := source.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(o.Read(r), r.Close())
}

// ReadCapture reads a capture from rd (named name in errors) into the table.
func (o *Offline) ReadCapture(rd io.Reader, name string) error {
	r, err := source.NewReader(rd, name)
	if err != nil {
		return err
	}
	return errors.Join(o.Read(r), r.Close())
}

// ReadBytes reads a capture held in data (a mapped file, say; named name in errors)
// into the table, in place (source.NewBytesReader).
func (o *Offline) ReadBytes(data []byte, name string) error {
	r, err := source.NewBytesReader(data, name)
	if err != nil {
		return err
	}
	return errors.Join(o.Read(r), r.Close())
}

// progressFrames is how often Read reports progress.
const progressFrames = 1 << 14

// Read reads every frame of r into the table. It does not close r.
func (o *Offline) Read(r *source.Reader) error {
	if o.Table == nil {
		return fmt.Errorf("flow: Offline.Read of %s: no table", r.Name())
	}
	defer o.drain()
	f := &o.frame
	for {
		err := r.Next(f)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Frames++; o.Progress != nil && o.Frames%progressFrames == 0 {
			o.Progress(r.Offset())
		}
		o.WireBytes += uint64(f.WireLen)
		if o.First == 0 || f.Timestamp < o.First {
			o.First = f.Timestamp
		}
		if f.Timestamp > o.Last {
			o.Last = f.Timestamp
		}
		in := &o.in[o.n]
		derr := packet.Decode(f.Link, f.Data, &in.Packet)
		o.Decode.Count(derr)
		if o.OnFrame != nil {
			o.OnFrame(f, &in.Packet, derr)
		}
		if derr != nil {
			continue
		}
		in.Time, in.WireLen = f.Timestamp, f.WireLen
		if o.n++; o.n == len(o.in) {
			o.drain()
		}
	}
}

// drain hands the decoded packets waiting in the batch to the table.
func (o *Offline) drain() {
	o.Table.UpdateBatch(o.in[:o.n])
	o.n = 0
}
