package aggregate

import (
	"fmt"
	"math"
)

// Window indexes the damped windows of a Hosts table.
type Window uint8

// The damped windows, by half-life.
const (
	Window100ms Window = iota
	Window1s
	Window10s
	NumWindows
)

// halfLife is each window's half-life in seconds.
var halfLife = [NumWindows]float64{0.1, 1, 10}

// String names the window.
func (w Window) String() string {
	return [...]string{"100ms", "1s", "10s", "?"}[min(w, NumWindows)]
}

// bucketSize is the number of entries a key may occupy: its bucket.
const bucketSize = 8

// hostEntry is one key's damped counters. a and b are the key's addresses (b is zero
// for a source or a prefix); c holds the counters per window as of last.
type hostEntry struct {
	a, b [16]byte
	last int64
	c    [NumWindows][NumCounters]float32
}

// weight is an entry's last update and 10 s packet count then, kept apart from the
// entry so that choosing which entry of a full bucket to evict (under a spoofed
// flood, for nearly every packet) reads one compact line per bucket instead of
// every entry's counters.
type weight struct {
	last    int64
	packets float32
}

// HostStats are one entry's statistics as of a given time.
type HostStats struct {
	A, B      [16]byte           // the key's addresses (B zero for sources and prefixes)
	IPVersion uint8              // 4 or 6
	Rates     [NumWindows]Counts // per-second rates of every counter, per window
	Totals    [NumWindows]Counts // the damped sums (about rate × half-life / ln 2)
	Ports     float64            // distinct destination ports over the last one to two epochs (0 for pairs)
	Hosts     float64            // distinct destination hosts, likewise
	Last      int64              // unix ns of the key's last packet
}

// Hosts is a fixed-capacity table of damped statistics keyed by one address (a source
// or a prefix) or two (a source→victim pair). It belongs to one goroutine.
type Hosts struct {
	tags     []uint32 // per entry: 0 empty, else the key hash's high bits | 1
	vers     []uint8
	weights  []weight // per entry: what picking the lightest of a full bucket reads
	entries  []hostEntry
	distinct []hll2 // per entry, ports then hosts; nil for pair tables
	nb       uint64 // buckets
	seed     uint64
	epochNS  int64
	evicted  uint64
}

// NewHosts returns a table of at least capacity entries (rounded up to whole buckets).
// distinct keeps distinct destination port and host sketches per entry (sources and
// prefixes); epochNS is their epoch.
func NewHosts(capacity int, distinct bool, epochNS int64, seed uint64) (*Hosts, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("%w: capacity %d, want at least 1", ErrConfig, capacity)
	}
	if distinct && epochNS <= 0 {
		return nil, fmt.Errorf("%w: epoch %d ns, want > 0", ErrConfig, epochNS)
	}
	nb := (capacity + bucketSize - 1) / bucketSize
	n := nb * bucketSize
	h := &Hosts{
		tags: make([]uint32, n), vers: make([]uint8, n), weights: make([]weight, n), entries: make([]hostEntry, n),
		nb: uint64(nb), seed: seed, epochNS: epochNS,
	}
	if distinct {
		h.distinct = make([]hll2, 2*n)
	}
	return h, nil
}

// Capacity returns the number of entries.
func (h *Hosts) Capacity() int { return len(h.entries) }

// Evicted returns how many entries were replaced by new keys.
func (h *Hosts) Evicted() uint64 { return h.evicted }

// MemoryBytes returns the bytes a table of the given capacity holds.
func MemoryBytes(capacity int, distinct bool) int {
	n := (capacity + bucketSize - 1) / bucketSize * bucketSize
	per := 4 + 1 + int(sizeofWeight) + int(sizeofHostEntry)
	if distinct {
		per += 2 * int(sizeofHLL2)
	}
	return n * per
}

func (h *Hosts) hash(a, b *[16]byte, ver uint8) uint64 {
	return hashKey(a, 0, ver, h.seed^hashAddr(b))
}

// find returns the entry of key (a, b), claiming one when absent; ts is used to pick
// the lightest entry of a full bucket.
func (h *Hosts) find(a, b *[16]byte, ver uint8, ts int64) int {
	hv := h.hash(a, b, ver)
	tag := uint32(hv>>32) | 1
	base := int((hv & 0xffffffff) * h.nb >> 32 * bucketSize)
	free := -1
	for i := base; i < base+bucketSize; i++ {
		t := h.tags[i]
		if t == tag && h.vers[i] == ver && h.entries[i].a == *a && h.entries[i].b == *b {
			return i
		}
		if t == 0 && free < 0 {
			free = i
		}
	}
	if free < 0 {
		free = h.lightest(base, ts)
		h.evicted++
	}
	h.tags[free], h.vers[free] = tag, ver
	e := &h.entries[free]
	*e = hostEntry{a: *a, b: *b, last: ts}
	h.weights[free] = weight{last: ts}
	if h.distinct != nil {
		h.distinct[2*free], h.distinct[2*free+1] = hll2{}, hll2{}
	}
	return free
}

// lightest returns the entry of the bucket at base with the smallest 10 s packet count
// decayed to ts.
func (h *Hosts) lightest(base int, ts int64) int {
	best, bestV := base, math.Inf(1)
	for i := base; i < base+bucketSize; i++ {
		w := &h.weights[i]
		v := float64(w.packets) * decay(ts-w.last, halfLife[Window10s])
		if v < bestV {
			best, bestV = i, v
		}
	}
	return best
}

// decay returns 2^(-dt/halfLife) for dt in ns (1 for dt <= 0).
func decay(dt int64, halfLife float64) float64 {
	if dt <= 0 {
		return 1
	}
	return math.Exp2(-float64(dt) / 1e9 / halfLife)
}

// decays returns every window's decay over dt ns with one exponential: the half-lives
// are 10 s, 1 s and 100 ms, so the shorter windows' factors are tenth powers.
func decays(dt int64) [NumWindows]float64 {
	f10 := math.Exp2(-float64(dt) / 1e9 / halfLife[Window10s])
	f1 := pow10(f10)
	return [NumWindows]float64{pow10(f1), f1, f10}
}

// pow10 returns x^10.
func pow10(x float64) float64 {
	x2 := x * x
	x4 := x2 * x2
	return x4 * x4 * x2
}

// add decays entry i to ts and adds d.
func (h *Hosts) add(i int, d *[NumCounters]uint32, ts int64) {
	e := &h.entries[i]
	if dt := ts - e.last; dt > 0 {
		fs := decays(dt)
		for w := range NumWindows {
			f := float32(fs[w])
			c := &e.c[w]
			for k := range c {
				c[k] *= f
			}
		}
		e.last = ts
	}
	for w := range NumWindows {
		c := &e.c[w]
		for k, v := range d {
			c[k] += float32(v)
		}
	}
	h.weights[i] = weight{last: e.last, packets: e.c[Window10s][Packets]}
}

// addDistinct adds a destination port and host to entry i's sketches.
func (h *Hosts) addDistinct(i int, port uint16, host *[16]byte, ts int64) {
	if h.distinct == nil {
		return
	}
	ep := ts / h.epochNS
	h.distinct[2*i].add(ep, hashValue(uint64(port)))
	h.distinct[2*i+1].add(ep, hashAddr(host))
}

// Add adds one packet's deltas (see Aggregator) to key (a, b) at ts; port and host
// are the packet's destination, counted by the distinct sketches.
func (h *Hosts) Add(a, b *[16]byte, ver uint8, d *[NumCounters]uint32, port uint16, host *[16]byte, ts int64) {
	i := h.find(a, b, ver, ts)
	h.add(i, d, ts)
	h.addDistinct(i, port, host, ts)
}

// AddCount adds n to one counter of key (a, b) when the key has an entry (flow ends
// never claim entries).
func (h *Hosts) AddCount(a, b *[16]byte, ver uint8, c Counter, n uint32, ts int64) {
	hv := h.hash(a, b, ver)
	tag := uint32(hv>>32) | 1
	base := int((hv & 0xffffffff) * h.nb >> 32 * bucketSize)
	for i := base; i < base+bucketSize; i++ {
		if h.tags[i] == tag && h.vers[i] == ver && h.entries[i].a == *a && h.entries[i].b == *b {
			var d [NumCounters]uint32
			d[c] = n
			h.add(i, &d, ts)
			return
		}
	}
}

// Lookup returns key (a, b)'s statistics as of ts.
func (h *Hosts) Lookup(a, b *[16]byte, ver uint8, ts int64) (HostStats, bool) {
	hv := h.hash(a, b, ver)
	tag := uint32(hv>>32) | 1
	base := int((hv & 0xffffffff) * h.nb >> 32 * bucketSize)
	for i := base; i < base+bucketSize; i++ {
		if h.tags[i] == tag && h.vers[i] == ver && h.entries[i].a == *a && h.entries[i].b == *b {
			return h.stats(i, ts), true
		}
	}
	return HostStats{}, false
}

// Each calls fn with the statistics of every entry as of ts, until fn returns false.
func (h *Hosts) Each(ts int64, fn func(*HostStats) bool) {
	for i, t := range h.tags {
		if t == 0 {
			continue
		}
		s := h.stats(i, ts)
		if !fn(&s) {
			return
		}
	}
}

func (h *Hosts) stats(i int, ts int64) HostStats {
	e := &h.entries[i]
	s := HostStats{A: e.a, B: e.b, IPVersion: h.vers[i], Last: e.last}
	for w := range NumWindows {
		f := decay(ts-e.last, halfLife[w])
		r := math.Ln2 / halfLife[w]
		for k, v := range e.c[w] {
			s.Totals[w][k] = float64(v) * f
			s.Rates[w][k] = s.Totals[w][k] * r
		}
	}
	if h.distinct != nil {
		ep := ts / h.epochNS
		s.Ports = h.distinct[2*i].estimate(ep)
		s.Hosts = h.distinct[2*i+1].estimate(ep)
	}
	return s
}
