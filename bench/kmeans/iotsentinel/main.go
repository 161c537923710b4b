// Command iotsentinel checks that k-means clusters follow device types on the IoT
// SENTINEL captures (../shared/data/aucad/iot-sentinel: one device setup per capture,
// 31 devices of 27 types). Each capture runs through the offline flow engine; the
// device's addresses are the source IPs of frames sent from its MAC address
// (_iotdevice-mac.txt). It then clusters (1) hosts: one row per capture, the device's
// flows aggregated with cluster.Hosts, and (2) flows started by the device, and prints
// purity and adjusted Rand index against the device type for several seeds.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

func main() {
	dir := flag.String("data", "../shared/data/aucad/iot-sentinel", "IoT SENTINEL directory")
	k := flag.Int("k", 27, "clusters (27 device types)")
	seeds := flag.Int("seeds", 5, "seeds to run (1..n)")
	tr := flag.String("transform", "log1p", "feature transform")
	ids := flag.Bool("identifiers", false, "also use destination port and protocol as flow features")
	flag.Parse()
	if err := run(*dir, *k, *seeds, cluster.Transform(*tr), *ids); err != nil {
		fmt.Fprintln(os.Stderr, "iotsentinel:", err)
		os.Exit(1)
	}
}

// deviceType maps a device directory to its type: EdimaxCam1 and EdimaxCam2 are one
// type (4 types have two devices), TP-LinkPlugHS100 and HS110 are two.
func deviceType(dirs []string) map[string]string {
	stems := map[string]int{}
	stem := func(d string) string { // one trailing digit: EdimaxCam2 → EdimaxCam, but HS110 stays
		if n := len(d); n > 1 && d[n-1] >= '1' && d[n-1] <= '9' && (d[n-2] < '0' || d[n-2] > '9') {
			return d[:n-1]
		}
		return d
	}
	for _, d := range dirs {
		if s := stem(d); s != d {
			stems[s]++
		}
	}
	out := map[string]string{}
	for _, d := range dirs {
		out[d] = d
		if s := stem(d); s != d && (stems[s] > 1 || contains(dirs, s)) {
			out[d] = s
		}
	}
	return out
}

func contains(v []string, s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

type capture struct {
	path, device, typ string
	flows             *features.Batch
	src, dst          []string
	dport             []uint16
	proto             []uint8
	first, last       []int64
	devIP             map[netip.Addr]bool
}

func readCapture(path string, mac net.HardwareAddr) (*capture, error) {
	c := &capture{path: path, flows: features.NewFlowBatch(0), devIP: map[netip.Addr]bool{}}
	sink := func(f *flow.Flow, why flow.Reason) {
		if why == flow.Early {
			return
		}
		c.flows.Grow(1)
		f.WriteRow(c.flows)
		s, _ := f.Src()
		d, dp := f.Dst()
		c.src, c.dst = append(c.src, s.String()), append(c.dst, d.String())
		c.dport, c.proto = append(c.dport, dp), append(c.proto, f.Proto())
		c.first, c.last = append(c.first, f.First()), append(c.last, f.Last())
	}
	t, err := flow.New(flow.Config{Seed: 1}, sink)
	if err != nil {
		return nil, err
	}
	o := flow.Offline{Table: t, OnFrame: func(f *source.Frame, p *packet.Packet, err error) {
		if err != nil || p.IPVersion == 0 || f.Link != packet.LinkEthernet || len(f.Data) < 12 {
			return
		}
		if bytes.Equal(f.Data[6:12], mac) {
			var a netip.Addr
			if p.IPVersion == 4 {
				a = netip.AddrFrom4([4]byte(p.SrcIP[:4]))
			} else {
				a = netip.AddrFrom16(p.SrcIP)
			}
			c.devIP[a] = true
		}
	}}
	if err := o.ReadFile(path); err != nil {
		return nil, err
	}
	t.Flush()
	return c, nil
}

func run(dir string, k, seeds int, tr cluster.Transform, ids bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var devices []string
	for _, e := range ents {
		if e.IsDir() {
			devices = append(devices, e.Name())
		}
	}
	sort.Strings(devices)
	types := deviceType(devices)
	var caps []*capture
	for _, dev := range devices {
		raw, err := os.ReadFile(filepath.Join(dir, dev, "_iotdevice-mac.txt"))
		if err != nil {
			return err
		}
		mac, err := net.ParseMAC(strings.TrimSpace(string(raw)))
		if err != nil {
			return fmt.Errorf("%s/_iotdevice-mac.txt: %w", dev, err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, dev, "*.pcap"))
		sort.Strings(files)
		for _, f := range files {
			c, err := readCapture(f, mac)
			if err != nil {
				return err
			}
			c.device, c.typ = dev, types[dev]
			caps = append(caps, c)
		}
	}
	// Flows started by the device, with host identity "device" per capture.
	all := features.NewFlowBatch(0)
	var meta cluster.FlowMeta
	var flowLabels []string
	row := make([]float32, features.NumFeatures)
	noDevice := 0
	for _, c := range caps {
		n := 0
		for i := 0; i < c.flows.Len; i++ {
			a, err := netip.ParseAddr(c.src[i])
			if err != nil || !c.devIP[a] {
				continue
			}
			all.Grow(1)
			all.AppendRow(c.flows.Row(i, row))
			meta.Group = append(meta.Group, c.path)
			meta.Src = append(meta.Src, "device")
			meta.Dst = append(meta.Dst, c.dst[i])
			meta.DstPort = append(meta.DstPort, c.dport[i])
			meta.Proto = append(meta.Proto, c.proto[i])
			meta.First = append(meta.First, c.first[i])
			meta.Last = append(meta.Last, c.last[i])
			flowLabels = append(flowLabels, c.typ)
			n++
		}
		if n == 0 {
			noDevice++
		}
	}
	hosts, err := cluster.Hosts(all, meta)
	if err != nil {
		return err
	}
	hostLabels := make([]string, hosts.X.Len)
	for h, flows := range hosts.Flows {
		hostLabels[h] = flowLabels[flows[0]]
	}
	typesSeen := map[string]bool{}
	for _, l := range hostLabels {
		typesSeen[l] = true
	}
	fmt.Printf("IoT SENTINEL: %d captures of %d devices (%d types); %d captures without device-started flows\n",
		len(caps), len(devices), len(typesSeen), noDevice)
	fmt.Printf("hosts: %d (one per capture: the device), %d features; flows started by devices: %d\n",
		hosts.X.Len, len(cluster.HostFeatures), all.Len)
	flowX := &features.Batch{Len: all.Len}
	for j, n := range all.Names {
		if ids || features.Definitions[j].Unit != "" {
			flowX.Names = append(flowX.Names, n)
			flowX.Cols = append(flowX.Cols, all.Cols[j])
		}
	}
	fmt.Printf("%-6s %4s %5s %8s %8s %8s\n", "rows", "k", "seed", "purity", "ARI", "silh.")
	for _, set := range []struct {
		name   string
		x      *features.Batch
		labels []string
	}{{"hosts", hosts.X, hostLabels}, {"flows", flowX, flowLabels}} {
		var sp, sa float64
		for seed := 1; seed <= seeds; seed++ {
			m, err := cluster.Fit(set.x, cluster.Config{K: k, Seed: uint64(seed), Transform: tr})
			if err != nil {
				return err
			}
			lab := make([]int32, set.x.Len)
			if err := m.Predict(set.x, lab, nil); err != nil {
				return err
			}
			p, a := cluster.Purity(lab, set.labels), cluster.AdjustedRand(lab, set.labels)
			sil, _ := m.Silhouette(set.x, 2000, uint64(seed))
			sp, sa = sp+p, sa+a
			fmt.Printf("%-6s %4d %5d %8.3f %8.3f %8.3f\n", set.name, k, seed, p, a, sil)
		}
		fmt.Printf("%-6s mean over %d seeds: purity %.3f, adjusted Rand index %.3f\n", set.name, seeds, sp/float64(seeds), sa/float64(seeds))
		// Chance level: the same number of clusters with rows assigned at random.
		rng := rand.New(rand.NewPCG(1, 2))
		lab := make([]int32, set.x.Len)
		for i := range lab {
			lab[i] = int32(rng.IntN(k))
		}
		fmt.Printf("%-6s chance (random assignment to %d clusters): purity %.3f, adjusted Rand index %.3f\n",
			set.name, k, cluster.Purity(lab, set.labels), cluster.AdjustedRand(lab, set.labels))
	}
	return nil
}
