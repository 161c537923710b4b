package pipeline

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/xdp/craft"
)

// dscpFrame builds an Ethernet frame with the given VLAN tags (TPIDs) and an IPv4
// header of ihl words (valid checksum) or an IPv6 header, with traffic class tos and
// random other header bytes, plus a payload.
func dscpFrame(rng *rand.Rand, vlans []uint16, v6 bool, ihl int, tos uint8) ([]byte, int) {
	f := make([]byte, 12, 128) // MAC addresses
	for i := range f {
		f[i] = byte(rng.Uint32())
	}
	for _, tpid := range vlans {
		f = binary.BigEndian.AppendUint16(f, tpid)
		f = binary.BigEndian.AppendUint16(f, uint16(rng.IntN(4096)))
	}
	l3 := len(f) + 2
	if !v6 {
		f = binary.BigEndian.AppendUint16(f, etherIPv4)
		h := make([]byte, ihl*4)
		for i := range h {
			h[i] = byte(rng.Uint32())
		}
		h[0], h[1] = 0x40|byte(ihl), tos
		binary.BigEndian.PutUint16(h[10:], craft.IPv4Checksum(h))
		f = append(f, h...)
	} else {
		f = binary.BigEndian.AppendUint16(f, etherIPv6)
		h := make([]byte, 40)
		for i := range h {
			h[i] = byte(rng.Uint32())
		}
		h[0] = 0x60 | tos>>4
		h[1] = tos<<4 | h[1]&0x0f
		f = append(f, h...)
	}
	return append(f, 1, 2, 3, 4, 5, 6, 7, 8), l3
}

// TestSetDSCP rewrites every DSCP over every starting TOS byte on IPv4 (with and
// without options), IPv6, and both behind 802.1Q and QinQ tags: the DSCP bits are
// the new value, ECN and every other byte are kept, and the IPv4 checksum equals
// the one recomputed from scratch.
func TestSetDSCP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		vlans []uint16
		v6    bool
		ihl   int
	}{
		{"ipv4", nil, false, 5},
		{"ipv4 options", nil, false, 8},
		{"ipv4 max options", nil, false, 15},
		{"ipv4 vlan", []uint16{ether8021Q}, false, 5},
		{"ipv4 qinq options", []uint16{ether8021A, ether8021Q}, false, 6},
		{"ipv6", nil, true, 0},
		{"ipv6 vlan", []uint16{ether8021Q}, true, 0},
		{"ipv6 qinq", []uint16{ether8021A, ether8021Q}, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for tos := range 256 {
				for dscp := range uint8(64) {
					f, l3 := dscpFrame(rng, c.vlans, c.v6, c.ihl, uint8(tos))
					want := bytes.Clone(f)
					if !setDSCP(f, dscp) {
						t.Fatalf("tos %#x dscp %d: not rewritten", tos, dscp)
					}
					ip := f[l3:]
					var got uint8
					if c.v6 {
						got = (ip[0]&0x0f)<<4 | ip[1]>>4
						w := want[l3:]
						w[0] = w[0]&0xf0 | (dscp<<2|uint8(tos)&3)>>4
						w[1] = w[1]&0x0f | (dscp<<2|uint8(tos)&3)<<4
					} else {
						got = ip[1]
						want[l3+1] = dscp<<2 | uint8(tos)&3
						binary.BigEndian.PutUint16(want[l3+10:], craft.IPv4Checksum(want[l3:l3+c.ihl*4]))
						if sum := craft.IPv4Checksum(ip[:c.ihl*4]); binary.BigEndian.Uint16(ip[10:]) != sum {
							t.Fatalf("tos %#x dscp %d: checksum %#04x, recomputed %#04x", tos, dscp, binary.BigEndian.Uint16(ip[10:]), sum)
						}
					}
					if got != dscp<<2|uint8(tos)&3 {
						t.Fatalf("tos %#x dscp %d: traffic class %#x", tos, dscp, got)
					}
					if !bytes.Equal(f, want) {
						t.Fatalf("tos %#x dscp %d: frame\n%x\nwant\n%x", tos, dscp, f, want)
					}
				}
			}
		})
	}
}

// TestSetDSCPRejects leaves frames without a rewritable IP header untouched.
func TestSetDSCPRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	v4, _ := dscpFrame(rng, nil, false, 5, 0)
	v4opt, _ := dscpFrame(rng, nil, false, 8, 0)
	v6, _ := dscpFrame(rng, nil, true, 0, 0)
	tripleTag, _ := dscpFrame(rng, []uint16{ether8021A, ether8021Q, ether8021Q}, false, 5, 0)
	arp := bytes.Clone(v4)
	arp[12], arp[13] = 0x08, 0x06
	badVersion := bytes.Clone(v4)
	badVersion[14] = 0x65
	shortIHL := bytes.Clone(v4)
	shortIHL[14] = 0x44
	cases := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short ethernet", v4[:13]},
		{"arp", arp},
		{"ipv4 truncated", v4[:14+19]},
		{"ipv4 options truncated", v4opt[:14+24]},
		{"ipv4 version 6 in ipv4 type", badVersion},
		{"ipv4 ihl 4", shortIHL},
		{"ipv6 truncated", v6[:14+39]},
		{"vlan truncated", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0}},
		{"three tags", tripleTag},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := bytes.Clone(c.frame)
			if setDSCP(c.frame, 46) {
				t.Fatal("rewritten")
			}
			if !bytes.Equal(before, c.frame) {
				t.Fatalf("frame changed: %x", c.frame)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { setDSCP(v4, 10) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
