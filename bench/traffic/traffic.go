// Package traffic generates realistic, labelled network traffic deterministically:
// Ethernet frames carrying IPv4/IPv6 with TCP, UDP or ICMP and correct checksums, with
// the ground truth of every flow. Benign traffic (web and TLS sessions, DNS, SSH, NTP,
// ping, a long bulk transfer) and attacks (floods, amplification, scans, brute force,
// slowloris, HTTP floods) are modelled as per-flow state machines whose packets are
// merged by timestamp with a heap, so the output is a realistic capture as seen at the
// servers' edge: RTTs, think times, TCP slow start, delayed ACKs and orderly closes.
//
// The same Config (and seed) gives byte-identical output (on one architecture: the
// distributions use math.Exp, math.Pow and floating-point arithmetic that other
// architectures may round differently). Next streams frames without allocating per
// packet, so a benchmark sender can take them directly; OnRule receives the ground
// truth as engine/labels rules.
//
// Capture point and realism: timestamps are those seen at the servers' edge (client
// packets arrive, server packets leave), so a client's answer to a server packet comes
// one RTT later. Frames are padded to the Ethernet minimum of 60 bytes. IPv4 DNS
// amplification answers are IP-fragmented; nothing else is. TestRealism compares the
// attack scenarios with real captures.
package traffic

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowsieve/flowsieve/engine/labels"
)

// Label is the ground-truth class of a generated packet's flow.
type Label uint8

// Labels the generator assigns; String gives the name written to labels files.
const (
	Benign Label = iota
	SYNFlood
	UDPFlood
	ACKFlood
	DNSAmplification
	PortScan
	SSHPatator
	Slowloris
	HTTPFlood
	NumLabels
)

var labelNames = [NumLabels]string{
	Benign:           labels.Benign,
	SYNFlood:         labels.SYNFlood,
	UDPFlood:         labels.UDPFlood,
	ACKFlood:         labels.ACKFlood,
	DNSAmplification: labels.DNSAmplification,
	PortScan:         labels.PortScan,
	SSHPatator:       labels.SSHPatator,
	Slowloris:        labels.DoSSlowloris,
	HTTPFlood:        labels.DoSHulk,
}

// String returns the label's name (BENIGN, "SYN Flood", "DoS Hulk", ...).
func (l Label) String() string {
	if l < NumLabels {
		return labelNames[l]
	}
	return fmt.Sprintf("label(%d)", uint8(l))
}

// Errors.
var (
	// ErrConfig reports an invalid Config (unknown scenario or attack, bad parameter).
	ErrConfig = errors.New("traffic: invalid configuration")
	// ErrShortBuffer is returned by Next when the buffer's capacity is below MaxFrameLen.
	ErrShortBuffer = errors.New("traffic: buffer shorter than MaxFrameLen")
)

// DefaultStart is the capture start time used when Config.Start is zero.
var DefaultStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Config parameterises a run. Zero fields take the scenario's defaults.
type Config struct {
	Scenario  string        // scenario name (see Scenarios)
	Seed      uint64        // random seed; the same seed gives the same bytes
	Start     time.Time     // time of the capture's start (default DefaultStart)
	Duration  time.Duration // capture length (default 60 s)
	Rate      float64       // packets/s of the scenario's main traffic (default per scenario)
	IPv6Share float64       // share of flows (and attackers) using IPv6, 0..1
	Attacks   []string      // attacks added to the benign background by the mixed scenario
	Hosts     int           // benign client hosts, or botnet size for botnet attacks (default per scenario)

	Clients   netip.Prefix // benign clients (default 198.51.100.0/24)
	Servers   netip.Prefix // servers and attack victims (default 203.0.113.0/24)
	Attackers netip.Prefix // attacking hosts, scanners and reflectors (default 192.0.2.0/24)
	Spoofed   netip.Prefix // spoofed flood sources and botnets (default 198.18.0.0/15, RFC 2544)
	IPv6      netip.Prefix // IPv6 space, a /32 or shorter, split into /48s (default 2001:db8::/32)
}

// defaults fills zero fields.
func (c *Config) defaults() {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Duration == 0 {
		c.Duration = 60 * time.Second
	}
	def := func(p *netip.Prefix, s string) {
		if !p.IsValid() {
			*p = netip.MustParsePrefix(s)
		}
	}
	def(&c.Clients, "198.51.100.0/24")
	def(&c.Servers, "203.0.113.0/24")
	def(&c.Attackers, "192.0.2.0/24")
	def(&c.Spoofed, "198.18.0.0/15")
	def(&c.IPv6, "2001:db8::/32")
}

func (c *Config) validate() error {
	switch {
	case c.Duration < 0:
		return fmt.Errorf("%w: duration %v is negative", ErrConfig, c.Duration)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("%w: rate %v is not a non-negative number", ErrConfig, c.Rate)
	case !(c.IPv6Share >= 0 && c.IPv6Share <= 1):
		return fmt.Errorf("%w: ipv6 share %v is not in 0..1", ErrConfig, c.IPv6Share)
	case c.Hosts < 0:
		return fmt.Errorf("%w: hosts %d is negative", ErrConfig, c.Hosts)
	}
	for _, p := range []struct {
		name string
		p    netip.Prefix
		max  int
	}{{"clients", c.Clients, 30}, {"servers", c.Servers, 24}, {"attackers", c.Attackers, 28}, {"spoofed", c.Spoofed, 24}} {
		if !p.p.Addr().Is4() || p.p.Bits() > p.max {
			return fmt.Errorf("%w: %s prefix %v must be IPv4 and /%d or shorter", ErrConfig, p.name, p.p, p.max)
		}
	}
	if !c.IPv6.Addr().Is6() || c.IPv6.Bits() > 32 {
		return fmt.Errorf("%w: ipv6 prefix %v must be IPv6 and /32 or shorter", ErrConfig, c.IPv6)
	}
	return nil
}

// Generator produces the frames of one scenario in timestamp order.
type Generator struct {
	cfg   Config
	rng   *rand.Rand
	start int64
	end   int64
	noise []byte

	heap    []*flow
	free    []*flow
	nextID  uint64
	classes []*class
	addrs   addrPlan
	ports   []uint16 // next ephemeral port per client host (0: the single attacker)

	// OnFlow, when set, receives a 5-tuple rule for every benign flow when it ends (or
	// at the end of the capture), and the source-block rules of every attack at EOF.
	OnRule func(labels.Rule)

	packets uint64
	perLbl  [NumLabels]uint64
	done    bool
	cur     *flow // the flow whose packet is being written
	quic    quicCrypto
	scratch [128]byte
	big     [1 << 16]byte // a datagram being fragmented
}

// New returns a generator for cfg.
func New(cfg Config) (*Generator, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sc, ok := scenarioByName(cfg.Scenario)
	if !ok {
		return nil, fmt.Errorf("%w: unknown scenario %q (see --list)", ErrConfig, cfg.Scenario)
	}
	g := &Generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x666c6f7773696576)),
		start: cfg.Start.UnixNano(),
		noise: make([]byte, 1<<16),
	}
	g.end = g.start + int64(cfg.Duration)
	for i := range g.noise {
		g.noise[i] = byte(g.rng.Uint32())
	}
	g.addrs = newAddrPlan(&cfg)
	if err := sc.build(g, &cfg); err != nil {
		return nil, err
	}
	for _, c := range g.classes {
		g.startClass(c)
	}
	return g, nil
}

// Config returns the configuration in effect (defaults filled in).
func (g *Generator) Config() Config { return g.cfg }

// Start and End return the capture's time span in Unix nanoseconds.
func (g *Generator) Start() int64 { return g.start }

// End returns the end of the capture (exclusive), Unix ns.
func (g *Generator) End() int64 { return g.end }

// Packets returns the number of frames produced so far, and per label.
func (g *Generator) Packets() (total uint64, byLabel [NumLabels]uint64) {
	return g.packets, g.perLbl
}

// Next writes the next frame into buf (capacity at least MaxFrameLen) and returns it
// with its timestamp (Unix ns) and its flow's label. At the end of the capture it
// returns io.EOF, after handing the remaining rules to OnRule.
func (g *Generator) Next(buf []byte) (frame []byte, ts int64, label Label, err error) {
	if cap(buf) < MaxFrameLen {
		return nil, 0, 0, ErrShortBuffer
	}
	buf = buf[:MaxFrameLen]
	for len(g.heap) > 0 {
		f := g.heap[0]
		if f.t >= g.end {
			break
		}
		t := f.t
		n := g.step(f, buf)
		if f.dead {
			g.pop()
			g.release(f)
		} else {
			g.fix(0)
		}
		if n > 0 {
			if n < minFrameLen { // NICs pad short frames to the Ethernet minimum
				clear(buf[n:minFrameLen])
				n = minFrameLen
			}
			g.packets++
			g.perLbl[f.label]++
			return buf[:n], t, f.label, nil
		}
	}
	g.finish()
	return nil, 0, 0, io.EOF
}

// finish reports the rules of flows cut by the end of the capture and of the attacks.
func (g *Generator) finish() {
	if g.done {
		return
	}
	g.done = true
	for _, f := range g.heap {
		if f.kind != kSpawn {
			g.ruleFor(f)
		}
	}
	if g.OnRule == nil {
		return
	}
	for _, c := range g.classes {
		if c.label == Benign {
			continue
		}
		for fam := range 2 {
			if c.used[fam] {
				r := labels.AnyRule(c.label.String())
				r.Src = c.block[fam]
				r.Start, r.End = c.first[fam], c.last[fam]
				g.OnRule(r)
			}
		}
	}
}

// ruleFor reports a benign flow's 5-tuple rule, once, if it sent a packet.
func (g *Generator) ruleFor(f *flow) {
	if f.label != Benign || f.first == 0 || f.ruled {
		return
	}
	f.ruled = true
	if g.OnRule != nil {
		sp, dp := f.c.port, f.s.port
		if f.proto == 1 || f.proto == 58 {
			sp, dp = 0, 0 // ICMP flows have no ports
		}
		g.OnRule(labels.FlowRule(f.addr(&f.c), f.addr(&f.s), sp, dp, f.proto, f.first, f.last, labels.Benign))
	}
}

// emitted records that f sent a packet at t (flow span and attack windows).
func (g *Generator) emitted(f *flow, t int64) {
	if f.first == 0 {
		f.first = t
	}
	f.last = t
	if c := f.cls; c != nil && c.label != Benign {
		fam := 0
		if f.v6 {
			fam = 1
		}
		if !c.used[fam] {
			c.used[fam] = true
			c.first[fam] = t
		}
		c.last[fam] = t
	}
}

// ---- heap of flows by next event time (ties by creation order) ----

func (g *Generator) less(a, b *flow) bool {
	return a.t < b.t || (a.t == b.t && a.id < b.id)
}

func (g *Generator) push(f *flow) {
	f.hidx = len(g.heap)
	g.heap = append(g.heap, f)
	g.up(f.hidx)
}

func (g *Generator) pop() {
	h := g.heap
	n := len(h) - 1
	h[0] = h[n]
	h[0].hidx = 0
	h[n] = nil
	g.heap = h[:n]
	if n > 0 {
		g.down(0)
	}
}

func (g *Generator) fix(i int) {
	if !g.down(i) {
		g.up(i)
	}
}

func (g *Generator) up(i int) {
	h := g.heap
	for i > 0 {
		p := (i - 1) / 2
		if !g.less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		h[i].hidx, h[p].hidx = i, p
		i = p
	}
}

func (g *Generator) down(i0 int) bool {
	h := g.heap
	i := i0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		j := l
		if r := l + 1; r < len(h) && g.less(h[r], h[l]) {
			j = r
		}
		if !g.less(h[j], h[i]) {
			break
		}
		h[i], h[j] = h[j], h[i]
		h[i].hidx, h[j].hidx = i, j
		i = j
	}
	return i > i0
}

// newFlow takes a flow from the free list (or allocates one while warming up).
func (g *Generator) newFlow(c *class, k kind, t int64) *flow {
	var f *flow
	if n := len(g.free); n > 0 {
		f = g.free[n-1]
		g.free = g.free[:n-1]
		*f = flow{}
	} else {
		f = new(flow)
	}
	g.nextID++
	f.id, f.cls, f.kind, f.t = g.nextID, c, k, t
	if c != nil {
		f.label = c.label
	}
	return f
}

func (g *Generator) release(f *flow) {
	g.ruleFor(f)
	f.cls = nil
	g.free = append(g.free, f)
}

// ---- random distributions ----

// exp returns an exponential duration with the given mean (ns).
func (g *Generator) exp(mean float64) int64 { return int64(g.rng.ExpFloat64() * mean) }

// lognormal returns exp(N(ln median, sigma)).
func (g *Generator) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*g.rng.NormFloat64())
}

// pareto returns a Pareto(xm, alpha) value.
func (g *Generator) pareto(xm, alpha float64) float64 {
	return xm / math.Pow(1-g.rng.Float64(), 1/alpha)
}

// between returns a uniform integer in [lo, hi].
func (g *Generator) between(lo, hi int) int { return lo + g.rng.IntN(hi-lo+1) }

func clampF(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

// ephemeral returns a client port from the Linux ephemeral range.
func (g *Generator) ephemeral() uint16 { return uint16(g.between(32768, 60999)) }

const (
	us = int64(time.Microsecond)
	ms = int64(time.Millisecond)
	s  = int64(time.Second)
)
