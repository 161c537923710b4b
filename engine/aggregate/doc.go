// Package aggregate keeps windowed statistics per source, per source prefix, per
// source→victim pair and per victim (destination address, and address:port), the
// host-scale view that flow verdicts lack: spoofed floods, reflection and scans are
// made of one-packet flows that never reach a flow's decision point, but they stand
// out in the rates, flag mix and fan-out of the hosts they come from or go to.
//
// Memory is fixed when a table is made and never grows: tables are open-addressing
// arrays of buckets of 8 entries; a key that finds its bucket full replaces the entry
// with the smallest decayed packet count (a heavy-hitter table: hosts that send much
// keep their entries, a stream of spoofed one-off sources churns through the light
// ones). Distinct counts (destination ports and hosts per source, sources and ports per
// victim) are small HyperLogLog sketches kept in two generations, so they cover the
// last one to two epochs. Nothing allocates per packet.
//
// Source, prefix and pair tables (Hosts) belong to one worker and keep damped
// statistics as Kitsune does: every counter decays with half-lives of 100 ms, 1 s and
// 10 s, so Rate gives packets (or bytes, SYNs, ...) per second over each window
// without storing the window. The victim table (Victims) is shared by all workers:
// counters are atomic adds into 100 ms time slots and the distinct-source sketches are
// atomic maxima, so every worker adds to one consistent view of a victim; one reader
// (the detector) sums the slots and clears the ones about to be reused.
package aggregate
