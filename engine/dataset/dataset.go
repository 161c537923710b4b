// Package dataset reads labelled flow tables into columnar feature batches for training,
// evaluation and clustering: flowsieve's own flow records, CICFlowMeter / CIC-IDS2017
// CSVs (original and corrected column names), NSL-KDD, KDD Cup 99 and UNSW-NB15, plus
// any headered numeric CSV with a label column. Files may be gzip-compressed.
//
// Values: numbers are parsed as float64 and stored as float32 (values beyond float32
// range become ±Inf). "Infinity", "inf" and "NaN" (any case) are accepted as such, and
// an empty field is NaN (missing). Models decide what to do with them (see engine/tree).
package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Format names a file format.
type Format string

// The supported formats. Auto detects the format of every file from its first line.
const (
	Auto   Format = "auto"
	Flows  Format = "flows"  // flowsieve's flow records: Src IP, Src Port, Dst IP, Dst Port, Protocol, Timestamp, features.Names..., [Label]
	CIC    Format = "cic"    // CICFlowMeter output (CIC-IDS2017, CSE-CIC-IDS2018, corrected CIC-IDS2017)
	NSLKDD Format = "nslkdd" // NSL-KDD: no header, 41 features, label, difficulty
	KDD99  Format = "kdd99"  // KDD Cup 99: no header, 41 features, label ending in '.'
	UNSW   Format = "unsw"   // UNSW-NB15 (original columns or the one-hot preprocessed sample)
	CSV    Format = "csv"    // any headered CSV of numeric columns plus a label column
)

// Formats lists every format name accepted by Options.Format.
var Formats = []Format{Auto, Flows, CIC, NSLKDD, KDD99, UNSW, CSV}

// Sentinel errors, matched with errors.Is.
var (
	ErrFormat    = errors.New("dataset: unknown or undetectable format")
	ErrMalformed = errors.New("dataset: malformed row")
	ErrColumns   = errors.New("dataset: files have different columns")
	ErrEmpty     = errors.New("dataset: no rows")
)

// Options control Load.
type Options struct {
	Format      Format // "" or Auto: detect per file
	LabelColumn string // label column of headered files; default "Label"/"label"
	SkipBadRows bool   // skip malformed rows (counted in Dataset.Skipped) instead of failing
	MaxRows     int    // stop after this many rows in total (0: all)
}

// Dataset is a loaded table: features column by column, one label per row, and the
// flow identity when the file has it.
type Dataset struct {
	X      *features.Batch // numeric feature columns (names canonicalised to features.Names where a flow column matches)
	Labels []string        // per-row label, "" when the file has none
	Meta   Meta            // per-row identity when the files have it (empty slices otherwise)
	Files  []string        // the files read, in order
	Format Format          // the format of the first file (after detection)

	Skipped  int   // malformed rows skipped (Options.SkipBadRows)
	FirstBad error // the first skipped row's error, nil when none was skipped
}

// Meta holds per-row flow identity columns.
type Meta struct {
	SrcIP, DstIP     []string
	SrcPort, DstPort []uint16
	Proto            []uint8
	Timestamp        []int64  // unix nanoseconds
	Source           []string // the named source (a training set's entry) the row came from
	Capture          []string // the capture file the row's flow was rebuilt from
}

// Len is the number of rows.
func (d *Dataset) Len() int { return d.X.Len }

// RowError reports a malformed row: the file, the 1-based line and, when known, the column.
type RowError struct {
	File   string
	Line   int
	Column string // column name, "" when the whole row is wrong
	Err    error  // what is wrong
}

func (e *RowError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("%s:%d: column %q: %v", e.File, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap makes errors.Is(err, ErrMalformed) true.
func (e *RowError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

type metaKind uint8

const (
	metaNone metaKind = iota
	metaSrcIP
	metaDstIP
	metaSrcPort
	metaDstPort
	metaProto
	metaTime
	metaSource
	metaCapture
	numMeta
)

// colPlan says what to do with one field of a row.
type colPlan struct {
	feat    int       // feature column, -1 for none
	cat     *category // one-hot encoded categorical column
	meta    metaKind
	label   bool
	trimDot bool // strip a trailing '.' from the label (KDD Cup 99)
}

type category struct {
	name  string
	base  int // first feature column
	width int
	index map[string]int
}

// Load reads the files into one Dataset. All files must give the same feature columns
// (in any order). A malformed row stops loading with a *RowError naming file, line and
// column, unless o.SkipBadRows is set.
func Load(paths []string, o Options) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no files given", ErrEmpty)
	}
	if o.Format == "" {
		o.Format = Auto
	}
	if !validFormat(o.Format) {
		return nil, fmt.Errorf("%w: %q (want one of %v)", ErrFormat, o.Format, Formats)
	}
	l := &loader{o: o, d: &Dataset{}, strs: map[string]string{}}
	for _, p := range paths {
		if err := l.file(p); err != nil {
			return nil, err
		}
		if o.MaxRows > 0 && l.d.X.Len >= o.MaxRows {
			break
		}
	}
	if l.d.X == nil || l.d.X.Len == 0 {
		return nil, fmt.Errorf("%w in %s", ErrEmpty, strings.Join(paths, ", "))
	}
	return l.d, nil
}

func validFormat(f Format) bool {
	for _, g := range Formats {
		if f == g {
			return true
		}
	}
	return false
}

type loader struct {
	o       Options
	d       *Dataset
	strs    map[string]string // interned labels and addresses (fields share the record's memory)
	hasMeta [numMeta]bool
}

// open opens path, decompressing gzip transparently.
func open(path string) (io.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(3)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return bufio.NewReaderSize(zr, 1<<20), f, nil
	}
	if len(magic) == 3 && magic[0] == 0xef && magic[1] == 0xbb && magic[2] == 0xbf {
		br.Discard(3) // UTF-8 byte order mark
	}
	return br, f, nil
}

func (l *loader) file(path string) error {
	r, c, err := open(path)
	if err != nil {
		return err
	}
	defer c.Close()
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = false
	first, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%w: %s is empty", ErrEmpty, path)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, path, err)
	}
	first = append([]string(nil), first...)
	format := l.o.Format
	if format == Auto {
		if format, err = detect(first, l.o.LabelColumn); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var (
		plan   []colPlan
		names  []string
		header bool
	)
	switch format {
	case NSLKDD, KDD99:
		want := 42
		if format == NSLKDD {
			want = 43
		}
		if len(first) != want {
			return &RowError{File: path, Line: 1, Err: fmt.Errorf("%d fields, %s has %d", len(first), format, want)}
		}
		plan, names = kddPlan(want)
	default:
		header = true
		plan, names, err = headerPlan(format, first, l.o.LabelColumn)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if l.d.X == nil {
		l.d.X = features.NewBatch(names, 1024)
		l.d.Format = format
	} else if err := remap(plan, names, l.d.X.Names); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	l.d.Files = append(l.d.Files, path)
	for _, p := range plan {
		if p.meta != metaNone {
			l.startMeta(p.meta)
		}
	}
	row := make([]float32, len(l.d.X.Names))
	line := 1
	if !header {
		if err := l.row(path, line, first, plan, row, l.d.X.Names); err != nil {
			return err
		}
	}
	for {
		if l.o.MaxRows > 0 && l.d.X.Len >= l.o.MaxRows {
			return nil
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ = cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line, err = pe.Line, pe.Err
			}
			if e := l.bad(&RowError{File: path, Line: line, Err: err}); e != nil {
				return e
			}
			continue
		}
		if err := l.row(path, line, rec, plan, row, l.d.X.Names); err != nil {
			return err
		}
	}
}

// bad records a malformed row; it returns the error unless bad rows are skipped.
func (l *loader) bad(err *RowError) error {
	if !l.o.SkipBadRows {
		return err
	}
	if l.d.Skipped == 0 {
		l.d.FirstBad = err
	}
	l.d.Skipped++
	return nil
}

var errFieldCount = errors.New("wrong number of fields")

// row parses one record into the dataset, or reports it as malformed.
func (l *loader) row(path string, line int, rec []string, plan []colPlan, row []float32, names []string) error {
	if len(rec) != len(plan) {
		return l.bad(&RowError{File: path, Line: line, Err: fmt.Errorf("%w: %d, header has %d", errFieldCount, len(rec), len(plan))})
	}
	for j := range row {
		row[j] = 0
	}
	label := ""
	var m metaRow
	for i, p := range plan {
		s := rec[i]
		switch {
		case p.feat >= 0:
			v, err := parseValue(s)
			if err != nil {
				return l.bad(&RowError{File: path, Line: line, Column: names[p.feat], Err: err})
			}
			row[p.feat] = v
		case p.cat != nil:
			k, ok := p.cat.index[s]
			if !ok {
				return l.bad(&RowError{File: path, Line: line, Column: p.cat.name, Err: fmt.Errorf("unknown value %q", s)})
			}
			row[p.cat.base+k] = 1
		case p.label:
			if p.trimDot {
				s = strings.TrimSuffix(s, ".")
			}
			label = strings.TrimSpace(s)
		}
		if p.meta != metaNone {
			if err := m.set(p.meta, s); err != nil {
				return l.bad(&RowError{File: path, Line: line, Column: metaName[p.meta], Err: err})
			}
		}
	}
	l.d.X.Grow(1)
	l.d.X.AppendRow(row)
	l.d.Labels = append(l.d.Labels, l.intern(label))
	l.appendMeta(&m)
	return nil
}

// parseValue parses a numeric field: empty is NaN, "Infinity"/"inf"/"NaN" are accepted.
func parseValue(s string) (float32, error) {
	switch s {
	case "0":
		return 0, nil
	case "1":
		return 1, nil
	case "":
		return float32(math.NaN()), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t := strings.TrimSpace(s)
		if t == "" {
			return float32(math.NaN()), nil
		}
		if v, err = strconv.ParseFloat(t, 64); err != nil {
			return 0, fmt.Errorf("not a number: %q", s)
		}
	}
	return float32(v), nil
}

type metaRow struct {
	srcIP, dstIP     string
	srcPort, dstPort uint16
	proto            uint8
	ts               int64
	source, capture  string
}

var metaName = [...]string{metaSrcIP: "Src IP", metaDstIP: "Dst IP", metaSrcPort: "Src Port",
	metaDstPort: "Dst Port", metaProto: "Protocol", metaTime: "Timestamp", metaSource: "Source", metaCapture: "Capture"}

func (m *metaRow) set(k metaKind, s string) error {
	s = strings.TrimSpace(s)
	switch k {
	case metaSrcIP:
		m.srcIP = s
	case metaDstIP:
		m.dstIP = s
	case metaSrcPort, metaDstPort:
		v, err := strconv.ParseUint(s, 0, 16)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f < 0 || f > 65535 || f != math.Trunc(f) {
				return fmt.Errorf("not a port: %q", s)
			}
			v = uint64(f)
		}
		if k == metaSrcPort {
			m.srcPort = uint16(v)
		} else {
			m.dstPort = uint16(v)
		}
	case metaProto:
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return fmt.Errorf("not a protocol number: %q", s)
		}
		m.proto = uint8(v)
	case metaSource:
		m.source = s
	case metaCapture:
		m.capture = s
	case metaTime:
		t, err := parseTime(s)
		if err != nil {
			return err
		}
		m.ts = t
	}
	return nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
	"02/01/2006 15:04:05",    // CSE-CIC-IDS2018
	"1/2/2006 15:04:05",      // CIC-IDS2017 (some days)
	"1/2/2006 15:04",         // CIC-IDS2017
	"01/02/2006 03:04:05 PM", // CIC-DDoS2019
}

// parseTime parses a timestamp: an integer or decimal unix time (seconds, or
// nanoseconds when larger than 1e15) or one of the layouts CIC tools write (as UTC).
func parseTime(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		if v > 1e15 || v < -1e15 {
			return v, nil
		}
		return v * 1e9, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f * 1e9), nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("not a timestamp: %q", s)
}

func (l *loader) startMeta(k metaKind) {
	if l.hasMeta[k] {
		return
	}
	l.hasMeta[k] = true
	n := 0
	if l.d.X != nil {
		n = l.d.X.Len
	}
	// Rows read before this column appeared get zero values.
	switch k {
	case metaSrcIP:
		l.d.Meta.SrcIP = make([]string, n)
	case metaDstIP:
		l.d.Meta.DstIP = make([]string, n)
	case metaSrcPort:
		l.d.Meta.SrcPort = make([]uint16, n)
	case metaDstPort:
		l.d.Meta.DstPort = make([]uint16, n)
	case metaProto:
		l.d.Meta.Proto = make([]uint8, n)
	case metaTime:
		l.d.Meta.Timestamp = make([]int64, n)
	case metaSource:
		l.d.Meta.Source = make([]string, n)
	case metaCapture:
		l.d.Meta.Capture = make([]string, n)
	}
}

func (l *loader) appendMeta(m *metaRow) {
	d := &l.d.Meta
	if l.hasMeta[metaSrcIP] {
		d.SrcIP = append(d.SrcIP, l.intern(m.srcIP))
	}
	if l.hasMeta[metaDstIP] {
		d.DstIP = append(d.DstIP, l.intern(m.dstIP))
	}
	if l.hasMeta[metaSrcPort] {
		d.SrcPort = append(d.SrcPort, m.srcPort)
	}
	if l.hasMeta[metaDstPort] {
		d.DstPort = append(d.DstPort, m.dstPort)
	}
	if l.hasMeta[metaProto] {
		d.Proto = append(d.Proto, m.proto)
	}
	if l.hasMeta[metaTime] {
		d.Timestamp = append(d.Timestamp, m.ts)
	}
	if l.hasMeta[metaSource] {
		d.Source = append(d.Source, l.intern(m.source))
	}
	if l.hasMeta[metaCapture] {
		d.Capture = append(d.Capture, l.intern(m.capture))
	}
}

// intern returns a copy of s shared by all equal strings, so stored labels and
// addresses do not keep whole CSV records alive.
func (l *loader) intern(s string) string {
	in, ok := l.strs[s]
	if !ok {
		in = strings.Clone(s)
		l.strs[in] = in
	}
	return in
}
