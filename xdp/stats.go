package xdp

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Counter indexes the XDP program's per-CPU counters (enum fs_counter in
// bpf/flowsieve.h; a test keeps the two in step).
type Counter int

// Counters kept by the XDP program, per action and per reason.
const (
	CounterRX            Counter = iota // frames seen
	CounterDrop                         // dropped by a verdict
	CounterTag                          // DSCP rewritten by a verdict, then forwarded
	CounterPass                         // forwarded by a PASS verdict
	CounterUser                         // redirected to an AF_XDP socket (no verdict)
	CounterForward                      // forwarded without a verdict (non-IP, parse error, fail open)
	CounterFailOpen                     // no verdict and no socket for the queue
	CounterNonIP                        // not IPv4/IPv6 (ARP, LLDP, ...)
	CounterND                           // ICMPv6 router/neighbour discovery
	CounterParseError                   // truncated or malformed L2/L3 header
	CounterL4Truncated                  // L4 header cut short: looked up without ports
	CounterFragment                     // non-first fragment: looked up without ports
	CounterExtLimit                     // too many IPv6 extension headers
	CounterExpired                      // an expired verdict was ignored
	CounterFlowHit                      // verdict from the flow map
	CounterPrefixHit                    // verdict from a source prefix trie
	CounterBadVerdict                   // entry with an unknown action was ignored
	CounterNoPeer                       // inline interface without a devmap peer
	CounterQueueUnmapped                // RX queue without an XSKMAP slot (unmanaged interface or queue ≥ Options.Queues): fail open
	CounterFlowCacheHit                 // flow verdict served by the program's IPv4 cache without a flow-map lookup (also counted in CounterFlowHit)
	CounterSignatureDrop                // dropped by a victim's signature (also counted in CounterDrop)
	CounterRateDrop                     // dropped by a rate limit (also counted in CounterDrop)
	NumCounters
)

var counterNames = [NumCounters]string{
	"rx", "drop", "tag", "pass", "user", "forward", "fail_open", "non_ip", "nd",
	"parse_error", "l4_truncated", "fragment", "ext_limit", "expired", "flow_hit",
	"prefix_hit", "bad_verdict", "no_peer", "queue_unmapped", "flow_cache_hit", "signature_drop",
	"rate_drop",
}

// String is the counter's snake_case name (used as a metrics label).
func (c Counter) String() string {
	if c < 0 || c >= NumCounters {
		return fmt.Sprintf("counter(%d)", int(c))
	}
	return counterNames[c]
}

// Counters holds every counter summed over CPUs.
type Counters [NumCounters]uint64

// Stats reads the program's per-CPU counters.
type Stats struct {
	m *ebpf.Map
}

// Read sums the per-CPU counters (safe for concurrent use, e.g. metric scrapes).
func (s *Stats) Read() (Counters, error) {
	var c Counters
	var perCPU []flowsieveFsCounters
	if err := s.m.Lookup(uint32(0), &perCPU); err != nil {
		return c, fmt.Errorf("xdp: read counters: %w", err)
	}
	for i := range perCPU {
		for j := range c {
			c[j] += perCPU[i].C[j]
		}
	}
	return c, nil
}
