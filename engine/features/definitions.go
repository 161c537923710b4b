package features

// Definition documents one feature: its unit and how it is computed.
type Definition struct {
	Unit string // "µs", "bytes", "packets", "1/s", "bytes/s", "count", "ratio", or "" for identifiers
	Text string // how the value is computed from the flow's packets
}

// Definitions is THE table documenting every feature of the schema, indexed like Names.
// The semantics follow CICFlowMeter as corrected by Engelen et al. (the CIC-IDS2017
// "improved" data set), checked value by value against ../shared/data/cicids2017-improved:
//
//   - "forward" is the direction of the flow's first packet, "backward" the other one;
//   - packet lengths are TRANSPORT PAYLOAD lengths (TCP/UDP/ICMP payload, from the IP
//     length fields, so snap-length truncation does not change them), not frame sizes;
//   - header lengths are transport header lengths (TCP with options, UDP 8, ICMP 8);
//   - times are microseconds, computed from nanosecond capture times;
//   - standard deviations and variances are sample statistics (divided by n-1), 0 for
//     fewer than two values; min/max/mean of an empty series are 0;
//   - rates divide by the flow duration in seconds and are 0 when the duration is 0
//     (CICFlowMeter writes Infinity/NaN there; models cannot use those);
//   - timestamps that go backwards within a flow are clamped to the flow's last time.
var Definitions = [NumFeatures]Definition{
	DstPort:            {"", "destination port of the first packet (0 for protocols without ports)"},
	Protocol:           {"", "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)"},
	FlowDuration:       {"µs", "last packet time minus first packet time"},
	TotalFwdPackets:    {"packets", "number of forward packets"},
	TotalBwdPackets:    {"packets", "number of backward packets"},
	TotalLenFwdPackets: {"bytes", "sum of forward payload lengths"},
	TotalLenBwdPackets: {"bytes", "sum of backward payload lengths"},
	FwdPktLenMax:       {"bytes", "largest forward payload length"},
	FwdPktLenMin:       {"bytes", "smallest forward payload length"},
	FwdPktLenMean:      {"bytes", "mean forward payload length"},
	FwdPktLenStd:       {"bytes", "sample standard deviation of forward payload lengths"},
	BwdPktLenMax:       {"bytes", "largest backward payload length (0 without backward packets)"},
	BwdPktLenMin:       {"bytes", "smallest backward payload length (0 without backward packets)"},
	BwdPktLenMean:      {"bytes", "mean backward payload length"},
	BwdPktLenStd:       {"bytes", "sample standard deviation of backward payload lengths"},
	FlowBytesPerSec:    {"bytes/s", "(forward + backward payload bytes) / duration"},
	FlowPacketsPerSec:  {"1/s", "(forward + backward packets) / duration"},
	FlowIATMean:        {"µs", "mean gap between consecutive packets of the flow (either direction)"},
	FlowIATStd:         {"µs", "sample standard deviation of the flow's packet gaps"},
	FlowIATMax:         {"µs", "largest packet gap"},
	FlowIATMin:         {"µs", "smallest packet gap"},
	FwdIATTotal:        {"µs", "sum of gaps between consecutive forward packets (last minus first forward time)"},
	FwdIATMean:         {"µs", "mean gap between consecutive forward packets"},
	FwdIATStd:          {"µs", "sample standard deviation of forward packet gaps"},
	FwdIATMax:          {"µs", "largest forward packet gap"},
	FwdIATMin:          {"µs", "smallest forward packet gap"},
	BwdIATTotal:        {"µs", "sum of gaps between consecutive backward packets"},
	BwdIATMean:         {"µs", "mean gap between consecutive backward packets"},
	BwdIATStd:          {"µs", "sample standard deviation of backward packet gaps"},
	BwdIATMax:          {"µs", "largest backward packet gap"},
	BwdIATMin:          {"µs", "smallest backward packet gap"},
	FwdPSHFlags:        {"count", "forward packets with PSH set"},
	BwdPSHFlags:        {"count", "backward packets with PSH set"},
	FwdURGFlags:        {"count", "forward packets with URG set"},
	BwdURGFlags:        {"count", "backward packets with URG set"},
	FwdHeaderLen:       {"bytes", "sum of forward transport header lengths (TCP incl. options, UDP 8, ICMP 8)"},
	BwdHeaderLen:       {"bytes", "sum of backward transport header lengths"},
	FwdPacketsPerSec:   {"1/s", "forward packets / duration"},
	BwdPacketsPerSec:   {"1/s", "backward packets / duration"},
	PktLenMin:          {"bytes", "smallest payload length in either direction"},
	PktLenMax:          {"bytes", "largest payload length in either direction"},
	PktLenMean:         {"bytes", "mean payload length over all packets"},
	PktLenStd:          {"bytes", "sample standard deviation of all payload lengths"},
	PktLenVariance:     {"bytes²", "sample variance of all payload lengths"},
	FINFlagCount:       {"count", "packets (both directions) with FIN set"},
	SYNFlagCount:       {"count", "packets with SYN set"},
	RSTFlagCount:       {"count", "packets with RST set"},
	PSHFlagCount:       {"count", "packets with PSH set"},
	ACKFlagCount:       {"count", "packets with ACK set"},
	URGFlagCount:       {"count", "packets with URG set"},
	CWRFlagCount:       {"count", "packets with CWR set"},
	ECEFlagCount:       {"count", "packets with ECE set"},
	DownUpRatio:        {"ratio", "backward packets / forward packets"},
	AvgPacketSize:      {"bytes", "(forward + backward payload bytes) / packets"},
	FwdSegSizeAvg:      {"bytes", "mean forward payload length (same as Fwd Packet Length Mean)"},
	BwdSegSizeAvg:      {"bytes", "mean backward payload length"},
	FwdInitWinBytes:    {"bytes", "TCP window of the first forward packet (0 for non-TCP)"},
	BwdInitWinBytes:    {"bytes", "TCP window of the first backward packet (0 for non-TCP or none)"},
	FwdActDataPkts:     {"packets", "forward packets with payload ≥ 1 byte, NOT counting the flow's first packet (as CICFlowMeter, verified on CIC-IDS2017: a 1-packet flow with 520 payload bytes has 0)"},
	FwdSegSizeMin:      {"bytes", "smallest forward transport header length (TCP 20..60, UDP 8)"},
	ActiveMean:         {"µs", "mean length of completed active periods; a period ends at a packet gap > 5 s (CICFlowMeter activity timeout) and counts only if it lasted > 0; the open period at the flow's end is not counted (as in the CIC-IDS2017 data)"},
	ActiveStd:          {"µs", "sample standard deviation of active periods"},
	ActiveMax:          {"µs", "longest active period"},
	ActiveMin:          {"µs", "shortest active period"},
	IdleMean:           {"µs", "mean packet gap longer than 5 s; with the table's default 5 s idle timeout such gaps end the flow, so this is non-zero only with a longer idle timeout"},
	IdleStd:            {"µs", "sample standard deviation of idle gaps"},
	IdleMax:            {"µs", "longest idle gap"},
	IdleMin:            {"µs", "shortest idle gap"},
}
