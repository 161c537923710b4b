package alerts

import (
	"math"
	"strconv"
	"time"
)

// timeLayout is Suricata's EVE timestamp: local time, microseconds, numeric zone.
const timeLayout = "2006-01-02T15:04:05.000000-0700"

// protoNames names the protocols EVE spells out; others are written as numbers.
var protoNames = map[uint8]string{1: "ICMP", 6: "TCP", 17: "UDP", 58: "IPv6-ICMP", 132: "SCTP"}

// FlowID returns the event's flow_id: a hash of the 5-tuple and the flow's start
// (the same for every event of a flow), kept under 2^53 so JSON readers keep it exact.
func FlowID(e *Event) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h ^= v & 0xff
			h *= 1099511628211
			v >>= 8
		}
	}
	s, d := e.Src.As16(), e.Dst.As16()
	for i := 0; i < 16; i += 8 {
		mix(uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56)
		mix(uint64(d[i]) | uint64(d[i+1])<<8 | uint64(d[i+2])<<16 | uint64(d[i+3])<<24 |
			uint64(d[i+4])<<32 | uint64(d[i+5])<<40 | uint64(d[i+6])<<48 | uint64(d[i+7])<<56)
	}
	mix(uint64(e.SrcPort)<<24 | uint64(e.DstPort)<<8 | uint64(e.Proto))
	mix(uint64(e.Start))
	return h & (1<<53 - 1)
}

// AppendJSON appends e as one EVE JSON object (no newline) to b.
func AppendJSON(b []byte, e *Event) []byte {
	b = append(b, `{"timestamp":"`...)
	b = time.Unix(0, e.Time).AppendFormat(b, timeLayout)
	b = append(b, `","flow_id":`...)
	b = strconv.AppendUint(b, FlowID(e), 10)
	b = append(b, `,"event_type":"`...)
	b = append(b, e.Type.String()...)
	b = append(b, `","src_ip":"`...)
	b = e.Src.Unmap().AppendTo(b)
	b = append(b, `","src_port":`...)
	b = strconv.AppendUint(b, uint64(e.SrcPort), 10)
	b = append(b, `,"dest_ip":"`...)
	b = e.Dst.Unmap().AppendTo(b)
	b = append(b, `","dest_port":`...)
	b = strconv.AppendUint(b, uint64(e.DstPort), 10)
	b = append(b, `,"proto":`...)
	if name, ok := protoNames[e.Proto]; ok {
		b = appendString(b, name)
	} else {
		b = append(b, '"')
		b = strconv.AppendUint(b, uint64(e.Proto), 10)
		b = append(b, '"')
	}
	if e.Type != TypeFlow {
		b = append(b, `,"alert":{"action":"`...)
		if e.Blocked {
			b = append(b, "blocked"...)
		} else {
			b = append(b, "allowed"...)
		}
		b = append(b, `","gid":1,"signature_id":0,"rev":0,"signature":`...)
		if e.Signature != "" {
			b = appendString(b, e.Signature)
		} else {
			b = append(b, `"flowsieve `...)
			b = append(b, e.Action...)
			b = append(b, ' ')
			b = appendEscaped(b, e.Label)
			b = append(b, '"')
		}
		b = append(b, `,"category":`...)
		b = appendString(b, e.Category)
		b = append(b, `,"severity":`...)
		b = strconv.AppendUint(b, uint64(e.Severity), 10)
		b = append(b, '}')
	}
	b = append(b, `,"flow":{"pkts_toserver":`...)
	b = strconv.AppendUint(b, e.PktsToServer, 10)
	b = append(b, `,"pkts_toclient":`...)
	b = strconv.AppendUint(b, e.PktsToClient, 10)
	b = append(b, `,"bytes_toserver":`...)
	b = strconv.AppendUint(b, e.BytesToServer, 10)
	b = append(b, `,"bytes_toclient":`...)
	b = strconv.AppendUint(b, e.BytesToClient, 10)
	b = append(b, `,"start":"`...)
	b = time.Unix(0, e.Start).AppendFormat(b, timeLayout)
	b = append(b, '"')
	if e.End != "" {
		b = append(b, `,"state":"closed","reason":`...)
		b = appendString(b, e.End)
	}
	b = append(b, `},"flowsieve":{"label":`...)
	b = appendString(b, e.Label)
	b = append(b, `,"probability":`...)
	b = appendFloat(b, e.Probability)
	b = append(b, `,"anomaly_score":`...)
	b = appendFloat(b, e.Score)
	b = append(b, `,"anomalous":`...)
	b = strconv.AppendBool(b, e.Anomalous)
	b = append(b, `,"action":`...)
	b = appendString(b, e.Action)
	b = append(b, `,"rule":`...)
	b = appendString(b, e.Rule)
	b = append(b, `,"early":`...)
	b = strconv.AppendBool(b, e.Early)
	return append(b, "}}"...)
}

// appendFloat appends v, or null for NaN and infinities (not JSON numbers).
func appendFloat(b []byte, v float32) []byte {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, float64(v), 'g', -1, 32)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends s escaped for a JSON string, without quotes.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}
