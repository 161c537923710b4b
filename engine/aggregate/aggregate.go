package aggregate

import (
	"encoding/binary"
	"fmt"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// Config sizes one worker's Aggregator. Zero fields take the defaults.
type Config struct {
	Sources  int   // source address entries (default 32768)
	Prefixes int   // source prefix entries (default 8192)
	Pairs    int   // source→victim pair entries (default 32768)
	Prefix4  int   // IPv4 source prefix length (default 24)
	Prefix6  int   // IPv6 source prefix length (default 64)
	EpochNS  int64 // epoch of the per-source distinct counts (default 10 s)
	Seed     uint64
}

func (c *Config) defaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Sources, 32768)
	def(&c.Prefixes, 8192)
	def(&c.Pairs, 32768)
	def(&c.Prefix4, 24)
	def(&c.Prefix6, 64)
	if c.EpochNS == 0 {
		c.EpochNS = 10e9
	}
	if c.Prefix4 < 1 || c.Prefix4 > 32 {
		return fmt.Errorf("%w: prefix4 %d, want 1..32", ErrConfig, c.Prefix4)
	}
	if c.Prefix6 < 1 || c.Prefix6 > 128 {
		return fmt.Errorf("%w: prefix6 %d, want 1..128", ErrConfig, c.Prefix6)
	}
	return nil
}

// Aggregator is one worker's view: its own source, prefix and pair tables, and the
// victim table it shares with the other workers. It is not safe for concurrent use;
// give each worker its own, all with the same Victims.
type Aggregator struct {
	cfg      Config
	Sources  *Hosts   // per source address
	Prefixes *Hosts   // per source prefix (Config.Prefix4 / Prefix6)
	Pairs    *Hosts   // per source→destination address pair
	Victims  *Victims // shared: per destination address and per address:port
	d        [NumCounters]uint32
}

// New returns an Aggregator sized by cfg that adds victims to the shared table v.
func New(cfg Config, v *Victims) (*Aggregator, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: no victim table", ErrConfig)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	a := &Aggregator{cfg: cfg, Victims: v}
	var err error
	if a.Sources, err = NewHosts(cfg.Sources, true, cfg.EpochNS, cfg.Seed); err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	if a.Prefixes, err = NewHosts(cfg.Prefixes, true, cfg.EpochNS, cfg.Seed+1); err != nil {
		return nil, fmt.Errorf("prefixes: %w", err)
	}
	if a.Pairs, err = NewHosts(cfg.Pairs, false, cfg.EpochNS, cfg.Seed+2); err != nil {
		return nil, fmt.Errorf("pairs: %w", err)
	}
	return a, nil
}

// Config returns the configuration with defaults filled in.
func (a *Aggregator) Config() Config { return a.cfg }

var zero16 [16]byte

// Observe adds one decoded IP packet seen at ts (unix ns) with its wire length;
// newFlow says whether it started a flow in the caller's flow table. Non-IP packets
// are ignored. It does not allocate.
func (a *Aggregator) Observe(p *packet.Packet, ts int64, wireLen int, newFlow bool) {
	if p.IPVersion != 4 && p.IPVersion != 6 {
		return
	}
	d := &a.d
	deltas(p, wireLen, newFlow, d)
	a.Sources.Add(&p.SrcIP, &zero16, p.IPVersion, d, p.DstPort, &p.DstIP, ts)
	pre := Prefix(&p.SrcIP, p.IPVersion, a.cfg.Prefix4, a.cfg.Prefix6)
	a.Prefixes.Add(&pre, &zero16, p.IPVersion, d, p.DstPort, &p.DstIP, ts)
	a.Pairs.Add(&p.SrcIP, &p.DstIP, p.IPVersion, d, p.DstPort, &p.DstIP, ts)
	k := VictimKey{Addr: p.DstIP, IPVersion: p.IPVersion}
	a.Victims.Add(&k, d, &p.SrcIP, p.DstPort, ts)
	if p.HasL4 && (p.Proto == packet.ProtoTCP || p.Proto == packet.ProtoUDP) {
		k.Port, k.HasPort = p.DstPort, true
		a.Victims.Add(&k, d, &p.SrcIP, p.DstPort, ts)
	}
}

// FlowEnd counts a flow from src to dst that ended at ts with the given number of
// packets: one-packet flows add to OnePacketFlows of the source, its prefix, the pair
// and the victim (entries that no longer exist are not recreated).
func (a *Aggregator) FlowEnd(src, dst *[16]byte, ver uint8, packets uint64, ts int64) {
	if packets != 1 {
		return
	}
	a.Sources.AddCount(src, &zero16, ver, OnePacketFlows, 1, ts)
	pre := Prefix(src, ver, a.cfg.Prefix4, a.cfg.Prefix6)
	a.Prefixes.AddCount(&pre, &zero16, ver, OnePacketFlows, 1, ts)
	a.Pairs.AddCount(src, dst, ver, OnePacketFlows, 1, ts)
	k := VictimKey{Addr: *dst, IPVersion: ver}
	a.Victims.AddCount(&k, OnePacketFlows, 1, ts)
}

// Prefix returns addr masked to the IPv4 or IPv6 prefix length.
func Prefix(addr *[16]byte, ver uint8, bits4, bits6 int) [16]byte {
	bits := bits6
	if ver == 4 {
		bits = bits4
	}
	var out [16]byte
	full := bits / 8
	copy(out[:full], addr[:full])
	if r := bits % 8; r != 0 && full < 16 {
		out[full] = addr[full] & byte(0xff<<(8-r))
	}
	return out
}

func le64(b []byte) uint64     { return binary.LittleEndian.Uint64(b) }
func put64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }
