package dataset

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// CaptureFormat marks a data set rebuilt from captures by the flow engine.
const CaptureFormat Format = "capture"

// Role says what a source's traffic is, for splits and per-source figures.
type Role string

// Roles of a source.
const (
	RoleBenign    Role = "benign"    // real traffic without attacks
	RoleAttack    Role = "attack"    // real captures of attacks (and whatever else the label rule names)
	RoleGenerated Role = "generated" // the project's traffic generator
)

// ErrNoFlows is returned when captures give no labelled flow.
var ErrNoFlows = errors.New("dataset: no labelled flow in the captures")

// Labeler returns the label of a flow from its forward 5-tuple and its first and
// last packet times (unix ns), "" to leave the flow out. labels.Set.Label is one.
type Labeler func(src, dst netip.Addr, sport, dport uint16, proto uint8, first, last int64) string

// Source is one entry of a training set: capture files whose flows one label rule names.
type Source struct {
	Name     string   // names the source in rows, splits and reports
	Role     Role     // benign, attack or generated
	Paths    []string // capture files (pcap or pcapng, gzip or not)
	Label    Labeler  // labels each flow; "" leaves it out
	MaxFlows int      // keep at most this many labelled flows, chosen by flow hash (0: all)
}

// CaptureOptions control how flows are rebuilt from captures.
type CaptureOptions struct {
	// Decision is the early decision point in packets: a flow's row is its features
	// when it reaches this many packets (as the appliance classifies it), or at its end
	// if it ends before. 0: at the flow's end.
	Decision int
	// Seed seeds the flow table's hash and the choice of flows kept under MaxFlows
	// (0 counts as 1: rows must not depend on chance).
	Seed uint64
	// Table, when not zero, is the flow table's configuration (EarlyPackets and Seed
	// are set from Decision and Seed).
	Table flow.Config
	// Progress, when set, is called after each capture with the bytes read so far
	// and the total of every source's files.
	Progress func(done, total int64)
	// SourceDone, when set, is called after each source with the number of its rows
	// kept (after MaxFlows).
	SourceDone func(s Source, rows int)
}

// Counts says what rebuilding left out.
type Counts struct {
	Unlabelled int // flows no label rule named
	Capped     int // labelled flows dropped by MaxFlows
	DecodeErrs int // frames that did not decode
	Damaged    []error
}

// FromCaptures rebuilds the labelled flows of every source's captures, each capture
// in a fresh flow table (so no flow spans two files), and returns them as one data
// set with the flow schema; each row carries its source name and capture file in
// Meta. A damaged capture keeps the flows before the damage and its error is listed
// in the counts; a file that is not a capture is an error naming it.
func FromCaptures(srcs []Source, o CaptureOptions) (*Dataset, Counts, error) {
	var total, done int64
	for _, s := range srcs {
		if s.Label == nil {
			return nil, Counts{}, fmt.Errorf("dataset: source %q has no label rule", s.Name)
		}
		for _, p := range s.Paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, Counts{}, fmt.Errorf("dataset: source %q: %w", s.Name, err)
			}
			total += st.Size()
		}
	}
	b := newRows(o)
	for _, s := range srcs {
		start := b.d.X.Len
		for _, p := range s.Paths {
			if err := b.capture(s, p); err != nil {
				return nil, b.counts, err
			}
			st, _ := os.Stat(p)
			done += st.Size()
			if o.Progress != nil {
				o.Progress(done, total)
			}
		}
		b.sortFrom(start)
		b.cap(start, s.MaxFlows)
		if o.SourceDone != nil {
			o.SourceDone(s, b.d.X.Len-start)
		}
	}
	return b.finish()
}

// FromFrames rebuilds the labelled flows of frames held in memory (in time order):
// the rows FromCaptures gives for a capture file, for a generated capture.
func FromFrames(s Source, frames []source.Frame, o CaptureOptions) (*Dataset, Counts, error) {
	if s.Label == nil {
		return nil, Counts{}, fmt.Errorf("dataset: source %q has no label rule", s.Name)
	}
	b := newRows(o)
	t, err := b.table(s, s.Name)
	if err != nil {
		return nil, b.counts, err
	}
	var in [64]flow.Input
	n := 0
	for i := range frames {
		fr := &frames[i]
		if err := packet.Decode(fr.Link, fr.Data, &in[n].Packet); err != nil {
			b.counts.DecodeErrs++
			continue
		}
		in[n].Time, in[n].WireLen = fr.Timestamp, fr.WireLen
		if n++; n == len(in) {
			t.UpdateBatch(in[:n])
			n = 0
		}
	}
	t.UpdateBatch(in[:n])
	t.Flush()
	b.sortFrom(0)
	b.cap(0, s.MaxFlows)
	return b.finish()
}

// rows collects the flows of one data set.
type rows struct {
	o      CaptureOptions
	d      *Dataset
	keys   []uint64 // flow hash per row (for MaxFlows)
	counts Counts
	names  map[string]string
}

func newRows(o CaptureOptions) *rows {
	if o.Seed == 0 {
		o.Seed = 1
	}
	return &rows{o: o, d: &Dataset{X: features.NewFlowBatch(4096), Format: CaptureFormat}, names: map[string]string{}}
}

func (b *rows) intern(s string) string {
	if v, ok := b.names[s]; ok {
		return v
	}
	b.names[s] = s
	return s
}

// table returns a fresh flow table whose flows go to the rows of source s, file file.
func (b *rows) table(s Source, file string) (*flow.Table, error) {
	cfg := b.o.Table
	cfg.EarlyPackets, cfg.Seed = b.o.Decision, b.o.Seed
	early := cfg.EarlyPackets > 0
	name, file := b.intern(s.Name), b.intern(file)
	sink := func(f *flow.Flow, why flow.Reason) {
		if early && why != flow.Early && f.EarlyDone {
			return // recorded at its early decision point
		}
		src, sport := f.Src()
		dst, dport := f.Dst()
		l := s.Label(src, dst, sport, dport, f.Proto(), f.First(), f.Last())
		if l == "" {
			b.counts.Unlabelled++
			return
		}
		b.d.X.Grow(1)
		f.WriteRow(b.d.X)
		b.d.Labels = append(b.d.Labels, b.intern(l))
		m := &b.d.Meta
		m.SrcIP = append(m.SrcIP, src.String())
		m.DstIP = append(m.DstIP, dst.String())
		m.SrcPort = append(m.SrcPort, sport)
		m.DstPort = append(m.DstPort, dport)
		m.Proto = append(m.Proto, f.Proto())
		m.Timestamp = append(m.Timestamp, f.First())
		m.Source = append(m.Source, name)
		m.Capture = append(m.Capture, file)
		b.keys = append(b.keys, b.flowKey(file, src, dst, sport, dport, f.Proto(), f.First()))
	}
	return flow.New(cfg, sink)
}

// flowKey hashes a flow's identity with the seed and its capture's base name: the
// same flows are kept under MaxFlows whatever order they ended in and wherever the
// captures are found (the data folder may be named differently on each machine).
func (b *rows) flowKey(file string, src, dst netip.Addr, sport, dport uint16, proto uint8, first int64) uint64 {
	var buf [8 + 16 + 16 + 2 + 2 + 1 + 8]byte
	binary.LittleEndian.PutUint64(buf[0:], b.o.Seed)
	s16, d16 := src.As16(), dst.As16()
	copy(buf[8:], s16[:])
	copy(buf[24:], d16[:])
	binary.LittleEndian.PutUint16(buf[40:], sport)
	binary.LittleEndian.PutUint16(buf[42:], dport)
	buf[44] = proto
	binary.LittleEndian.PutUint64(buf[45:], uint64(first))
	h := fnv64(buf[:])
	return fnv64a(h, filepath.Base(file))
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func fnv64a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// capture reads one capture file of source s.
func (b *rows) capture(s Source, path string) error {
	ok, err := source.Sniff(path)
	if err != nil {
		return fmt.Errorf("dataset: source %q: %w", s.Name, err)
	}
	if !ok {
		return fmt.Errorf("dataset: source %q: %s: %w", s.Name, path, source.ErrUnknownFormat)
	}
	t, err := b.table(s, path)
	if err != nil {
		return err
	}
	o := &flow.Offline{Table: t}
	readErr := o.ReadFile(path)
	t.Flush()
	b.counts.DecodeErrs += int(o.Decode.Errors())
	if readErr != nil {
		b.counts.Damaged = append(b.counts.Damaged, readErr)
	}
	b.d.Files = append(b.d.Files, path)
	return nil
}

// sortFrom puts the rows from start on in a fixed order: by capture (in the order
// read), then flow start time, then flow hash. The flow table hands flows over in the
// order they end, which ties and expiry can vary between runs; training is sensitive
// to row order, so without this `make model` is not byte for byte.
func (b *rows) sortFrom(start int) {
	n := b.d.X.Len - start
	if n < 2 {
		return
	}
	run := make([]int, b.d.X.Len) // capture run of each row
	for i := start + 1; i < b.d.X.Len; i++ {
		run[i] = run[i-1]
		if b.d.Meta.Capture[i] != b.d.Meta.Capture[i-1] {
			run[i]++
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = start + i
	}
	ts := b.d.Meta.Timestamp
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(cmp.Compare(run[i], run[j]), cmp.Compare(ts[i], ts[j]), cmpU64(b.keys[i], b.keys[j]), i-j)
	})
	if slices.IsSorted(order) {
		return
	}
	rows := make([]int, 0, b.d.X.Len)
	for i := range start {
		rows = append(rows, i)
	}
	rows = append(rows, order...)
	files := b.d.Files
	keys := pick(b.keys, rows)
	b.d = b.d.Subset(rows)
	b.d.Files, b.d.Format, b.keys = files, CaptureFormat, keys
}

// cap keeps at most max of the rows from start on: those of the lowest flow hashes,
// in their original order.
func (b *rows) cap(start, max int) {
	n := b.d.X.Len - start
	if max <= 0 || n <= max {
		return
	}
	order := make([]int, n)
	for i := range order {
		order[i] = start + i
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := cmpU64(b.keys[i], b.keys[j]); c != 0 {
			return c
		}
		return i - j
	})
	keep := order[:max]
	slices.Sort(keep)
	rows := make([]int, 0, start+max)
	for i := range start {
		rows = append(rows, i)
	}
	rows = append(rows, keep...)
	b.counts.Capped += n - max
	files := b.d.Files
	keys := pick(b.keys, rows)
	b.d = b.d.Subset(rows)
	b.d.Files, b.d.Format, b.keys = files, CaptureFormat, keys
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (b *rows) finish() (*Dataset, Counts, error) {
	if b.d.X.Len == 0 {
		return nil, b.counts, ErrNoFlows
	}
	return b.d, b.counts, nil
}
