// Package labels reads and writes ground-truth labels files for captures: which flows
// of a pcap are BENIGN and which belong to an attack. Training sets come straight from
// captures by attaching these labels to the flow records the engine rebuilds.
//
// # Format
//
// A labels file is CSV (RFC 4180, comma separated) with a header line. Lines starting
// with '#' and blank lines are ignored. The header names the columns, in any order:
//
//	src     source address or prefix (198.51.100.7, 198.51.100.0/24, 2001:db8::/32), or * / empty for any
//	dst     destination address or prefix, or * / empty for any
//	sport   source port (0–65535), or * / empty for any
//	dport   destination port, or * / empty for any
//	proto   tcp, udp, icmp, icmpv6 or an IP protocol number (0–255), or * / empty for any
//	start   start of the rule's time span, or * / empty for unbounded
//	end     end of the rule's time span (inclusive), or * / empty for unbounded
//	label   the label: BENIGN or an attack name (required, non-empty)
//
// Only label is mandatory; a missing column means "any". Times are Unix seconds with an
// optional fraction of up to nine digits (1700000000.123456789) or RFC 3339 timestamps
// (2023-11-14T22:13:20.5Z).
//
// A rule whose src and dst are single addresses and whose sport, dport and proto are all
// given is a 5-tuple rule: it names one flow (ICMP flows have ports 0). Every other rule
// (by source address or prefix, by time window, or any mix) is a pattern rule.
//
// # Matching
//
// A flow (its 5-tuple and the time of its first and last packet) matches a rule when every
// given field of the rule matches and the flow's time span overlaps the rule's span. Rules
// match either direction: a rule also matches the flow with source and destination (address
// and port) swapped, so "src=192.0.2.10" labels the attacker's flows and the victim's replies.
// 5-tuple rules are consulted first (an indexed lookup; the first in file order whose span
// overlaps wins); then pattern rules in file order; the first match wins. When nothing
// matches, Label returns "".
package labels

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Standard label names. Attack names follow CIC-IDS2017 where it has one; the floods
// and amplification it lacks get names of their own (see docs/labels.md).
const (
	Benign           = "BENIGN"
	DDoS             = "DDoS"
	DoSHulk          = "DoS Hulk"
	DoSSlowloris     = "DoS slowloris"
	PortScan         = "PortScan"
	SSHPatator       = "SSH-Patator"
	SYNFlood         = "SYN Flood"
	UDPFlood         = "UDP Flood"
	ACKFlood         = "ACK Flood"
	DNSAmplification = "DNS Amplification"
)

// Sentinel errors; every load error wraps one of them and names file:line:field.
var (
	// ErrSyntax reports a malformed labels file (bad CSV, missing header or label column).
	ErrSyntax = errors.New("labels: syntax error")
	// ErrField reports a field whose value cannot be parsed.
	ErrField = errors.New("labels: invalid field")
)

// Any is the wildcard value for Rule.Proto.
const Any = -1

// Rule is one line of a labels file. Invalid prefixes (the zero netip.Prefix) mean
// "any address", ports and Proto set to Any mean "any", Start/End of math.MinInt64 and
// math.MaxInt64 mean unbounded. Times are Unix nanoseconds.
type Rule struct {
	Src, Dst     netip.Prefix
	SPort, DPort int32 // 0–65535 or Any
	Proto        int16 // 0–255 or Any
	Start, End   int64
	Label        string
}

// AnyRule returns a rule matching everything, for callers to narrow field by field.
func AnyRule(label string) Rule {
	return Rule{SPort: Any, DPort: Any, Proto: Any, Start: math.MinInt64, End: math.MaxInt64, Label: label}
}

// FlowRule returns the 5-tuple rule naming one flow seen from first to last (Unix ns).
func FlowRule(src, dst netip.Addr, sport, dport uint16, proto uint8, first, last int64, label string) Rule {
	return Rule{
		Src: netip.PrefixFrom(src, src.BitLen()), Dst: netip.PrefixFrom(dst, dst.BitLen()),
		SPort: int32(sport), DPort: int32(dport), Proto: int16(proto),
		Start: first, End: last, Label: label,
	}
}

// isFlow reports whether r is a 5-tuple rule.
func (r *Rule) isFlow() bool {
	return r.Src.IsValid() && r.Src.IsSingleIP() && r.Dst.IsValid() && r.Dst.IsSingleIP() &&
		r.SPort != Any && r.DPort != Any && r.Proto != Any
}

// matchDir reports whether r's address and port fields match the flow in one direction.
func (r *Rule) matchDir(src, dst netip.Addr, sport, dport uint16) bool {
	return (!r.Src.IsValid() || r.Src.Contains(src)) &&
		(!r.Dst.IsValid() || r.Dst.Contains(dst)) &&
		(r.SPort == Any || r.SPort == int32(sport)) &&
		(r.DPort == Any || r.DPort == int32(dport))
}

// Matches reports whether the flow matches r in either direction and overlaps its span.
func (r *Rule) Matches(src, dst netip.Addr, sport, dport uint16, proto uint8, first, last int64) bool {
	if r.Proto != Any && r.Proto != int16(proto) {
		return false
	}
	if first > r.End || last < r.Start {
		return false
	}
	return r.matchDir(src, dst, sport, dport) || r.matchDir(dst, src, dport, sport)
}

// flowKey is a 5-tuple in canonical (direction-free) order.
type flowKey struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
	v6     bool
}

func makeKey(src, dst netip.Addr, sport, dport uint16, proto uint8) flowKey {
	src, dst = src.Unmap(), dst.Unmap()
	k := flowKey{a: src.As16(), b: dst.As16(), pa: sport, pb: dport, proto: proto, v6: src.Is6()}
	if less(k.b, k.pb, k.a, k.pa) {
		k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
	}
	return k
}

func less(a [16]byte, pa uint16, b [16]byte, pb uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return pa < pb
}

// Set is a loaded labels file, immutable and safe for concurrent use.
type Set struct {
	rules []Rule            // all rules in file order
	flows map[flowKey][]int // 5-tuple rules by canonical key, indices into rules in file order
	other []int             // pattern rules in file order
}

// NewSet builds a Set from rules (in precedence order as described in the package doc).
func NewSet(rules []Rule) *Set {
	s := &Set{rules: rules, flows: make(map[flowKey][]int)}
	for i := range rules {
		r := &rules[i]
		if r.isFlow() {
			k := makeKey(r.Src.Addr(), r.Dst.Addr(), uint16(r.SPort), uint16(r.DPort), uint8(r.Proto))
			s.flows[k] = append(s.flows[k], i)
		} else {
			s.other = append(s.other, i)
		}
	}
	return s
}

// Rules returns the rules in file order (shared; do not modify).
func (s *Set) Rules() []Rule { return s.rules }

// Label returns the label of the flow with the given 5-tuple seen from first to last
// (Unix ns), BENIGN or an attack name, or "" when no rule matches.
func (s *Set) Label(src, dst netip.Addr, sport, dport uint16, proto uint8, first, last int64) string {
	src, dst = src.Unmap(), dst.Unmap()
	if idx, ok := s.flows[makeKey(src, dst, sport, dport, proto)]; ok {
		for _, i := range idx {
			r := &s.rules[i]
			if first <= r.End && last >= r.Start {
				return r.Label
			}
		}
	}
	for _, i := range s.other {
		if s.rules[i].Matches(src, dst, sport, dport, proto, first, last) {
			return s.rules[i].Label
		}
	}
	return ""
}

// columns of a labels file, in the order the Writer emits them.
var columns = [...]string{"src", "dst", "sport", "dport", "proto", "start", "end", "label"}

// Header is the header line the Writer emits.
const Header = "src,dst,sport,dport,proto,start,end,label"

// Load reads the labels file at path.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	defer f.Close()
	rules, err := Parse(f, path)
	if err != nil {
		return nil, err
	}
	return NewSet(rules), nil
}

// Parse reads rules from r; name (a file name) prefixes error messages.
func Parse(r io.Reader, name string) ([]Rule, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var (
		col   [len(columns)]int // column index of each known field, -1 when absent
		rules []Rule
		seen  bool
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %w: %v", name, pe.Line, ErrSyntax, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if !seen {
			seen = true
			for i := range col {
				col[i] = -1
			}
			for i, h := range rec {
				h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
				known := false
				for j, c := range columns {
					if h == c {
						if col[j] >= 0 {
							return nil, fmt.Errorf("%s:%d: %w: header: duplicate column %q", name, line, ErrSyntax, h)
						}
						col[j], known = i, true
					}
				}
				if !known {
					return nil, fmt.Errorf("%s:%d: %w: header: unknown column %q (want %s)", name, line, ErrSyntax, h, Header)
				}
			}
			if col[7] < 0 {
				return nil, fmt.Errorf("%s:%d: %w: header: no label column (want %s)", name, line, ErrSyntax, Header)
			}
			continue
		}
		r, err := parseRule(rec, col[:])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		rules = append(rules, r)
	}
	if !seen {
		return nil, fmt.Errorf("%s:1: %w: empty file, want header %s", name, ErrSyntax, Header)
	}
	return rules, nil
}

// parseRule parses one record given the column index of each field (-1 when absent).
func parseRule(rec []string, col []int) (Rule, error) {
	field := func(i int) string {
		if col[i] < 0 || col[i] >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[col[i]])
	}
	r := AnyRule("")
	var err error
	if r.Src, err = parsePrefix(field(0)); err != nil {
		return r, fmt.Errorf("src: %w", err)
	}
	if r.Dst, err = parsePrefix(field(1)); err != nil {
		return r, fmt.Errorf("dst: %w", err)
	}
	if r.SPort, err = parsePort(field(2)); err != nil {
		return r, fmt.Errorf("sport: %w", err)
	}
	if r.DPort, err = parsePort(field(3)); err != nil {
		return r, fmt.Errorf("dport: %w", err)
	}
	if r.Proto, err = parseProto(field(4)); err != nil {
		return r, fmt.Errorf("proto: %w", err)
	}
	if s := field(5); !wild(s) {
		if r.Start, err = ParseTime(s); err != nil {
			return r, fmt.Errorf("start: %w", err)
		}
	}
	if s := field(6); !wild(s) {
		if r.End, err = ParseTime(s); err != nil {
			return r, fmt.Errorf("end: %w", err)
		}
	}
	if r.End < r.Start {
		return r, fmt.Errorf("end: %w: end %s is before start %s", ErrField, field(6), field(5))
	}
	r.Label = field(7)
	if r.Label == "" {
		return r, fmt.Errorf("label: %w: empty", ErrField)
	}
	return r, nil
}

func wild(s string) bool { return s == "" || s == "*" }

func parsePrefix(s string) (netip.Prefix, error) {
	if wild(s) {
		return netip.Prefix{}, nil
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%w: %q is not an address or prefix", ErrField, s)
		}
		if p.Addr().Is4In6() {
			return p, fmt.Errorf("%w: %q: use a plain IPv4 prefix", ErrField, s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %q is not an address or prefix", ErrField, s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePort(s string) (int32, error) {
	if wild(s) {
		return Any, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a port (0-65535)", ErrField, s)
	}
	return int32(n), nil
}

// protoNames maps protocol names accepted in the proto column to numbers.
var protoNames = map[string]int16{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "ipv6-icmp": 58}

func parseProto(s string) (int16, error) {
	if wild(s) {
		return Any, nil
	}
	if n, ok := protoNames[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not tcp, udp, icmp, icmpv6 or a number 0-255", ErrField, s)
	}
	return int16(n), nil
}

// ParseTime parses Unix seconds with an optional fraction of up to nine digits, or an
// RFC 3339 timestamp, into Unix nanoseconds.
func ParseTime(s string) (int64, error) {
	if strings.ContainsAny(s, "T:") {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not an RFC 3339 time", ErrField, s)
		}
		return t.UnixNano(), nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || len(frac) > 9 || sec > math.MaxInt64/1_000_000_000-1 || sec < math.MinInt64/1_000_000_000+1 {
		return 0, fmt.Errorf("%w: %q is not Unix seconds (up to 9 decimals)", ErrField, s)
	}
	var ns int64
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not Unix seconds (up to 9 decimals)", ErrField, s)
		}
		ns = int64(f)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	if neg {
		return sec*1e9 - ns, nil
	}
	return sec*1e9 + ns, nil
}

// AppendTime appends ns (Unix nanoseconds) as Unix seconds with nine decimals, the form
// ParseTime reads back exactly.
func AppendTime(b []byte, ns int64) []byte {
	if ns < 0 {
		b = append(b, '-')
		ns = -ns
	}
	b = strconv.AppendInt(b, ns/1e9, 10)
	b = append(b, '.')
	f := ns % 1e9
	for d := int64(1e8); d > 0; d /= 10 {
		b = append(b, byte('0'+f/d%10))
	}
	return b
}

// Writer writes rules as a labels file. It does not allocate per rule.
type Writer struct {
	w   *bufio.Writer
	buf []byte
	err error
	n   int
}

// NewWriter returns a Writer that writes the header line, then one line per rule, to w.
func NewWriter(w io.Writer) *Writer {
	lw := &Writer{w: bufio.NewWriterSize(w, 1<<16), buf: make([]byte, 0, 256)}
	_, lw.err = lw.w.WriteString(Header + "\n")
	return lw
}

// Write writes one rule. The first error is kept and returned by every later call.
func (lw *Writer) Write(r Rule) error {
	if lw.err != nil {
		return lw.err
	}
	b := lw.buf[:0]
	b = appendPrefix(b, r.Src)
	b = append(b, ',')
	b = appendPrefix(b, r.Dst)
	b = append(b, ',')
	b = appendInt(b, int64(r.SPort))
	b = append(b, ',')
	b = appendInt(b, int64(r.DPort))
	b = append(b, ',')
	switch r.Proto {
	case 6:
		b = append(b, "tcp"...)
	case 17:
		b = append(b, "udp"...)
	case 1:
		b = append(b, "icmp"...)
	case 58:
		b = append(b, "icmpv6"...)
	default:
		b = appendInt(b, int64(r.Proto))
	}
	b = append(b, ',')
	if r.Start != math.MinInt64 {
		b = AppendTime(b, r.Start)
	}
	b = append(b, ',')
	if r.End != math.MaxInt64 {
		b = AppendTime(b, r.End)
	}
	b = append(b, ',')
	if strings.ContainsAny(r.Label, ",\"\r\n") {
		b = append(b, '"')
		for i := 0; i < len(r.Label); i++ {
			if r.Label[i] == '"' {
				b = append(b, '"')
			}
			b = append(b, r.Label[i])
		}
		b = append(b, '"')
	} else {
		b = append(b, r.Label...)
	}
	b = append(b, '\n')
	lw.buf = b
	_, lw.err = lw.w.Write(b)
	lw.n++
	return lw.err
}

// Count returns the number of rules written.
func (lw *Writer) Count() int { return lw.n }

// Flush writes buffered lines to the underlying writer.
func (lw *Writer) Flush() error {
	if lw.err != nil {
		return lw.err
	}
	lw.err = lw.w.Flush()
	return lw.err
}

func appendPrefix(b []byte, p netip.Prefix) []byte {
	if !p.IsValid() {
		return append(b, '*')
	}
	b = p.Addr().AppendTo(b)
	if !p.IsSingleIP() {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(p.Bits()), 10)
	}
	return b
}

func appendInt(b []byte, v int64) []byte {
	if v == Any {
		return append(b, '*')
	}
	return strconv.AppendInt(b, v, 10)
}
