#!/usr/bin/env bash
# The full measurement of issue 9 on the real captures of ../shared/data (as root):
#   1. the verdict path (DROP verdicts from ground truth) with every baseline, whole captures
#      at top speed;
#   2. the real daemon (--appliance), flow-scoped drops, with the baselines and the forwarding
#      measurement: its model learns the generated mix plus the FIRST half of each capture, the
#      SECOND half is replayed at an even 20000 pkt/s (a within-capture hold-out);
#   3. the same with source-scoped drops (the daemon blocks attack sources) at 2000 pkt/s, so
#      blocks decided at a flow's end can land while the capture still plays.
# Usage: bench/real-captures.sh [OUT_PREFIX] (default /tmp/bench-full); BIN overrides bin/flowsieve.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-full}
BIN=${BIN:-bin/flowsieve}
D=${DATA:-../shared/data}
PCAPS=(
  --pcap "$D/stopddos/amp.dns.RRSIG.fragmented.pcap=DNS Amplification"
  --pcap "$D/stopddos/amp.UDP.snmp.src161.pcapng=SNMP Amplification"
  --pcap "$D/stopddos/pkt.TCP.synflood.spoofed.pcap=SYN Flood"
  --pcap "$D/stopddos/amp.TCP.reflection.SYNACK.pcap=SYN-ACK Reflection"
  --pcap "$D/cicddos2019-lucid/CIC-DDoS-2019-SynFlood.pcap=SYN Flood"
  --pcap "$D/esnet-curated-pcaps/attacks/scanners/masscan/tcp_0_1000_20190821.pcap=PortScan"
  --pcap "$D/esnet-curated-pcaps/attacks/scanners/nmap/nmap_80_all.pcap=PortScan"
  --pcap "$D/malcolm-pcap/pcaps/protocols/DNS.pcap=BENIGN"
  --pcap "$D/malcolm-pcap/pcaps/protocols/SSL.pcap=BENIGN"
  --pcap "$D/malcolm-pcap/pcaps/protocols/NTP.pcap=BENIGN"
  --pcap "$D/malcolm-pcap/pcaps/protocols/Syslog.pcap=BENIGN"
  --pcap "$D/malcolm-pcap/pcaps/protocols/OPCUA-Binary.pcap=BENIGN"
  --pcap "$D/malcolm-pcap/pcaps/protocols/TFTP.pcap=BENIGN"
)
set -x
"$BIN" bench --out "$OUT" "${PCAPS[@]}" >/dev/null
"$BIN" bench --appliance --pcap-timing 20000pps --out "$OUT-appliance" "${PCAPS[@]}" >/dev/null
"$BIN" bench --appliance --no-baselines --scope source --pcap-timing 2000pps --out "$OUT-appliance-source" "${PCAPS[@]}" >/dev/null
