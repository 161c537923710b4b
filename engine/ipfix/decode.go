package ipfix

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// Decoder reads IPFIX messages: it learns templates from template sets and turns data
// records into Records, filling the elements it knows and skipping the others. It
// reads any exporter's messages whose templates it has seen, not only flowsieve's.
type Decoder struct {
	templates map[uint32]map[uint16][]field // by observation domain, then template ID
}

// NewDecoder returns a Decoder that knows no templates yet.
func NewDecoder() *Decoder { return &Decoder{templates: map[uint32]map[uint16][]field{}} }

// Decode appends the data records of one message to dst. Data sets whose template is
// unknown are skipped (a collector that missed the templates waits for a refresh);
// it fails with ErrMessage naming the offset of what is malformed.
func (d *Decoder) Decode(msg []byte, dst []Record) ([]Record, error) {
	if len(msg) < headerLen {
		return dst, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMessage, len(msg))
	}
	if v := binary.BigEndian.Uint16(msg); v != version {
		return dst, fmt.Errorf("%w: version %d, want %d", ErrMessage, v, version)
	}
	if n := int(binary.BigEndian.Uint16(msg[2:])); n != len(msg) {
		return dst, fmt.Errorf("%w: header length %d, message has %d bytes", ErrMessage, n, len(msg))
	}
	domain := binary.BigEndian.Uint32(msg[12:])
	if d.templates[domain] == nil {
		d.templates[domain] = map[uint16][]field{}
	}
	tpls := d.templates[domain]
	for off := headerLen; off < len(msg); {
		if len(msg)-off < setHeaderLen {
			return dst, fmt.Errorf("%w: set header cut at offset %d", ErrMessage, off)
		}
		id, n := binary.BigEndian.Uint16(msg[off:]), int(binary.BigEndian.Uint16(msg[off+2:]))
		if n < setHeaderLen || off+n > len(msg) {
			return dst, fmt.Errorf("%w: set at offset %d has length %d", ErrMessage, off, n)
		}
		body := msg[off+setHeaderLen : off+n]
		var err error
		switch {
		case id == setTemplate:
			err = readTemplates(body, tpls)
		case id >= 256:
			if fs, ok := tpls[id]; ok {
				dst, err = readData(body, fs, dst)
			}
		}
		if err != nil {
			return dst, fmt.Errorf("set %d at offset %d: %w", id, off, err)
		}
		off += n
	}
	return dst, nil
}

// readTemplates learns the templates of a template set's body.
func readTemplates(b []byte, tpls map[uint16][]field) error {
	for len(b) >= 4 {
		id, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		fs := make([]field, 0, count)
		for range count {
			if len(b) < 4 {
				return fmt.Errorf("%w: template %d cut", ErrMessage, id)
			}
			f := field{id: binary.BigEndian.Uint16(b), length: binary.BigEndian.Uint16(b[2:])}
			b = b[4:]
			if f.id&0x8000 != 0 {
				if len(b) < 4 {
					return fmt.Errorf("%w: template %d cut", ErrMessage, id)
				}
				f.id &^= 0x8000
				f.pen = binary.BigEndian.Uint32(b)
				b = b[4:]
			}
			fs = append(fs, f)
		}
		tpls[id] = fs
	}
	return nil
}

// readData appends the records of a data set's body (padding at its end is ignored).
func readData(b []byte, fs []field, dst []Record) ([]Record, error) {
	min := fixedLen(fs)
	if min == 0 && !slices.ContainsFunc(fs, func(f field) bool { return f.length == varLen }) {
		return dst, fmt.Errorf("%w: template of empty records", ErrMessage)
	}
	for len(b) >= max(min, 1) {
		var r Record
		for _, f := range fs {
			n := int(f.length)
			if f.length == varLen {
				if len(b) < 1 {
					return dst, fmt.Errorf("%w: record cut", ErrMessage)
				}
				n, b = int(b[0]), b[1:]
				if n == 255 {
					if len(b) < 2 {
						return dst, fmt.Errorf("%w: record cut", ErrMessage)
					}
					n, b = int(binary.BigEndian.Uint16(b)), b[2:]
				}
			}
			if len(b) < n {
				return dst, fmt.Errorf("%w: record cut", ErrMessage)
			}
			r.set(f, b[:n])
			b = b[n:]
		}
		dst = append(dst, r)
	}
	return dst, nil
}

// set stores one element's value in r.
func (r *Record) set(f field, v []byte) {
	switch f.pen {
	case 0:
		r.setStandard(f.id, v)
	case ReversePEN:
		switch f.id {
		case iePacketDeltaCount:
			r.BwdPackets = uintOf(v)
		case ieOctetDeltaCount:
			r.BwdBytes = uintOf(v)
		}
	case EnterpriseNumber:
		r.setEnterprise(f.id, v)
	}
}

func (r *Record) setStandard(id uint16, v []byte) {
	switch id {
	case ieSourceIPv4Address, ieSourceIPv6Address:
		r.Src, _ = netip.AddrFromSlice(v)
	case ieDestIPv4Address, ieDestIPv6Address:
		r.Dst, _ = netip.AddrFromSlice(v)
	case ieSourceTransportPort:
		r.SrcPort = uint16(uintOf(v))
	case ieDestTransportPort:
		r.DstPort = uint16(uintOf(v))
	case ieProtocolIdentifier:
		r.Proto = uint8(uintOf(v))
	case ieFlowStartMilliseconds:
		r.Start = int64(uintOf(v)) * 1e6
	case ieFlowEndMilliseconds:
		r.End = int64(uintOf(v)) * 1e6
	case iePacketDeltaCount:
		r.FwdPackets = uintOf(v)
	case ieOctetDeltaCount:
		r.FwdBytes = uintOf(v)
	case ieFlowEndReason:
		r.EndReason = uint8(uintOf(v))
	}
}

func (r *Record) setEnterprise(id uint16, v []byte) {
	switch {
	case id >= 1 && int(id) <= features.NumFeatures:
		r.Features[id-1] = floatOf(v)
	case id == ElemLabel:
		r.Label = string(v)
	case id == ElemProbability:
		r.Prob = floatOf(v)
	case id == ElemScore:
		r.Score = floatOf(v)
	case id == ElemAction:
		r.Action = policy.Action(uintOf(v))
	case id == ElemFlags:
		r.Flags = uint8(uintOf(v))
	}
}

// uintOf reads a big-endian unsigned integer of 1 to 8 bytes (reduced-size encoding).
func uintOf(v []byte) uint64 {
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x
}

func floatOf(v []byte) float32 {
	switch len(v) {
	case 4:
		return math.Float32frombits(binary.BigEndian.Uint32(v))
	case 8:
		return float32(math.Float64frombits(binary.BigEndian.Uint64(v)))
	}
	return 0
}
