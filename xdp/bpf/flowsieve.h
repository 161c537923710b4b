/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared between the flowsieve XDP program and user space (package xdp).
 * bpf2go turns every type below into a Go type; the layouts are part of the
 * map ABI, so any change here makes existing pinned maps incompatible.
 */
#ifndef FLOWSIEVE_H
#define FLOWSIEVE_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

/* Verdict actions (struct fs_verdict.action). 0 is "no verdict" and is never stored. */
enum fs_action {
	FS_ACTION_NONE = 0,
	FS_ACTION_PASS = 1, /* forward in the kernel, never to user space */
	FS_ACTION_DROP = 2, /* drop */
	FS_ACTION_TAG = 3,  /* rewrite DSCP, then forward in the kernel */
};

/*
 * Frames redirected to an AF_XDP socket carry FS_META_SIZE bytes of XDP metadata just
 * before the packet: the arrival time, CLOCK_MONOTONIC ns, a host-order __u64
 * (xdp.ArrivalMetaSize in Go).
 */
#define FS_META_SIZE 8

/*
 * How the arrival time is handed over (the program's fs_stamp constant, xdp.Stamp):
 * META puts it in the XDP metadata in front of the packet; HEAD prepends it to the
 * frame (the AF_XDP descriptor then starts FS_META_SIZE bytes before the packet);
 * NONE leaves frames unstamped.
 */
enum fs_stamp {
	FS_STAMP_NONE = 0,
	FS_STAMP_META = 1,
	FS_STAMP_HEAD = 2,
};

/* Per-interface mode (struct fs_iface.mode). */
enum fs_mode {
	FS_MODE_MONITOR = 0, /* forward = XDP_PASS to the local stack */
	FS_MODE_INLINE = 1,  /* forward = redirect to the peer interface through the devmap */
};

/*
 * IPv6 flow map key (fs_flows): the canonical 5-tuple, so both directions of a flow share one entry.
 * Addresses are 16 bytes in network order; IPv4 is written IPv4-mapped (::ffff:a.b.c.d), but flows whose two
 * addresses are IPv4(-mapped) live in fs_flows4 (struct fs_flow4_key) instead.
 * Endpoint (addr, port) pairs are ordered: the "lo" endpoint is the one whose address
 * is smaller byte-wise (memcmp), or, for equal addresses, whose port is smaller.
 * Ports are in host byte order; they are 0 for ICMP, ICMPv6, non-first fragments and
 * protocols without ports. proto is the IP protocol number (IPv6: the upper-layer
 * protocol after extension headers). pad must be zero.
 */
struct fs_flow_key {
	__u8 lo_addr[16];
	__u8 hi_addr[16];
	__u16 lo_port;
	__u16 hi_port;
	__u8 proto;
	__u8 pad[3];
};

/*
 * IPv4 flow map key (fs_flows4): the same canonical 5-tuple as struct fs_flow_key
 * for flows whose two addresses are IPv4 (or IPv4-mapped), with 4-byte addresses in
 * network order. The endpoint order is the fs_flow_key order (comparing the mapped
 * addresses byte-wise is comparing the IPv4 ones). 16 bytes instead of 40: the
 * kernel's hash and key compare run over less than half the bytes, which saves
 * about a third of a flow-map lookup. pad must be zero.
 */
struct fs_flow4_key {
	__u8 lo_addr[4];
	__u8 hi_addr[4];
	__u16 lo_port;
	__u16 hi_port;
	__u8 proto;
	__u8 pad[3];
};

/*
 * A verdict (the value of the flow map and of both prefix tries).
 * expires_ns is a CLOCK_MONOTONIC deadline in ns, 0 = never expires; the program
 * compares it with bpf_ktime_get_coarse_ns() (the same clock at tick resolution),
 * so an entry counts as no verdict from at most one tick after its deadline on. packets/bytes are incremented atomically by
 * the program for every packet the entry decides.
 */
struct fs_verdict {
	__u8 action; /* enum fs_action */
	__u8 dscp;   /* 0..63, used by FS_ACTION_TAG */
	__u8 pad[6];
	__u64 expires_ns;
	__u64 packets;
	__u64 bytes;
};

/*
 * Source prefix keys (LPM tries); addr in network order. The trie stores the value
 * right after the key data, so the IPv4 key carries 4 zero pad bytes: with 4 data
 * bytes the value's u64 counters would be misaligned and the atomic adds could
 * become split locks (measured: 1.3 us instead of 80 ns per packet). prefixlen is
 * at most 32 for IPv4.
 */
struct fs_lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
	__u8 pad[4];
};

struct fs_lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * Per ingress interface configuration (config map, keyed by ifindex).
 * Interfaces without an entry behave as FS_MODE_MONITOR without sockets.
 * The XSKMAP slot for a frame is xsk_base + rx_queue_index (when
 * rx_queue_index < xsk_count), so several interfaces can share one XSKMAP.
 */
struct fs_iface {
	__u32 mode;         /* enum fs_mode */
	__u32 peer_ifindex; /* inline: egress interface (== ingress: XDP_TX) */
	__u32 xsk_base;     /* first XSKMAP slot of this interface */
	__u32 xsk_count;    /* its number of slots: higher RX queues fail open */
};

/*
 * IPv4 flow verdict cache (fs_cache4), an exact-match cache in front of fs_flows4 like
 * Open vSwitch's EMC: FS_CACHE4_SLOTS direct-mapped slots per CPU (a per-CPU array,
 * whose lookups the verifier inlines; a hash map lookup is a helper call, and calls
 * and returns are what is expensive on a CPU with retpolines and SRSO mitigations).
 * The slot of a key is cache4_index(key) in flowsieve.c (cacheIndex in Go).
 *
 * A slot copies a verdict's action, dscp and expires_ns with the fs_gen generation
 * read before the flow-map lookup that filled it, and is used only while its key and
 * generation match. User space bumps fs_gen after every change to fs_flows4 (put,
 * delete, sweep, migration), so no slot outlives the verdict it copied. packets and
 * bytes are the slot's pending counts: packets the slot decided that are not yet in
 * the entry's counters. Every FS_CACHE4_REFRESH-th packet on a slot (and every miss
 * and expiry) does the real lookup: the pending counts are added atomically to the
 * entry, the slot is refilled (which touches the LRU entry, so the kernel does not
 * evict a flow served from the cache) or emptied when the entry is gone. So an
 * entry's counters lag by at most FS_CACHE4_REFRESH - 1 packets per CPU until that
 * CPU sees the flow again or the slot is taken by another flow; user space adds the
 * pending counts of the slots holding a key when it reads the entry.
 * Only IPv4 packets are cached (IPv6 and IPv4-mapped IPv6 packets look up the maps).
 * fs_cache4 and fs_gen are pinned like the other maps: OpenPinned needs them to void
 * the cache of a program left running and to read its pending counts. A loader that
 * finds them with another layout (slot size, FS_CACHE4_SLOTS) replaces them, which
 * only empties the cache; Load bumps fs_gen, so slots an earlier program filled in a
 * reused cache are never used. (Adding FS_CNT_FLOW_CACHE_HIT grew struct fs_counters:
 * a pinned fs_stats of an earlier version is replaced, its counters restart.)
 */
#define FS_CACHE4_BITS 12
#define FS_CACHE4_SLOTS (1 << FS_CACHE4_BITS)
#define FS_CACHE4_REFRESH 64

struct fs_cache4_slot {
	struct fs_flow4_key key;
	__u64 gen;        /* fs_gen when it was filled */
	__u64 expires_ns; /* the verdict's */
	__u64 bytes;      /* pending */
	__u32 packets;    /* pending, < FS_CACHE4_REFRESH */
	__u8 action;      /* enum fs_action; FS_ACTION_NONE = empty slot */
	__u8 dscp;
	__u8 pad[2];
};

/*
 * The slot of an IPv4 flow key: the key as two little-endian 64-bit words,
 * multiplicatively hashed, the top FS_CACHE4_BITS bits.
 */
#define FS_CACHE4_MUL0 0x9e3779b97f4a7c15ULL
#define FS_CACHE4_MUL1 0xc2b2ae3d27d4eb4fULL

/*
 * Signatures: per-packet decision trees scoped to a victim (destination address),
 * learned in user space while the victim is under attack. fs_sig4 (IPv4) and fs_sig6
 * (IPv6) map the victim to its slot; the slot's FS_SIG_NODES nodes (struct fs_sig in
 * fs_sig_nodes) are walked from node 0 for at most FS_SIG_DEPTH+1 steps: a split
 * sends a packet whose field value is <= threshold to left, else to right (indexes
 * within the slot); a leaf drops or passes. The walk reads the clock only when it
 * ends in a dropping leaf (an expired signature drops nothing, and a passing leaf
 * passes either way). Field ids are those of engine/signature (package xdp converts
 * nothing: it checks). Nodes are 8 bytes, so a child's address is a shift away.
 */
#define FS_SIG_FIELDS 14
#define FS_SIG_NODES 64
#define FS_SIG_DEPTH 12
#define FS_SIG_SLOTS 64

struct fs_sig_node {
	__u32 threshold;
	__u8 field; /* 0..FS_SIG_FIELDS-1 */
	__u8 left;  /* < FS_SIG_NODES */
	__u8 right;
	__u8 leaf;  /* 0: a split; else a leaf: FS_ACTION_DROP drops, anything else passes on */
};

/* One slot's tree: the whole signature is one map value, walked with one lookup. */
struct fs_sig {
	struct fs_sig_node nodes[FS_SIG_NODES];
};

struct fs_sig_ref {
	__u64 expires; /* CLOCK_MONOTONIC ns (coarse), 0 never */
	__u32 slot;    /* < FS_SIG_SLOTS */
	__u32 pad;
};

/*
 * Rate limits: token buckets for traffic no verdict and no signature decides, per
 * victim (fs_rl_dst, a hash by destination address) and per source (fs_rl_src, an
 * LPM trie by source prefix: one bucket for the whole prefix), IPv4 addresses
 * IPv4-mapped. Each maps to a bucket index in fs_rl_buckets. A packet takes a token from
 * its source's bucket, then from its victim's; one that finds a bucket empty is dropped.
 *
 * A bucket holds tokens in units of 1/FS_RL_UNIT packet. On every packet, under the
 * bucket's spin lock: tokens += (now - last) * rate (capped at burst * FS_RL_UNIT;
 * fill_ns = burst * FS_RL_UNIT / rate + 1 is precomputed so the product cannot
 * overflow), last = now (never backwards), then a packet that finds FS_RL_UNIT tokens
 * takes them and passes, else it is dropped. From expires on (when not 0) the bucket
 * limits and counts nothing. now is bpf_ktime_get_ns (the coarse clock's 4 ms steps
 * would hand out a tick's tokens at once). A spin lock, not atomics: the update reads
 * and writes two words that must change together (tokens and last), which one
 * compare-and-swap cannot cover; CPUs sharing a bucket serialise on it for a few
 * instructions. (The lock helpers cost about 70 ns a packet here; a one-word GCRA
 * state, the bucket's "full again" time, updated by compare-and-swap would not.)
 */
#define FS_RL_SLOTS 1024
#define FS_RL_UNIT 1000000000ULL

struct fs_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens;  /* 1/FS_RL_UNIT packets */
	__u64 last;    /* CLOCK_MONOTONIC ns of the last refill */
	__u64 rate;    /* packets per second, 1..FS_RL_UNIT */
	__u64 burst;   /* packets, >= 1 */
	__u64 fill_ns; /* burst * FS_RL_UNIT / rate + 1 */
	__u64 passed;
	__u64 dropped;
	__u64 expires; /* CLOCK_MONOTONIC ns from which the bucket limits nothing, 0 never */
};

/*
 * Which of the mitigation maps hold entries (fs_mitigate[0], a bit mask of
 * FS_MIT_*), kept by user space, so packets skip the lookups of empty maps.
 */
enum fs_mitigation {
	FS_MIT_SIG4 = 1,
	FS_MIT_SIG6 = 2,
	FS_MIT_RL_SRC = 4,
	FS_MIT_RL_DST = 8,
};

/* Per-CPU counters (stats map index). Keep in sync with package xdp's names. */
enum fs_counter {
	FS_CNT_RX = 0,          /* frames seen */
	FS_CNT_DROP,            /* dropped by a verdict */
	FS_CNT_TAG,             /* DSCP rewritten by a verdict, then forwarded */
	FS_CNT_PASS,            /* forwarded by a PASS verdict */
	FS_CNT_USER,            /* redirected to an AF_XDP socket (no verdict) */
	FS_CNT_FORWARD,         /* forwarded without a verdict (non-IP, parse error, fail open) */
	FS_CNT_FAIL_OPEN,       /* no verdict and no socket for the queue */
	FS_CNT_NON_IP,          /* not IPv4/IPv6 (ARP, LLDP, ...) */
	FS_CNT_ND,              /* ICMPv6 router/neighbour discovery (types 133-137) */
	FS_CNT_PARSE_ERROR,     /* truncated or malformed L2/L3 header */
	FS_CNT_L4_TRUNCATED,    /* L4 header cut short: looked up without ports */
	FS_CNT_FRAGMENT,        /* non-first IP fragment: looked up without ports */
	FS_CNT_EXT_LIMIT,       /* too many IPv6 extension headers */
	FS_CNT_EXPIRED,         /* an expired verdict was ignored */
	FS_CNT_FLOW_HIT,        /* verdict from the flow map */
	FS_CNT_PREFIX_HIT,      /* verdict from a source prefix trie */
	FS_CNT_BAD_VERDICT,     /* entry with an unknown action was ignored */
	FS_CNT_NO_PEER,         /* inline interface without a devmap peer: XDP_PASS */
	FS_CNT_QUEUE_UNMAPPED,  /* RX queue beyond the interface's XSKMAP slots: fail open */
	FS_CNT_FLOW_CACHE_HIT,  /* flow verdict from fs_cache4 without a flow-map lookup (also in FLOW_HIT) */
	FS_CNT_SIGNATURE_DROP,  /* dropped by a victim's signature (also in DROP) */
	FS_CNT_RATE_DROP,       /* dropped by a rate limit (also in DROP) */
	FS_CNT_MAX,
};

#endif
