package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// analyzeFlagTop names the flag of analyze's talker and port list length.
const analyzeFlagTop = "top"

func analyzeCommand() *cli.Command {
	return &cli.Command{
		Name:      "analyze",
		Usage:     "summarise captures: packets, bytes, flows, protocols, top talkers and ports, decode errors, and with --model the verdicts",
		ArgsUsage: "CAPTURE...",
		Description: Prose(`Reads pcap and pcapng captures (gzip-compressed or not) through the same decoder and flow
			table as the appliance and prints a summary: packets, wire bytes, flows and why they ended, the
			time span, traffic per IP protocol, the hosts that moved the most bytes, the busiest server ports
			(destination port of each flow's first packet) and the frames that could not be decoded, by reason.
			With --model (and --policy), every flow is also classified by the appliance's engine, at the model's
			decision point or at its end, and a verdicts section shows the classified flows per label and per
			action, early versus at flow end, the packets dropped after their flow's decision and the sources
			with the most flows dropped. --json prints the same as one JSON object.`),
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: flagJSON, EnvVars: []string{"FLOWSIEVE_ANALYZE_JSON"}, Usage: "Print the summary as JSON instead of text."},
			&cli.IntFlag{Name: analyzeFlagTop, Value: 10, Usage: "How many talkers and ports to list."},
		}, append(analyzeVerdictFlags(), tableFlags()...)...),
		Action: runAnalyze,
	}
}

// analyzeSummary is the result of analyze; its JSON form is the --json output.
type analyzeSummary struct {
	Captures        []string          `json:"captures"`
	Packets         uint64            `json:"packets"`
	WireBytes       uint64            `json:"wire_bytes"`
	Decoded         uint64            `json:"decoded"`
	NonIP           uint64            `json:"non_ip"`
	Fragments       uint64            `json:"non_first_fragments"`
	Flows           uint64            `json:"flows"`
	FlowsByEnd      map[string]uint64 `json:"flows_by_end"`
	First           time.Time         `json:"first"`
	Last            time.Time         `json:"last"`
	DurationSeconds float64           `json:"duration_seconds"`
	Protocols       []protoStat       `json:"protocols"`
	TopTalkers      []talkerStat      `json:"top_talkers"`
	TopPorts        []portStat        `json:"top_ports"`
	DecodeErrors    []reasonCount     `json:"decode_errors"`
	Verdicts        *verdictSummary   `json:"verdicts,omitempty"`
	Errors          []string          `json:"errors,omitempty"`
}

// protoStat is the traffic of one IP protocol.
type protoStat struct {
	Protocol  string `json:"protocol"`
	Number    uint8  `json:"number"`
	Packets   uint64 `json:"packets"`
	WireBytes uint64 `json:"wire_bytes"`
	Flows     uint64 `json:"flows"`
}

// talkerStat is the traffic of one host, over all its flows.
type talkerStat struct {
	Address       string `json:"address"`
	SentBytes     uint64 `json:"sent_bytes"`
	ReceivedBytes uint64 `json:"received_bytes"`
	Packets       uint64 `json:"packets"`
	FlowsStarted  uint64 `json:"flows_started"`
}

// portStat is the traffic to one server port (the destination port of flows' first packets).
type portStat struct {
	Protocol  string `json:"protocol"`
	Port      uint16 `json:"port"`
	Flows     uint64 `json:"flows"`
	Packets   uint64 `json:"packets"`
	WireBytes uint64 `json:"wire_bytes"`
}

// reasonCount is one decode failure reason and how often it happened.
type reasonCount struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

type portKey struct {
	proto uint8
	port  uint16
}

// protoName names common IP protocols; others are shown by number.
func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "TCP"
	case packet.ProtoUDP:
		return "UDP"
	case packet.ProtoICMP:
		return "ICMP"
	case packet.ProtoICMPv6:
		return "ICMPv6"
	case 2:
		return "IGMP"
	case 4:
		return "IPIP"
	case 41:
		return "IPv6-in-IPv4"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	case 89:
		return "OSPF"
	case 132:
		return "SCTP"
	}
	return fmt.Sprintf("proto-%d", p)
}

func runAnalyze(c *cli.Context) error {
	paths, err := lateFlags(c)
	if err != nil {
		return cli.Exit("analyze: "+err.Error(), 2)
	}
	if len(paths) == 0 {
		return cli.Exit("analyze: no capture given; usage: flowsieve analyze CAPTURE... [--json]", 2)
	}
	if err := checkCaptures(paths); err != nil {
		return cli.Exit("analyze: "+err.Error(), 2)
	}
	top := c.Int(analyzeFlagTop)
	if top < 0 {
		return cli.Exit(fmt.Sprintf("analyze: --%s must be 0 or more, got %d", analyzeFlagTop, top), 2)
	}
	cfg, err := tableConfig(c)
	if err != nil {
		return cli.Exit("analyze: "+err.Error(), 2)
	}

	var protoPkts, protoBytes, protoFlows [256]uint64
	talkers := map[netip.Addr]*talkerStat{}
	ports := map[portKey]*portStat{}
	talker := func(a netip.Addr) *talkerStat {
		t := talkers[a]
		if t == nil {
			t = &talkerStat{Address: a.String()}
			talkers[a] = t
		}
		return t
	}
	sink := func(f *flow.Flow, why flow.Reason) {
		if why == flow.Early {
			return
		}
		src, _ := f.Src()
		dst, dport := f.Dst()
		pkts := f.FwdPackets() + f.BwdPackets()
		s, d := talker(src), talker(dst)
		s.SentBytes += f.FwdWireBytes
		s.ReceivedBytes += f.BwdWireBytes
		s.Packets += pkts
		s.FlowsStarted++
		d.SentBytes += f.BwdWireBytes
		d.ReceivedBytes += f.FwdWireBytes
		d.Packets += pkts
		protoFlows[f.Proto()]++
		if f.Proto() == packet.ProtoTCP || f.Proto() == packet.ProtoUDP {
			k := portKey{f.Proto(), dport}
			p := ports[k]
			if p == nil {
				p = &portStat{Protocol: protoName(k.proto), Port: dport}
				ports[k] = p
			}
			p.Flows++
			p.Packets += pkts
			p.WireBytes += f.FwdWireBytes + f.BwdWireBytes
		}
	}
	t, err := flow.New(cfg, sink)
	if err != nil {
		return cli.Exit("analyze: "+err.Error(), 2)
	}
	verdicts, err := newVerdictCollector(c, cfg)
	if err != nil {
		return cli.Exit("analyze: "+err.Error(), 2)
	}
	o := &flow.Offline{Table: t, OnFrame: func(f *source.Frame, p *packet.Packet, err error) {
		if err == nil && p.IPVersion != 0 {
			protoPkts[p.Proto]++
			protoBytes[p.Proto] += uint64(f.WireLen)
		}
		if verdicts != nil {
			verdicts.frame(f)
		}
	}}
	readErr := readCaptures(c, paths, o)
	t.Flush()

	st := t.Stats()
	sum := analyzeSummary{
		Captures:   paths,
		Packets:    o.Frames,
		WireBytes:  o.WireBytes,
		Decoded:    o.Decode[packet.ReasonNone],
		NonIP:      st.NonIP,
		Fragments:  st.Fragments,
		Flows:      st.Flows,
		FlowsByEnd: map[string]uint64{},
	}
	if o.Frames > 0 {
		sum.First, sum.Last = time.Unix(0, o.First).UTC(), time.Unix(0, o.Last).UTC()
		sum.DurationSeconds = float64(o.Last-o.First) / 1e9
	}
	for r := flow.EndIdle; r < flow.NumReasons; r++ {
		if n := st.Sunk[r]; n > 0 {
			sum.FlowsByEnd[r.String()] = n
		}
	}
	for p := range protoPkts {
		if protoPkts[p] > 0 || protoFlows[p] > 0 {
			sum.Protocols = append(sum.Protocols, protoStat{protoName(uint8(p)), uint8(p), protoPkts[p], protoBytes[p], protoFlows[p]})
		}
	}
	slices.SortFunc(sum.Protocols, func(a, b protoStat) int { return cmp.Compare(b.Packets, a.Packets) })
	for _, v := range talkers {
		sum.TopTalkers = append(sum.TopTalkers, *v)
	}
	slices.SortFunc(sum.TopTalkers, func(a, b talkerStat) int {
		return cmp.Or(cmp.Compare(b.SentBytes+b.ReceivedBytes, a.SentBytes+a.ReceivedBytes), cmp.Compare(a.Address, b.Address))
	})
	sum.TopTalkers = sum.TopTalkers[:min(top, len(sum.TopTalkers))]
	for _, v := range ports {
		sum.TopPorts = append(sum.TopPorts, *v)
	}
	slices.SortFunc(sum.TopPorts, func(a, b portStat) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(b.WireBytes, a.WireBytes), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
	})
	sum.TopPorts = sum.TopPorts[:min(top, len(sum.TopPorts))]
	for r := packet.ReasonNone + 1; r < packet.NumReasons; r++ {
		if n := o.Decode[r]; n > 0 {
			sum.DecodeErrors = append(sum.DecodeErrors, reasonCount{r.String(), n})
		}
	}
	if verdicts != nil {
		sum.Verdicts = verdicts.finish(top)
	}
	if readErr != nil {
		sum.Errors = append(sum.Errors, readErr.Error())
	}

	if c.Bool(flagJSON) {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		err = enc.Encode(sum)
	} else {
		err = writeAnalyze(c.App.Writer, &sum)
	}
	if err != nil {
		return cli.Exit("analyze: writing the summary: "+err.Error(), 1)
	}
	if readErr != nil {
		return cli.Exit(fmt.Sprintf("analyze: %v (the summary covers the packets read before the error)", readErr), 1)
	}
	return nil
}

// writeAnalyze prints the summary as text.
func writeAnalyze(w io.Writer, s *analyzeSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "captures\t%d\n", len(s.Captures))
	fmt.Fprintf(tw, "packets\t%d (%d decoded, %d not IP, %d non-first fragments, %d undecodable)\n",
		s.Packets, s.Decoded, s.NonIP, s.Fragments, s.Packets-s.Decoded)
	fmt.Fprintf(tw, "wire bytes\t%d\n", s.WireBytes)
	if s.Packets > 0 {
		fmt.Fprintf(tw, "time\t%s .. %s (%.3f s)\n", s.First.Format(time.RFC3339Nano), s.Last.Format(time.RFC3339Nano), s.DurationSeconds)
	}
	fmt.Fprintf(tw, "flows\t%d", s.Flows)
	for r := flow.EndIdle; r < flow.NumReasons; r++ {
		if n := s.FlowsByEnd[r.String()]; n > 0 {
			fmt.Fprintf(tw, ", %d %s", n, r)
		}
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "\nprotocol\tpackets\twire bytes\tflows")
	for _, p := range s.Protocols {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", p.Protocol, p.Packets, p.WireBytes, p.Flows)
	}
	fmt.Fprintln(tw, "\ntop talkers\tsent bytes\treceived bytes\tpackets\tflows started")
	for _, t := range s.TopTalkers {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", t.Address, t.SentBytes, t.ReceivedBytes, t.Packets, t.FlowsStarted)
	}
	fmt.Fprintln(tw, "\ntop server ports\tflows\tpackets\twire bytes")
	for _, p := range s.TopPorts {
		fmt.Fprintf(tw, "%s/%d\t%d\t%d\t%d\n", p.Protocol, p.Port, p.Flows, p.Packets, p.WireBytes)
	}
	if len(s.DecodeErrors) > 0 {
		fmt.Fprintln(tw, "\ndecode errors\tframes")
		for _, r := range s.DecodeErrors {
			fmt.Fprintf(tw, "%s\t%d\n", r.Reason, r.Count)
		}
	}
	if s.Verdicts != nil {
		writeVerdicts(tw, s.Verdicts)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(tw, "\nerror\t%s\n", e)
	}
	return tw.Flush()
}
