package traffic

import (
	"fmt"
	"net/netip"
	"strings"
)

// Scenario describes one named scenario.
type Scenario struct {
	Name        string
	Description string
	Rate        float64 // default packets/s
	Label       Label   // label of its traffic (mixed: BENIGN background plus the attacks')
	build       func(g *Generator, c *Config) error
}

// Attack describes an attack usable alone (as a scenario) or in the mixed scenario.
type Attack struct {
	Name        string
	Label       Label
	Description string
	Rate        float64 // default packets/s
	kind        kind
	perFlow     float64 // mean packets per spawned flow (converts packets/s to flows/s)
	setup       func(g *Generator, c *class)
}

// Attacks lists the attacks.
var Attacks = []Attack{
	{"syn-flood", SYNFlood, "TCP SYN flood to the web server's port 80 from random spoofed sources (the spoofed range); the victim answers about half of the SYNs with a SYN-ACK (the rest are dropped by its backlog and SYN-ACK rate limit), so flows appear one- and two-way as in captures taken upstream or at the server.", 5000, kSYN, 1.5,
		func(g *Generator, c *class) { c.reply = true }},
	{"syn-flood-botnet", SYNFlood, "TCP SYN flood to random ports of the web server from a fixed botnet (--hosts bots, default 50, in the spoofed range); the victim answers about half with SYN-ACK (open port 80) or RST-ACK, and each bot's kernel resets a SYN-ACK.", 5000, kSYN, 2,
		func(g *Generator, c *class) { c.reply, c.bots = true, true; g.makeBots(c, 50) }},
	{"udp-flood", UDPFlood, "UDP flood of ~512-byte zero-filled datagrams to random ports of the web server from random spoofed sources, in short bursts per source port.", 5000, kUDPF, 2.5,
		func(g *Generator, c *class) { c.size = 512 }},
	{"ack-flood", ACKFlood, "TCP ACK flood to port 80 from random spoofed sources with random sequence numbers; the victim answers about half with a RST.", 5000, kACKF, 1.5,
		func(g *Generator, c *class) { c.reply = true }},
	{"dns-amp", DNSAmplification, "DNS amplification: ~4200-byte RRSIG/ANY answers from 200 open resolvers (source port 53) to random ports of the web server, IPv4 answers fragmented (3 fragments) as reflectors send them, IPv6 answers within the MTU.", 3000, kAmp, 15,
		func(g *Generator, c *class) { c.size = 4200; g.makeBots(c, 200) }},
	{"scan-syn", PortScan, "SYN port scan (nmap -sS) of ports 1–1024 of the web server in random order; open ports answer SYN-ACK and the scanner resets, closed ones RST-ACK.", 600, kScanTCP, 2,
		func(g *Generator, c *class) { c.flags = syn; g.makePorts(c) }},
	{"scan-fin", PortScan, "FIN scan (nmap -sF) of ports 1–1024; closed ports answer RST-ACK, open ports stay silent.", 600, kScanTCP, 2,
		func(g *Generator, c *class) { c.flags = fin; g.makePorts(c) }},
	{"scan-xmas", PortScan, "XMAS scan (nmap -sX: FIN, PSH, URG) of ports 1–1024.", 600, kScanTCP, 2,
		func(g *Generator, c *class) { c.flags = fin | psh | urg; g.makePorts(c) }},
	{"scan-null", PortScan, "NULL scan (nmap -sN: no flags) of ports 1–1024.", 600, kScanTCP, 2,
		func(g *Generator, c *class) { c.flags = 0; g.makePorts(c) }},
	{"scan-udp", PortScan, "UDP scan (nmap -sU) of ports 1–1024 with empty datagrams; closed ports answer ICMP port unreachable, rate-limited as Linux does (burst 6, then 1/s).", 200, kScanUDP, 1.1,
		func(g *Generator, c *class) { g.makePorts(c) }},
	{"scan-horizontal", PortScan, "Horizontal scan: SYN to port 22 of every host of the servers prefix; live hosts answer.", 200, kScanTCP, 1.1,
		func(g *Generator, c *class) {
			c.flags = syn
			c.ports = []uint16{22}
			c.targets = make([]byte, 254)
			for i, h := range g.rng.Perm(254) {
				c.targets[i] = byte(h + 1)
			}
		}},
	{"ssh-bruteforce", SSHPatator, "SSH password guessing (patator/hydra style): many short connections, full key exchange, 1–3 failed attempts each, closed by the server.", 60, kBrute, 32, nil},
	{"slowloris", Slowloris, "Slowloris: up to 500 connections to the web server (opened at --rate/4 per second) that send a partial request and then one header line every 10–15 s, never completing it.", 100, kSlow, 4, nil},
	{"http-flood", HTTPFlood, "HTTP GET flood (HULK style): one request with a random query per connection, full responses, client closes.", 3000, kHulk, 20, nil},
}

// benignMix is the benign background: kind, share of packets, mean packets per flow,
// and the default packets/s of the kind's own scenario (the kinds that predate the
// wider mix keep the rate they had, so their scenarios keep their output).
var benignMix = []struct {
	name    string
	kind    kind
	share   float64
	perFlow float64
	alone   float64
}{
	{"web", kWeb, 0.30, 60, 800},
	{"tls", kTLSDown, 0.15, 3000, 500},
	{"dns", kDNS, 0.05, 2, 160},
	{"ssh", kSSH, 0.03, 200, 100},
	{"ntp", kNTP, 0.01, 2, 40},
	{"icmp", kPing, 0.01, 10, 40},
	{"bulk", kBulk, 0.10, 0, 360},
	{"quic", kQUIC, 0.10, 250, 200},
	{"video", kVideo, 0.08, 1000, 160},
	{"voip", kVoIP, 0.05, 1000, 100},
	{"game", kGame, 0.04, 800, 80},
	{"smb", kSMB, 0.03, 200, 60},
	{"mail", kMail, 0.02, 40, 40},
	{"p2p", kP2P, 0.02, 400, 40},
	{"lan", kLAN, 0.005, 4, 10},
	{"dns-tcp", kDNSTCP, 0.005, 14, 10},
}

// DefaultMixedAttacks are the attacks of the mixed scenario when Config.Attacks is empty.
var DefaultMixedAttacks = []string{"syn-flood", "udp-flood", "dns-amp", "scan-syn", "ssh-bruteforce", "slowloris", "http-flood"}

const defaultBenignRate = 2000

// Scenarios returns every scenario, in the order --list shows them.
func Scenarios() []Scenario {
	var out []Scenario
	for _, b := range benignMix {
		name := b.name
		alone := b.alone
		out = append(out, Scenario{Name: name, Label: Benign, Rate: alone,
			Description: benignDesc[name],
			build: func(g *Generator, c *Config) error {
				return g.addBenign(c, name, rateOr(c.Rate, alone), g.start, g.end)
			}})
	}
	out = append(out, Scenario{Name: "benign", Label: Benign, Rate: defaultBenignRate,
		Description: "All benign kinds together (" + mixShares() + " of packets).",
		build: func(g *Generator, c *Config) error {
			return g.addBenignMix(c, rateOr(c.Rate, defaultBenignRate))
		}})
	for _, a := range Attacks {
		out = append(out, Scenario{Name: a.Name, Label: a.Label, Rate: a.Rate, Description: a.Description + " Attack traffic only.",
			build: func(g *Generator, c *Config) error {
				return g.addAttack(c, a, 0, rateOr(c.Rate, a.Rate), g.start, g.end)
			}})
	}
	out = append(out, Scenario{Name: "mixed", Label: Benign, Rate: defaultBenignRate,
		Description: "Benign background (as 'benign') at --rate with the --attacks (default " + strings.Join(DefaultMixedAttacks, ",") +
			") active from 10% to 90% of the duration; floods at a fifth of their default rate, the rest at their default rate, all scaled by --rate/2000.",
		build: func(g *Generator, c *Config) error {
			rate := rateOr(c.Rate, defaultBenignRate)
			if err := g.addBenignMix(c, rate); err != nil {
				return err
			}
			names := c.Attacks
			if len(names) == 0 {
				names = DefaultMixedAttacks
			}
			d := g.end - g.start
			for i, n := range names {
				a, ok := attackByName(n)
				if !ok {
					return fmt.Errorf("%w: unknown attack %q (want one of %s)", ErrConfig, n, strings.Join(AttackNames(), ", "))
				}
				ar := a.Rate * rate / defaultBenignRate
				switch a.kind {
				case kSYN, kUDPF, kACKF, kAmp:
					ar /= 5
				}
				if err := g.addAttack(c, a, i, ar, g.start+d/10, g.start+d*9/10); err != nil {
					return err
				}
			}
			return nil
		}})
	return out
}

var benignDesc = map[string]string{
	"web":  "HTTP/1.1 and HTTPS (70%) keep-alive sessions: TLS 1.3 handshake, 1–60 requests (lognormal ~480 B), responses lognormal (median 3 KB, heavy tail), think times exponential (resources) or Pareto (reading), closed by FIN (either side) or RST.",
	"tls":  "TLS downloads: handshake, one request, a lognormal response (median 1.5 MB) paced by slow start and a lognormal bottleneck (median 30 Mbit/s).",
	"dns":  "DNS queries over UDP to the resolver and their answers (70% cached, sub-millisecond; 30% recursive, lognormal ~25 ms).",
	"ssh":  "Interactive SSH: key exchange, authentication, then keystrokes (36-byte packets, lognormal ~180 ms apart) echoed, with occasional command output.",
	"ntp":  "NTP client requests and server replies (48 bytes each).",
	"icmp": "Ping sessions: echo requests one second apart and their replies.",
	"bulk": "One long-lived bulk transfer (rsync port 873) running all capture long at the bulk share of --rate.",

	"quic":    "QUIC v1 (HTTP/3) on UDP 443: padded client Initial, the server's Initial and Handshake flight, the client's Handshake, then 1–40 rounds (Pareto) of a short-header request and a paced burst of 1252-byte datagrams (lognormal ~30 KB), the client acknowledging each of the first 100 and every second one after; closed by CONNECTION_CLOSE or by idling out.",
	"video":   "Adaptive video streaming (DASH/HLS) over HTTPS: TLS 1.3 handshake, then segment requests; the first four segments fill the buffer back to back, later ones come ~4 s apart, each a lognormal response around the session's bitrate (median 700 KB per segment).",
	"voip":    "RTP voice calls to a media gateway: both sides send every 20 ms (G.711 172-byte or Opus ~90-byte packets, valid RTP headers), calls lognormal ~60 s.",
	"game":    "Online game sessions on UDP 27015–27020: the client ticks at 20–64 Hz with ~64-byte inputs, the server at 10–30 Hz with ~220-byte snapshots, sessions lognormal ~2 min.",
	"smb":     "SMB2 file transfers on TCP 445 in a LAN (RTT ~2 ms): negotiate, session setup, tree connect, create, then 64 KiB reads (70%) or writes of a lognormal file (median 1.5 MB), close.",
	"mail":    "SMTP submission on TCP 25: greeting, EHLO, then 1–10 messages (envelope, DATA, a MIME message with a base64 body, lognormal ~20 KB), QUIT.",
	"p2p":     "BitTorrent between client hosts (ports 6881–6889 or 51413): handshakes, bitfield, interested/unchoke, then rounds of 16 block requests answered by 16 KiB piece messages; a fifth of the peers keep the client choked.",
	"lan":     "LAN name broadcasts of client hosts: mDNS service queries to 224.0.0.251/ff02::fb (spacing doubling from 1 s), SSDP M-SEARCH and NOTIFY to 239.255.255.250/ff02::c, NetBIOS name queries to the clients' broadcast address; 2–8 packets each.",
	"dns-tcp": "DNS over TCP to the resolver: 1–3 queries with their length prefix per connection, answers lognormal ~900 bytes (A and TXT records).",
}

// mixShares lists the benign kinds' shares of packets, as in the benign scenario.
func mixShares() string {
	var b strings.Builder
	for i, m := range benignMix {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %g%%", m.name, m.share*100)
	}
	return b.String()
}

func rateOr(r, def float64) float64 {
	if r > 0 {
		return r
	}
	return def
}

// ScenarioNames returns the scenario names.
func ScenarioNames() []string {
	var n []string
	for _, s := range Scenarios() {
		n = append(n, s.Name)
	}
	return n
}

// AttackNames returns the attack names.
func AttackNames() []string {
	var n []string
	for _, a := range Attacks {
		n = append(n, a.Name)
	}
	return n
}

func scenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

func attackByName(name string) (Attack, bool) {
	for _, a := range Attacks {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

// addBenignMix adds every benign kind at its share of rate packets/s.
func (g *Generator) addBenignMix(c *Config, rate float64) error {
	for _, b := range benignMix {
		if err := g.addBenign(c, b.name, rate*b.share, g.start, g.end); err != nil {
			return err
		}
	}
	return nil
}

// addBenign adds one benign kind producing about pps packets/s.
func (g *Generator) addBenign(c *Config, name string, pps float64, start, end int64) error {
	if g.cfg.Hosts == 0 {
		g.cfg.Hosts = 200
	}
	for _, b := range benignMix {
		if b.name != name {
			continue
		}
		cl := &class{name: name, kind: b.kind, label: Benign, startT: start, endT: end}
		if b.kind == kBulk {
			cl.rate = 1
			cl.gapNS = pps * 2 / 3 * 1514 / 1e9 // bytes per ns: 2/3 of the packets are full data segments
		} else {
			cl.rate = pps / b.perFlow
		}
		g.classes = append(g.classes, cl)
		return nil
	}
	return fmt.Errorf("%w: unknown benign kind %q", ErrConfig, name)
}

// addAttack adds attack instance inst at pps packets/s during [start, end).
func (g *Generator) addAttack(c *Config, a Attack, inst int, pps float64, start, end int64) error {
	cl := &class{name: a.Name, kind: a.kind, label: a.Label, inst: inst, startT: start, endT: end, rate: pps / a.perFlow}
	cl.victim[0] = g.addrs.server(hostWeb, false)
	cl.victim[1] = g.addrs.server(hostWeb, true)
	cl.v6 = g.pick6()
	switch a.kind {
	case kSYN, kUDPF, kACKF, kAmp:
		cl.block = g.addrs.spoofBlock(inst)
	default:
		h4, h6 := g.addrs.attacker(10+inst, false), g.addrs.attacker(10+inst, true)
		cl.block = [2]netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte(h4[:4])), 32), netip.PrefixFrom(netip.AddrFrom16(h6), 128)}
		cl.sport = uint16(g.between(33000, 65000))
	}
	if a.setup != nil {
		a.setup(g, cl)
	}
	if a.kind == kScanTCP || a.kind == kScanUDP {
		cl.gapNS = float64(s) / max(pps/a.perFlow, 1e-3)
	}
	g.classes = append(g.classes, cl)
	return nil
}

// makeBots draws a class's fixed source hosts (botnet or reflectors) in both families.
func (g *Generator) makeBots(c *class, def int) {
	n := def
	if g.cfg.Hosts > 0 && c.kind != kAmp {
		n = g.cfg.Hosts
	}
	n6 := int(float64(n)*g.cfg.IPv6Share + 0.5)
	for range n - n6 {
		c.hosts = append(c.hosts, g.randIn(c.block[0]))
	}
	for range n6 {
		c.hosts6 = append(c.hosts6, g.randIn(c.block[1]))
	}
}

// makePorts sets a scan over ports 1–1024 in random order.
func (g *Generator) makePorts(c *class) {
	c.ports = make([]uint16, 1024)
	for i, p := range g.rng.Perm(1024) {
		c.ports[i] = uint16(p + 1)
	}
}
