package commands

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowsieve/flowsieve/appliance/pipeline"
	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/xdp"
)

// demoFlowDrop is one DROP verdict the daemon gave, as its alert line says.
type demoFlowDrop struct {
	Label string  `json:"label"`
	Prob  float32 `json:"probability"`
	Rule  string  `json:"rule"`
}

// demoDrops collects the daemon's DROP verdicts from its alert sink: flow verdicts
// by flow, source verdicts (the mitigation loop's) by source address.
type demoDrops struct {
	mu      sync.Mutex
	flows   map[xdp.Key]demoFlowDrop
	sources map[netip.Addr]string    // source → rule
	since   map[netip.Addr]time.Time // source → when its verdict was written
}

func newDemoDrops() *demoDrops {
	return &demoDrops{flows: map[xdp.Key]demoFlowDrop{}, sources: map[netip.Addr]string{}, since: map[netip.Addr]time.Time{}}
}

// eveLine is what the demo reads of an alert line.
type eveLine struct {
	SrcIP     string `json:"src_ip"`
	DestIP    string `json:"dest_ip"`
	SrcPort   uint16 `json:"src_port"`
	DestPort  uint16 `json:"dest_port"`
	Proto     string `json:"proto"`
	Flowsieve struct {
		Label       string  `json:"label"`
		Probability float32 `json:"probability"`
		Action      string  `json:"action"`
		Rule        string  `json:"rule"`
	} `json:"flowsieve"`
}

var demoProtos = map[string]uint8{"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58}

// sink is the pipeline's alert sink: it keeps the DROP verdicts. A line it cannot
// read is skipped (the report then counts its losses as unexplained).
func (d *demoDrops) sink(line []byte) {
	var e eveLine
	if json.Unmarshal(line, &e) != nil || e.Flowsieve.Action != "DROP" {
		return
	}
	src, err1 := netip.ParseAddr(e.SrcIP)
	dst, err2 := netip.ParseAddr(e.DestIP)
	if err1 != nil || err2 != nil {
		return
	}
	proto, ok := demoProtos[e.Proto]
	if !ok {
		n, err := strconv.ParseUint(e.Proto, 10, 8)
		if err != nil {
			return
		}
		proto = uint8(n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if strings.HasPrefix(e.Flowsieve.Rule, "mitigation:") {
		d.sources[src] = e.Flowsieve.Rule
		if _, ok := d.since[src]; !ok {
			d.since[src] = time.Now()
		}
		return
	}
	d.flows[xdp.FlowKey(src, dst, e.SrcPort, e.DestPort, proto)] = demoFlowDrop{e.Flowsieve.Label, e.Flowsieve.Probability, e.Flowsieve.Rule}
}

// demoLostFlow is one benign flow that lost frames to a flow DROP verdict.
type demoLostFlow struct {
	Flow string `json:"flow"`
	Lost int    `json:"lost"`
	demoFlowDrop
}

// benignLosses explains every benign frame that did not arrive: a DROP verdict on its
// flow (label, probability, rule), a source verdict on either end, an answer the
// faithful replay did not send because its request was lost, or none of these (a
// signature, a full ring, or lost in the wire). It also lists the benign flows flow
// verdicts dropped, most frames lost first.
func benignLosses(frames []wire.Sent, rcv *wire.Received, d *demoDrops) (map[string]int, []demoLostFlow) {
	d.mu.Lock()
	defer d.mu.Unlock()
	left := maps.Clone(rcv.Count)
	why := map[string]int{}
	perFlow := map[xdp.Key]int{}
	for _, s := range frames {
		if left[s.ID] > 0 && !s.Suppressed {
			left[s.ID]--
			continue
		}
		if s.Label != "BENIGN" {
			continue
		}
		lo, hi := s.FlowKey.Lo().Addr(), s.FlowKey.Hi().Addr()
		switch fd, ok := d.flows[s.FlowKey]; {
		case s.Suppressed:
			why["answer not sent: request lost"]++
		case ok:
			why[fmt.Sprintf("flow DROP %s (rule %s)", fd.Label, fd.Rule)]++
			perFlow[s.FlowKey]++
		case d.sources[lo] != "" || d.sources[hi] != "":
			why["source verdict "+d.sources[lo]+d.sources[hi]]++
		default:
			why["unexplained: signature, ring overflow or wire"]++
		}
	}
	var lost []demoLostFlow
	for k, n := range perFlow {
		lost = append(lost, demoLostFlow{Flow: fmt.Sprintf("%v-%v/%d", k.Lo(), k.Hi(), k.Proto), Lost: n, demoFlowDrop: d.flows[k]})
	}
	sort.Slice(lost, func(i, j int) bool {
		if lost[i].Lost != lost[j].Lost {
			return lost[i].Lost > lost[j].Lost
		}
		return lost[i].Flow < lost[j].Flow
	})
	return why, lost[:min(len(lost), 10)]
}

// demoRings sums the AF_XDP receive losses of every worker socket: frames the kernel
// dropped because a receive ring was full, or for another reason.
func demoRings(p *pipeline.Pipeline) (full, dropped uint64) {
	for _, q := range p.Queues() {
		for _, s := range q.Sockets {
			st, err := s.Stats()
			if err != nil {
				continue
			}
			full += st.RxRingFull
			dropped += st.RxDropped
		}
	}
	return full, dropped
}

// sourceLeaks counts per label the inbound frames that arrived although they were
// sent more than 100 ms after the source verdict on their source was written
// (start is when the replay began): frames of flows whose PASS flow verdict, looked
// up before the source trie, outlives the source's block.
func sourceLeaks(frames []wire.Sent, rcv *wire.Received, d *demoDrops, start time.Time) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for _, s := range frames {
		at, ok := d.since[s.Src]
		if ok && s.ToSrv && rcv.Count[s.ID] > 0 && start.Add(s.At).After(at.Add(100*time.Millisecond)) {
			out[s.Label]++
		}
	}
	return out
}

// engineAddr is an address in engine/mitigate's layout (IPv4 in the first 4 bytes).
func engineAddr(a netip.Addr) (out [16]byte) {
	if a = a.Unmap(); a.Is4() {
		b := a.As4()
		copy(out[:], b[:])
		return out
	}
	return a.As16()
}
