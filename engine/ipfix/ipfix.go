// Package ipfix encodes flow records as IPFIX messages (RFC 7011) with standard
// Information Elements (RFC 7012, IANA registry) for the flow's identity, times and
// counters, RFC 5103 reverse elements for the backward direction, and enterprise
// elements for what flowsieve adds: every CICFlowMeter feature, the model's label
// and probability, the k-means anomaly score and the policy's action.
//
// Encoding is pure: an Encoder appends records to a message buffer and hands each
// complete message to a callback (a UDP socket, a file); it makes no syscalls and
// allocates nothing per record. Templates go out in the first message and, for
// transports that lose messages (UDP), again every RefreshInterval or
// RefreshMessages messages (RFC 7011 section 8.4). A Decoder reads the messages back.
//
// Enterprise elements use Private Enterprise Number 32473, the number IANA reserves
// for documentation and examples (RFC 5612): flowsieve has no number of its own, and
// a collector that does not know these elements skips them by their template length.
// Element numbers: 1 + the feature's index in the flow schema (engine/features) for
// the features (float32), and 1000 label (string), 1001 probability (float32), 1002
// anomaly score (float32), 1003 action (unsigned8: 0 PASS, 1 DROP, 2 TAG, 3 ALERT),
// 1004 flags (unsigned8: bit 0 classified, bit 1 anomalous, bit 2 decided early).
package ipfix

import (
	"errors"
	"net/netip"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// EnterpriseNumber is the Private Enterprise Number of flowsieve's elements (RFC 5612's
// documentation number; see the package doc).
const EnterpriseNumber = 32473

// ReversePEN is the enterprise number RFC 5103 gives reverse-direction elements.
const ReversePEN = 29305

// Template IDs of the two record layouts.
const (
	TemplateIPv4 = 256
	TemplateIPv6 = 257
)

// Enterprise element numbers (besides 1 + feature index for the features).
const (
	ElemLabel       = 1000
	ElemProbability = 1001
	ElemScore       = 1002
	ElemAction      = 1003
	ElemFlags       = 1004
)

// Flag bits of ElemFlags.
const (
	FlagClassified = 1 << iota // the record carries a model verdict (label, probability, action)
	FlagAnomalous              // the anomaly score reached the cluster model's threshold
	FlagEarly                  // the verdict was taken at the flow's early decision point
)

// flowEndReason values (IANA, IE 136).
const (
	EndIdle     = 1 // idle timeout
	EndActive   = 2 // active timeout
	EndDetected = 3 // end of flow detected (TCP FIN or RST)
	EndForced   = 4 // forced end (end of input, shutdown)
	EndResource = 5 // lack of resources (evicted from a full table)
)

// MaxLabel is the longest label a record carries; longer ones are cut.
const MaxLabel = 254

// Record is one finished flow as exported. Forward is the direction of the flow's
// first packet: Src is its source.
type Record struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	Start, End       int64 // first and last packet times, Unix ns
	// Packets and wire bytes (frames with their link header) per direction.
	FwdPackets, BwdPackets uint64
	FwdBytes, BwdBytes     uint64
	EndReason              uint8 // an End* value (0: unknown)
	Features               [features.NumFeatures]float32

	// The verdict, when Flags has FlagClassified.
	Label  string
	Prob   float32
	Score  float32
	Action policy.Action
	Flags  uint8
}

// Sentinel errors.
var (
	// ErrConfig reports an invalid encoder configuration.
	ErrConfig = errors.New("ipfix: invalid configuration")
	// ErrRecord reports a record that cannot be encoded (an invalid or mixed address family).
	ErrRecord = errors.New("ipfix: record cannot be encoded")
	// ErrMessage reports a malformed message given to the Decoder.
	ErrMessage = errors.New("ipfix: malformed message")
)

// field is one Information Element of a template: its number, enterprise (0 for
// IANA's) and encoded length (varLen for variable length).
type field struct {
	id     uint16
	pen    uint32
	length uint16
}

const varLen = 0xffff

// Standard element numbers used by the templates (IANA).
const (
	ieOctetDeltaCount       = 1
	iePacketDeltaCount      = 2
	ieProtocolIdentifier    = 4
	ieSourceTransportPort   = 7
	ieSourceIPv4Address     = 8
	ieDestTransportPort     = 11
	ieDestIPv4Address       = 12
	ieSourceIPv6Address     = 27
	ieDestIPv6Address       = 28
	ieFlowEndReason         = 136
	ieFlowStartMilliseconds = 152
	ieFlowEndMilliseconds   = 153
)

// templateFields returns the fields of the IPv4 or IPv6 template, in record order.
func templateFields(v6 bool) []field {
	addrID, addrLen := uint16(ieSourceIPv4Address), uint16(4)
	dstID := uint16(ieDestIPv4Address)
	if v6 {
		addrID, dstID, addrLen = ieSourceIPv6Address, ieDestIPv6Address, 16
	}
	fs := []field{
		{id: addrID, length: addrLen},
		{id: dstID, length: addrLen},
		{id: ieSourceTransportPort, length: 2},
		{id: ieDestTransportPort, length: 2},
		{id: ieProtocolIdentifier, length: 1},
		{id: ieFlowStartMilliseconds, length: 8},
		{id: ieFlowEndMilliseconds, length: 8},
		{id: iePacketDeltaCount, length: 8},
		{id: ieOctetDeltaCount, length: 8},
		{id: iePacketDeltaCount, pen: ReversePEN, length: 8},
		{id: ieOctetDeltaCount, pen: ReversePEN, length: 8},
		{id: ieFlowEndReason, length: 1},
	}
	for j := range features.NumFeatures {
		fs = append(fs, field{id: uint16(1 + j), pen: EnterpriseNumber, length: 4})
	}
	return append(fs,
		field{id: ElemProbability, pen: EnterpriseNumber, length: 4},
		field{id: ElemScore, pen: EnterpriseNumber, length: 4},
		field{id: ElemAction, pen: EnterpriseNumber, length: 1},
		field{id: ElemFlags, pen: EnterpriseNumber, length: 1},
		field{id: ElemLabel, pen: EnterpriseNumber, length: varLen},
	)
}

// fixedLen is the encoded length of a template's fixed-length fields.
func fixedLen(fs []field) int {
	n := 0
	for _, f := range fs {
		if f.length != varLen {
			n += int(f.length)
		}
	}
	return n
}
