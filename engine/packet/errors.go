package packet

import "errors"

// Sentinel errors every decode error wraps, so callers can tell classes of damage
// apart with errors.Is without knowing the exact Reason.
var (
	// ErrTruncated: the frame ends before a header the decoder needs.
	ErrTruncated = errors.New("packet: truncated")
	// ErrMalformed: a header field contradicts the others (bad lengths, bad version).
	ErrMalformed = errors.New("packet: malformed")
	// ErrUnsupported: the link type is not one Decode understands.
	ErrUnsupported = errors.New("packet: unsupported")
)

// Reason says why a frame could not be decoded. It indexes Counters, so a stream of
// decode errors can be tallied without allocation.
type Reason uint8

// Reasons, one per way decoding can fail. ReasonNone marks a frame decoded without error.
const (
	ReasonNone             Reason = iota // decoded without error
	ReasonTruncatedLink                  // link header (SLL, SLL2, loopback, raw) cut short
	ReasonTruncatedEther                 // Ethernet header cut short
	ReasonTruncatedVLAN                  // 802.1Q/QinQ tag cut short
	ReasonUnsupportedLink                // link type Decode does not understand
	ReasonBadIPVersion                   // IP version nibble contradicts the link/EtherType
	ReasonTruncatedIPv4                  // IPv4 header (incl. options) cut short
	ReasonBadIPv4HeaderLen               // IPv4 IHL below 5
	ReasonBadIPv4TotalLen                // IPv4 total length below the header length
	ReasonTruncatedIPv6                  // IPv6 header or an extension header cut short
	ReasonBadIPv6Ext                     // IPv6 extension chain overruns the payload length or is misordered
	ReasonTruncatedTCP                   // TCP fixed header cut short
	ReasonBadTCPHeaderLen                // TCP data offset below 5 or beyond the IP payload
	ReasonTruncatedUDP                   // UDP header cut short
	ReasonTruncatedICMP                  // ICMP/ICMPv6 header cut short
	ReasonOther                          // an error not produced by this package (see ReasonOf)
	NumReasons                           // number of reasons; size of Counters
)

var reasonNames = [NumReasons]string{
	ReasonNone:             "none",
	ReasonTruncatedLink:    "truncated_link",
	ReasonTruncatedEther:   "truncated_ethernet",
	ReasonTruncatedVLAN:    "truncated_vlan",
	ReasonUnsupportedLink:  "unsupported_link",
	ReasonBadIPVersion:     "bad_ip_version",
	ReasonTruncatedIPv4:    "truncated_ipv4",
	ReasonBadIPv4HeaderLen: "bad_ipv4_header_len",
	ReasonBadIPv4TotalLen:  "bad_ipv4_total_len",
	ReasonTruncatedIPv6:    "truncated_ipv6",
	ReasonBadIPv6Ext:       "bad_ipv6_ext",
	ReasonTruncatedTCP:     "truncated_tcp",
	ReasonBadTCPHeaderLen:  "bad_tcp_header_len",
	ReasonTruncatedUDP:     "truncated_udp",
	ReasonTruncatedICMP:    "truncated_icmp",
	ReasonOther:            "other",
}

// String returns the reason's short snake_case name, e.g. "truncated_ipv4".
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "invalid_reason"
}

// DecodeError is the error type Decode returns. One value exists per Reason and is
// reused, so returning it never allocates. It unwraps to ErrTruncated, ErrMalformed
// or ErrUnsupported.
type DecodeError struct {
	reason Reason
	class  error
	msg    string
}

// Error returns a fixed message naming the layer and the damage.
func (e *DecodeError) Error() string { return e.msg }

// Unwrap returns the class sentinel (ErrTruncated, ErrMalformed or ErrUnsupported).
func (e *DecodeError) Unwrap() error { return e.class }

// Reason returns why decoding failed.
func (e *DecodeError) Reason() Reason { return e.reason }

// decodeErrors holds the preallocated error value for every reason except None and Other.
var decodeErrors = [NumReasons]*DecodeError{
	ReasonTruncatedLink:    {ReasonTruncatedLink, ErrTruncated, "packet: truncated link-layer header"},
	ReasonTruncatedEther:   {ReasonTruncatedEther, ErrTruncated, "packet: truncated Ethernet header"},
	ReasonTruncatedVLAN:    {ReasonTruncatedVLAN, ErrTruncated, "packet: truncated 802.1Q tag"},
	ReasonUnsupportedLink:  {ReasonUnsupportedLink, ErrUnsupported, "packet: unsupported link type"},
	ReasonBadIPVersion:     {ReasonBadIPVersion, ErrMalformed, "packet: IP version does not match the link layer"},
	ReasonTruncatedIPv4:    {ReasonTruncatedIPv4, ErrTruncated, "packet: truncated IPv4 header"},
	ReasonBadIPv4HeaderLen: {ReasonBadIPv4HeaderLen, ErrMalformed, "packet: IPv4 header length below 20 bytes"},
	ReasonBadIPv4TotalLen:  {ReasonBadIPv4TotalLen, ErrMalformed, "packet: IPv4 total length below the header length"},
	ReasonTruncatedIPv6:    {ReasonTruncatedIPv6, ErrTruncated, "packet: truncated IPv6 header or extension header"},
	ReasonBadIPv6Ext:       {ReasonBadIPv6Ext, ErrMalformed, "packet: IPv6 extension header chain overruns the payload or is misordered"},
	ReasonTruncatedTCP:     {ReasonTruncatedTCP, ErrTruncated, "packet: truncated TCP header"},
	ReasonBadTCPHeaderLen:  {ReasonBadTCPHeaderLen, ErrMalformed, "packet: TCP data offset below 20 bytes or beyond the IP payload"},
	ReasonTruncatedUDP:     {ReasonTruncatedUDP, ErrTruncated, "packet: truncated UDP header"},
	ReasonTruncatedICMP:    {ReasonTruncatedICMP, ErrTruncated, "packet: truncated ICMP header"},
}

// ReasonOf returns the Reason carried by err: ReasonNone for nil, the decode reason for
// an error from Decode (also when wrapped), and ReasonOther for any other error.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	if e, ok := err.(*DecodeError); ok {
		return e.reason
	}
	return wrappedReason(err)
}

// wrappedReason is ReasonOf's slow path, kept apart so ReasonOf inlines.
func wrappedReason(err error) Reason {
	var e *DecodeError
	if errors.As(err, &e) {
		return e.reason
	}
	return ReasonOther
}

// Counters tallies decode outcomes by Reason; index ReasonNone counts successes.
// It is a plain array so a worker can keep one per goroutine and sum them later.
type Counters [NumReasons]uint64

// Count adds one to the counter of err's Reason (ReasonNone when err is nil).
func (c *Counters) Count(err error) {
	c[ReasonOf(err)]++
}

// Errors returns the number of counted failures (everything except ReasonNone).
func (c *Counters) Errors() uint64 {
	var n uint64
	for r := ReasonNone + 1; r < NumReasons; r++ {
		n += c[r]
	}
	return n
}

// Add adds every counter of o to c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}
