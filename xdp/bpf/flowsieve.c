// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * flowsieve XDP program: parse L2-L4, look up a verdict (flow LRU hashes by the
 * canonical 5-tuple, IPv4 and IPv6 apart, then source prefix LPM tries), and enforce it in the kernel:
 * DROP, TAG (DSCP rewrite), PASS (forward); frames without a verdict go to the
 * AF_XDP socket of their RX queue, or fail open when no socket is registered.
 * Every read of packet data is bounds-checked against data_end.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flowsieve.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define LIBBPF_PIN_BY_NAME 1
#define MAX_VLAN 2         /* 802.1Q, QinQ (802.1ad outer + 802.1Q inner) */
#define MAX_IPV6_EXT 8     /* extension headers walked before giving up */
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

/* All counters live in one per-CPU value: one map lookup per packet. */
struct fs_counters {
	__u64 c[FS_CNT_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct fs_flow_key);
	__type(value, struct fs_verdict);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_flows SEC(".maps");

/* Flows whose two addresses are IPv4 (or IPv4-mapped): the compact key. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct fs_flow4_key);
	__type(value, struct fs_verdict);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_lpm_v4_key);
	__type(value, struct fs_verdict);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_prefix_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_lpm_v6_key);
	__type(value, struct fs_verdict);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_prefix_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32); /* ingress ifindex */
	__type(value, struct fs_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);   /* ingress ifindex */
	__type(value, __u32); /* egress (peer) ifindex */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32); /* fs_iface.xsk_base + rx_queue_index */
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_stats SEC(".maps");

/* The IPv4 flow verdict cache; see struct fs_cache4_slot in flowsieve.h. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_CACHE4_SLOTS);
	__type(key, __u32);
	__type(value, struct fs_cache4_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_cache4 SEC(".maps");

/*
 * The cache generation: user space adds 1 (an atomic add through an mmap of the
 * map, so writers in several processes never lose a bump) after every change to
 * fs_flows4. Slots filled under another generation are not used.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fs_gen SEC(".maps");

/* Signatures: see struct fs_sig_node in flowsieve.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FS_SIG_SLOTS);
	__type(key, __u32); /* IPv4 destination, network order */
	__type(value, struct fs_sig_ref);
} fs_sig4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FS_SIG_SLOTS);
	__type(key, struct in6_addr); /* IPv6 destination */
	__type(value, struct fs_sig_ref);
} fs_sig6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FS_SIG_SLOTS);
	__type(key, __u32);
	__type(value, struct fs_sig);
} fs_sig_nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_SIG_SLOTS);
	__type(key, __u32);
	__type(value, __u64); /* packets dropped by the slot's signature */
} fs_sig_hits SEC(".maps");

/*
 * Rate limits: see struct fs_bucket in flowsieve.h. Values are fs_rl_buckets indexes;
 * IPv4 addresses are keyed IPv4-mapped (::ffff:a.b.c.d, an IPv4 /n is a /96+n), so one
 * trie and one hash serve both families.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FS_RL_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_lpm_v6_key); /* source prefix */
	__type(value, __u32);
} fs_rl_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FS_RL_SLOTS);
	__type(key, struct in6_addr); /* destination */
	__type(value, __u32);
} fs_rl_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FS_RL_SLOTS);
	__type(key, __u32);
	__type(value, struct fs_bucket);
} fs_rl_buckets SEC(".maps");

/* Which mitigation maps hold entries: enum fs_mitigation bits, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fs_mitigate SEC(".maps");

/* Ethernet header without the packed attribute, so the EtherType is one 16-bit load. */
struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

/* Outcome of parsing. */
enum parse_result {
	PARSE_FLOW = 0,  /* 5-tuple (ports may be 0 for portless protocols) */
	PARSE_NON_IP,    /* forward without lookup, never to user space */
	PARSE_ND,        /* IPv6 neighbour/router discovery: same */
	PARSE_ERROR,     /* broken L2/L3: forward without lookup */
};

/*
 * A parsed packet: IPv4 fills key4 only (the compact key is what the IPv4 flow
 * map wants, so the per-packet work stays small), IPv6 fills key only.
 * Source as lo, destination as hi until canonicalised.
 */
struct packet {
	struct fs_flow_key key;
	struct fs_flow4_key key4;
	void *l3;
	void *l4;   /* IPv6: the header after the extension headers */
	__u8 ipv6;
	__u8 frag6; /* IPv6: the signature's frag field (1 first fragment, 4 later ones) */
};

/* Whether a 16-byte network-order address is IPv4-mapped (::ffff:a.b.c.d). */
static __always_inline int is_v4_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;
	return (w[0] | w[1]) == 0 && w[2] == bpf_htonl(0xffff);
}

/*
 * Looks up the canonical key of an IPv6 packet: in fs_flows4 (as the compact key)
 * when both addresses are IPv4-mapped, as user space stores such flows, else in
 * fs_flows.
 */
static __always_inline struct fs_verdict *lookup_flow6(const struct fs_flow_key *k)
{
	if (is_v4_mapped(k->lo_addr) && is_v4_mapped(k->hi_addr)) {
		struct fs_flow4_key k4 = {
			.lo_port = k->lo_port,
			.hi_port = k->hi_port,
			.proto = k->proto,
		};
		__builtin_memcpy(k4.lo_addr, k->lo_addr + 12, 4);
		__builtin_memcpy(k4.hi_addr, k->hi_addr + 12, 4);
		return bpf_map_lookup_elem(&fs_flows4, &k4);
	}
	return bpf_map_lookup_elem(&fs_flows, k);
}

/* Compares two 16-byte network-order addresses like memcmp: <0, 0, >0. */
static __always_inline int addr_cmp(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 p = bpf_ntohl(x[i]), q = bpf_ntohl(y[i]);
		if (p != q)
			return p < q ? -1 : 1;
	}
	return 0;
}

/*
 * Orders the key's endpoints so that both directions of a flow give the same key;
 * returns whether it swapped them (the source is then the hi endpoint).
 */
static __always_inline int canonicalise(struct fs_flow_key *k)
{
	int c = addr_cmp(k->lo_addr, k->hi_addr);
	if (c < 0 || (c == 0 && k->lo_port <= k->hi_port))
		return 0;
	__u8 tmp[16];
	__builtin_memcpy(tmp, k->lo_addr, 16);
	__builtin_memcpy(k->lo_addr, k->hi_addr, 16);
	__builtin_memcpy(k->hi_addr, tmp, 16);
	__u16 p = k->lo_port;
	k->lo_port = k->hi_port;
	k->hi_port = p;
	return 1;
}

/*
 * Orders the IPv4 key's endpoints like canonicalise (comparing the mapped
 * addresses byte-wise is comparing the IPv4 ones); returns whether it swapped.
 */
static __always_inline int canonicalise4(struct fs_flow4_key *k)
{
	__u32 lo, hi;
	__builtin_memcpy(&lo, k->lo_addr, 4);
	__builtin_memcpy(&hi, k->hi_addr, 4);
	lo = bpf_ntohl(lo);
	hi = bpf_ntohl(hi);
	if (lo < hi || (lo == hi && k->lo_port <= k->hi_port))
		return 0;
	__builtin_memcpy(k->lo_addr, k->hi_addr, 4);
	hi = bpf_htonl(lo);
	__builtin_memcpy(k->hi_addr, &hi, 4);
	__u16 p = k->lo_port;
	k->lo_port = k->hi_port;
	k->hi_port = p;
	return 1;
}

/*
 * Reads the ports (or the ICMPv6 type) of protocol proto at l4 into *sport and
 * *dport (left alone when there are none); sets *cnt for truncation or ND.
 */
static __always_inline int parse_l4(void *l4, void *end, __u8 proto, __u16 *sport, __u16 *dport, __u32 *cnt)
{
	switch (proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end) {
			*cnt = FS_CNT_L4_TRUNCATED;
			return PARSE_FLOW;
		}
		*sport = bpf_ntohs(th->source);
		*dport = bpf_ntohs(th->dest);
		return PARSE_FLOW;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end) {
			*cnt = FS_CNT_L4_TRUNCATED;
			return PARSE_FLOW;
		}
		*sport = bpf_ntohs(uh->source);
		*dport = bpf_ntohs(uh->dest);
		return PARSE_FLOW;
	}
	case IPPROTO_ICMP: {
		if (l4 + 4 > end)
			*cnt = FS_CNT_L4_TRUNCATED;
		return PARSE_FLOW;
	}
	case IPPROTO_ICMPV6: {
		__u8 *t = l4;
		if ((void *)(t + 4) > end) {
			*cnt = FS_CNT_L4_TRUNCATED;
			return PARSE_FLOW;
		}
		if (*t >= 133 && *t <= 137)
			return PARSE_ND;
		return PARSE_FLOW;
	}
	}
	return PARSE_FLOW;
}

static __always_inline int parse_ipv4(void *l3, void *end, struct packet *p, __u32 *cnt)
{
	struct iphdr *ip = l3;
	if ((void *)(ip + 1) > end)
		return PARSE_ERROR;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_ERROR;
	__u32 ihl = ip->ihl * 4;
	if (l3 + ihl > end)
		return PARSE_ERROR;
	p->l3 = l3;
	struct fs_flow4_key *k = &p->key4;
	*k = (struct fs_flow4_key){.proto = ip->protocol};
	__builtin_memcpy(k->lo_addr, &ip->saddr, 4);
	__builtin_memcpy(k->hi_addr, &ip->daddr, 4);
	if (ip->frag_off & bpf_htons(0x1fff)) {
		*cnt = FS_CNT_FRAGMENT;
		return PARSE_FLOW;
	}
	return parse_l4(l3 + ihl, end, k->proto, &k->lo_port, &k->hi_port, cnt);
}

static __always_inline int parse_ipv6(void *l3, void *end, struct packet *p, __u32 *cnt)
{
	struct ipv6hdr *ip6 = l3;
	if ((void *)(ip6 + 1) > end)
		return PARSE_ERROR;
	if (ip6->version != 6)
		return PARSE_ERROR;
	p->l3 = l3;
	p->ipv6 = 1;
	p->frag6 = 0;
	p->key = (struct fs_flow_key){};
	__builtin_memcpy(p->key.lo_addr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.hi_addr, &ip6->daddr, 16);

	__u8 next = ip6->nexthdr;
	void *cur = l3 + sizeof(*ip6);
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: {
			struct ipv6_ext *h = cur;
			if ((void *)(h + 1) > end)
				return PARSE_ERROR;
			next = h->nexthdr;
			cur += ((__u32)h->hdrlen + 1) * 8;
			continue;
		}
		case IPPROTO_AH: {
			struct ipv6_ext *h = cur;
			if ((void *)(h + 1) > end)
				return PARSE_ERROR;
			next = h->nexthdr;
			cur += ((__u32)h->hdrlen + 2) * 4;
			continue;
		}
		case IPPROTO_FRAGMENT: {
			struct ipv6_frag *f = cur;
			if ((void *)(f + 1) > end)
				return PARSE_ERROR;
			next = f->nexthdr;
			cur += sizeof(*f);
			if (f->frag_off & bpf_htons(0xfff8)) {
				p->key.proto = next;
				p->l4 = cur;
				p->frag6 = 4;
				*cnt = FS_CNT_FRAGMENT;
				return PARSE_FLOW;
			}
			if (f->frag_off & bpf_htons(1))
				p->frag6 = 1;
			continue;
		}
		default:
			p->key.proto = next;
			p->l4 = cur;
			return parse_l4(cur, end, next, &p->key.lo_port, &p->key.hi_port, cnt);
		}
	}
	p->key.proto = next;
	p->l4 = cur;
	*cnt = FS_CNT_EXT_LIMIT;
	return PARSE_FLOW;
}

/*
 * The transport fields of a packet's signature (engine/signature.Extract computes
 * the same from a decoded packet): tcp flags, window, options length, first option
 * kind, ports, payload length, icmp type. l4len is the IP payload from l4 on.
 * Fields of a header cut short stay 0, its payload length l4len.
 */
static __always_inline void sig_l4(void *l4, void *end, __u8 proto, __u32 l4len, __u32 *f)
{
	f[12] = l4len;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end)
			return;
		__u32 doff = th->doff * 4;
		f[6] = ((__u8 *)th)[13];
		f[7] = bpf_ntohs(th->window);
		f[8] = doff > 20 ? doff - 20 : 0;
		if (doff > 20 && (void *)(th + 1) + 1 <= end)
			f[9] = *(__u8 *)(th + 1);
		f[10] = bpf_ntohs(th->source);
		f[11] = bpf_ntohs(th->dest);
		f[12] = l4len > doff ? l4len - doff : 0;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end)
			return;
		f[10] = bpf_ntohs(uh->source);
		f[11] = bpf_ntohs(uh->dest);
		f[12] = l4len > 8 ? l4len - 8 : 0;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		__u8 *t = l4;
		if ((void *)(t + 1) > end)
			return;
		f[13] = *t;
		f[12] = l4len > 8 ? l4len - 8 : 0;
	}
}

/*
 * The signature fields of an IPv4 packet: proto, ttl, ip_id, ip_len, frag bits
 * (1 MF, 2 DF, 4 non-zero offset), dscp, then the transport's (sig_l4).
 */
static __always_inline void sig_fields4(struct iphdr *ip, void *end, __u32 *f)
{
	__u32 ihl = ip->ihl * 4;
	__u32 tot = bpf_ntohs(ip->tot_len);
	__u16 fo = bpf_ntohs(ip->frag_off);
	f[0] = ip->protocol;
	f[1] = ip->ttl;
	f[2] = bpf_ntohs(ip->id);
	f[3] = tot;
	f[4] = ((fo & 0x2000) ? 1 : 0) | ((fo & 0x4000) ? 2 : 0) | ((fo & 0x1fff) ? 4 : 0);
	f[5] = ip->tos >> 2;
	__u32 l4len = tot > ihl ? tot - ihl : 0;
	if (fo & 0x1fff) {
		f[12] = l4len;
		return;
	}
	sig_l4((void *)ip + ihl, end, ip->protocol, l4len, f);
}

/*
 * The signature fields of an IPv6 packet: next header after the extension headers,
 * hop limit, ip_len (40 + payload length, the frame's length for a jumbogram), frag
 * (1 first fragment, 4 later ones), dscp, then the transport's; ip_id stays 0.
 */
static __always_inline void sig_fields6(struct packet *p, void *end, __u32 *f)
{
	struct ipv6hdr *ip6 = p->l3;
	if ((void *)(ip6 + 1) > end)
		return;
	__u8 *b = p->l3;
	__u32 total = 40 + bpf_ntohs(ip6->payload_len);
	if (total == 40 && ip6->nexthdr != IPPROTO_NONE)
		total = end - p->l3;
	f[0] = p->key.proto;
	f[1] = ip6->hop_limit;
	f[3] = total < 0xffff ? total : 0xffff;
	f[4] = p->frag6;
	f[5] = (((b[0] & 0x0f) << 4) | (b[1] >> 4)) >> 2;
	__u32 hl = p->l4 - p->l3;
	__u32 l4len = total > hl ? total - hl : 0;
	if (p->frag6 & 4) {
		f[12] = l4len;
		return;
	}
	sig_l4(p->l4, end, p->key.proto, l4len, f);
}

/*
 * Walks signature r over the packet's fields f: FS_ACTION_DROP when the walk ends in
 * a dropping leaf and r has not expired, else FS_ACTION_NONE. The walk is unrolled
 * (FS_SIG_DEPTH + 1 steps, each a shift, two loads and a compare); the clock is read
 * only for a dropping leaf.
 */
static __always_inline __u8 sig_walk(struct fs_sig_ref *r, const __u32 *f, struct fs_counters *st)
{
	__u32 slot = r->slot;
	if (slot >= FS_SIG_SLOTS)
		return FS_ACTION_NONE;
	struct fs_sig *sig = bpf_map_lookup_elem(&fs_sig_nodes, &slot);
	if (!sig)
		return FS_ACTION_NONE;
	__u32 idx = 0;
	__u8 leaf = 0;
#pragma unroll
	for (int i = 0; i <= FS_SIG_DEPTH; i++) {
		struct fs_sig_node *n = &sig->nodes[idx & (FS_SIG_NODES - 1)];
		if (n->leaf) {
			leaf = n->leaf;
			break;
		}
		idx = f[n->field & 15] <= n->threshold ? n->left : n->right;
	}
	if (leaf != FS_ACTION_DROP)
		return FS_ACTION_NONE;
	__u64 exp = r->expires;
	if (exp && bpf_ktime_get_coarse_ns() >= exp)
		return FS_ACTION_NONE;
	__u64 *hits = bpf_map_lookup_elem(&fs_sig_hits, &slot);
	if (hits)
		(*hits)++;
	st->c[FS_CNT_SIGNATURE_DROP]++;
	return FS_ACTION_DROP;
}

/* The signature verdict of a packet whose destination has a signature in fs_sig4/6. */
static __always_inline __u8 sig_verdict(struct packet *p, void *end, struct fs_counters *st)
{
	struct fs_sig_ref *r;
	__u32 f[16] __attribute__((aligned(8)));
	__builtin_memset(f, 0, sizeof(f));
	if (p->ipv6) {
		struct ipv6hdr *ip6 = p->l3;
		if ((void *)(ip6 + 1) > end)
			return FS_ACTION_NONE;
		r = bpf_map_lookup_elem(&fs_sig6, &ip6->daddr);
		if (!r)
			return FS_ACTION_NONE;
		sig_fields6(p, end, f);
	} else {
		struct iphdr *ip = p->l3;
		if ((void *)(ip + 1) > end)
			return FS_ACTION_NONE;
		__u32 daddr = ip->daddr;
		r = bpf_map_lookup_elem(&fs_sig4, &daddr);
		if (!r)
			return FS_ACTION_NONE;
		sig_fields4(ip, end, f);
	}
	return sig_walk(r, f, st);
}

/*
 * Takes a token from bucket idx at time now (see struct fs_bucket); returns 0 when
 * the bucket had none (the packet is to be dropped), 1 otherwise.
 */
static __always_inline int take_token(__u32 idx, __u64 now)
{
	struct fs_bucket *b = bpf_map_lookup_elem(&fs_rl_buckets, &idx);
	if (!b)
		return 1; /* an index out of range limits nothing */
	__u64 exp = b->expires; /* written by user space only: no lock needed */
	if (exp && now >= exp)
		return 1;
	bpf_spin_lock(&b->lock);
	__u64 cap = b->burst * FS_RL_UNIT, tokens = b->tokens, last = b->last;
	if (now > last) {
		__u64 el = now - last;
		if (el >= b->fill_ns) {
			tokens = cap;
		} else {
			tokens += el * b->rate;
			if (tokens > cap)
				tokens = cap;
		}
		b->last = now;
	}
	int ok = tokens >= FS_RL_UNIT;
	if (ok) {
		tokens -= FS_RL_UNIT;
		b->passed++;
	} else {
		b->dropped++;
	}
	b->tokens = tokens;
	bpf_spin_unlock(&b->lock);
	return ok;
}

/*
 * Takes a token from buckets src and dst (FS_RL_SLOTS: none), the source's first, so
 * a source dropped at its own limit does not drain its victim's bucket.
 */
static __always_inline __u8 rate_verdict(__u32 src, __u32 dst, struct fs_counters *st)
{
	if (src >= FS_RL_SLOTS && dst >= FS_RL_SLOTS)
		return FS_ACTION_NONE;
	__u64 now = bpf_ktime_get_ns();
	if ((src < FS_RL_SLOTS && !take_token(src, now)) || (dst < FS_RL_SLOTS && !take_token(dst, now))) {
		st->c[FS_CNT_RATE_DROP]++;
		return FS_ACTION_DROP;
	}
	return FS_ACTION_NONE;
}

/* The bucket index a fs_rl_* map holds for key, FS_RL_SLOTS when it holds none. */
static __always_inline __u32 bucket_of(void *map, const void *key)
{
	__u32 *idx = bpf_map_lookup_elem(map, key);
	return idx ? *idx : FS_RL_SLOTS;
}

/* Writes IPv4 address a (network order) IPv4-mapped into the 16 bytes at to. */
static __always_inline void map_v4(__u8 *to, __be32 a)
{
	__u32 w[4] = {0, 0, bpf_htonl(0xffff), a};
	__builtin_memcpy(to, w, 16);
}

/* The rate limits of a packet (mask: the enum fs_mitigation bits set). */
static __always_inline __u8 rate_limits(struct packet *p, void *end, __u32 mask, struct fs_counters *st)
{
	struct fs_lpm_v6_key src = {.prefixlen = 128};
	struct in6_addr dst;
	if (p->ipv6) {
		struct ipv6hdr *ip6 = p->l3;
		if ((void *)(ip6 + 1) > end)
			return FS_ACTION_NONE;
		__builtin_memcpy(src.addr, &ip6->saddr, 16);
		dst = ip6->daddr;
	} else {
		struct iphdr *ip = p->l3;
		if ((void *)(ip + 1) > end)
			return FS_ACTION_NONE;
		map_v4(src.addr, ip->saddr);
		map_v4((__u8 *)&dst, ip->daddr);
	}
	__u32 s = mask & FS_MIT_RL_SRC ? bucket_of(&fs_rl_src, &src) : FS_RL_SLOTS;
	__u32 d = mask & FS_MIT_RL_DST ? bucket_of(&fs_rl_dst, &dst) : FS_RL_SLOTS;
	return rate_verdict(s, d, st);
}

/*
 * The mitigation verdict of a packet no flow or source verdict decided: its victim's
 * signature first (a packet the signature drops takes no token, so the buckets are
 * left to the traffic the signature cannot tell apart), then the rate limits. Maps
 * fs_mitigate marks empty are not looked up.
 */
static __always_inline __u8 mitigate(struct packet *p, void *end, struct fs_counters *st)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&fs_mitigate, &zero);
	if (!on || !*on || !p->l3)
		return FS_ACTION_NONE;
	__u32 mask = *on;
	if (mask & (p->ipv6 ? FS_MIT_SIG6 : FS_MIT_SIG4)) {
		if (sig_verdict(p, end, st) == FS_ACTION_DROP)
			return FS_ACTION_DROP;
	}
	if (mask & (FS_MIT_RL_SRC | FS_MIT_RL_DST))
		return rate_limits(p, end, mask, st);
	return FS_ACTION_NONE;
}

static __always_inline int parse(struct xdp_md *ctx, struct packet *p, __u32 *cnt)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct eth_hdr *eth = data;
	if ((void *)(eth + 1) > end)
		return PARSE_ERROR;
	__be16 proto = eth->proto;
	void *cur = eth + 1;
#pragma unroll
	for (int i = 0; i < MAX_VLAN; i++) {
		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		struct vlan_hdr *vh = cur;
		if ((void *)(vh + 1) > end)
			return PARSE_ERROR;
		proto = vh->proto;
		cur = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(cur, end, p, cnt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(cur, end, p, cnt);
	return PARSE_NON_IP;
}

/* Rewrites the DSCP bits, keeping ECN; IPv4 checksum updated incrementally (RFC 1624). */
static __always_inline void set_dscp(struct packet *p, void *end, __u8 dscp)
{
	if (!p->ipv6) {
		struct iphdr *ip = p->l3;
		if ((void *)(ip + 1) > end)
			return;
		__u8 old = ip->tos;
		__u8 new = (dscp << 2) | (old & 3);
		if (old == new)
			return;
		/* Only the low byte of the first 16-bit word changes: HC' = ~(~HC + ~m + m'). */
		__u32 sum = (~bpf_ntohs(ip->check) & 0xffff) + (~(__u32)old & 0xffff) + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip->check = bpf_htons(~sum & 0xffff);
		ip->tos = new;
		return;
	}
	__u8 *b = p->l3;
	if ((void *)(b + 2) > end)
		return;
	/* version:4 | traffic class:8 | flow label:20; DSCP is the class's top 6 bits. */
	__u8 tc = ((b[0] & 0x0f) << 4) | (b[1] >> 4);
	tc = (dscp << 2) | (tc & 3);
	b[0] = (b[0] & 0xf0) | (tc >> 4);
	b[1] = (b[1] & 0x0f) | (tc << 4);
}

static __always_inline struct fs_iface *iface_config(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	return bpf_map_lookup_elem(&fs_config, &ifindex);
}

/* Forwards a frame in the kernel: XDP_PASS (monitor) or the peer (inline). */
static __always_inline int forward(struct xdp_md *ctx, struct fs_counters *st)
{
	struct fs_iface *cfg = iface_config(ctx);
	if (!cfg || cfg->mode != FS_MODE_INLINE)
		return XDP_PASS;
	if (cfg->peer_ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	if (bpf_redirect_map(&fs_peers, ctx->ingress_ifindex, 0) == XDP_REDIRECT)
		return XDP_REDIRECT;
	st->c[FS_CNT_NO_PEER]++;
	return XDP_PASS;
}

/* Returns the entry's action, or FS_ACTION_NONE when it is expired or invalid. */
static __always_inline __u8 use_verdict(struct fs_verdict *v, __u32 len, struct fs_counters *st)
{
	__u8 a = v->action;
	if (a < FS_ACTION_PASS || a > FS_ACTION_TAG) {
		st->c[FS_CNT_BAD_VERDICT]++;
		return FS_ACTION_NONE;
	}
	/*
	 * The coarse clock (CLOCK_MONOTONIC at tick resolution, never ahead of it)
	 * costs a third of bpf_ktime_get_ns here (~12 vs ~30 ns a packet): a verdict
	 * may outlive its deadline by up to one tick, never expire early.
	 */
	__u64 exp = v->expires_ns;
	if (exp && bpf_ktime_get_coarse_ns() >= exp) {
		st->c[FS_CNT_EXPIRED]++;
		return FS_ACTION_NONE;
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, len);
	return a;
}

/* The slot of an IPv4 flow key in fs_cache4 (cacheIndex in Go computes the same). */
static __always_inline __u32 cache4_index(const struct fs_flow4_key *k)
{
	__u64 w0, w1;
	__builtin_memcpy(&w0, k, 8);
	__builtin_memcpy(&w1, (const __u8 *)k + 8, 8);
	__u64 h = ((w0 * FS_CACHE4_MUL0) ^ w1) * FS_CACHE4_MUL1;
	return h >> (64 - FS_CACHE4_BITS);
}

/*
 * Whether the slot holds key k (on the stack, 8-byte aligned): two 64-bit compares
 * (the key type alone would let clang assume 2-byte alignment and compare in pieces).
 */
static __always_inline int slot_holds(const struct fs_cache4_slot *s, const struct fs_flow4_key *k)
{
	const __u64 *a = (const __u64 *)s, *b = (const __u64 *)k;
	return a[0] == b[0] && a[1] == b[1];
}

/* Adds a slot's pending counts to the entry they belong to. */
static __always_inline void add_pending(struct fs_verdict *v, const struct fs_cache4_slot *s)
{
	if (!s->packets)
		return;
	__sync_fetch_and_add(&v->packets, s->packets);
	__sync_fetch_and_add(&v->bytes, s->bytes);
}

/*
 * The flow verdict of an IPv4 packet (canonical key k): from its fs_cache4 slot when
 * the slot holds k under the current generation, unexpired, with fewer than
 * FS_CACHE4_REFRESH - 1 pending packets; else from fs_flows4 (the generation read
 * first), settling the slot: pending counts into the entry, then the slot refilled
 * with a usable verdict of k, emptied when k's entry is gone or unusable, or left to
 * the flow it holds when k has no verdict (flows on their way to user space do not
 * evict cached ones). Returns the action (FS_ACTION_NONE: no usable flow verdict)
 * and sets *dscp. A CPU's slots are never used by two runs at once: XDP (and
 * BPF_PROG_TEST_RUN) runs with bottom halves disabled.
 */
static __always_inline __u8 flow4_verdict(const struct fs_flow4_key *k, __u32 len, struct fs_counters *st, __u8 *dscp)
{
	__u32 zero = 0, idx = cache4_index(k);
	__u64 *genp = bpf_map_lookup_elem(&fs_gen, &zero);
	struct fs_cache4_slot *s = bpf_map_lookup_elem(&fs_cache4, &idx);
	struct fs_verdict *v;
	__u8 a;
	if (!genp || !s) { /* cannot happen: arrays */
		v = bpf_map_lookup_elem(&fs_flows4, k);
		if (!v)
			return FS_ACTION_NONE;
		a = use_verdict(v, len, st);
		*dscp = v->dscp;
		return a;
	}
	__u64 gen = *(volatile __u64 *)genp;
	int mine = s->action != FS_ACTION_NONE && slot_holds(s, k);
	if (mine && s->gen == gen && s->packets < FS_CACHE4_REFRESH - 1) {
		__u64 exp = s->expires_ns;
		if (!exp || bpf_ktime_get_coarse_ns() < exp) {
			s->packets++;
			s->bytes += len;
			*dscp = s->dscp;
			st->c[FS_CNT_FLOW_CACHE_HIT]++;
			return s->action;
		}
	}
	/* The generation was read before this lookup: a change after it bumps it again. */
	v = bpf_map_lookup_elem(&fs_flows4, k);
	if (!v) {
		if (mine)
			s->action = FS_ACTION_NONE;
		return FS_ACTION_NONE;
	}
	if (mine)
		add_pending(v, s);
	a = use_verdict(v, len, st);
	if (a == FS_ACTION_NONE) {
		if (mine)
			s->action = FS_ACTION_NONE;
		return FS_ACTION_NONE;
	}
	*dscp = v->dscp;
	if (!mine && s->action != FS_ACTION_NONE && s->packets) {
		/* Another flow's pending counts go to its entry before the slot is taken. */
		struct fs_flow4_key old = s->key;
		struct fs_verdict *ov = bpf_map_lookup_elem(&fs_flows4, &old);
		if (ov)
			add_pending(ov, s);
	}
	s->key = *k;
	s->gen = gen;
	s->expires_ns = v->expires_ns;
	s->action = a;
	s->dscp = *dscp;
	s->packets = 0;
	s->bytes = 0;
	return a;
}

/*
 * How the arrival time reaches user space (xdp.Stamp; FS_STAMP_* in flowsieve.h).
 * The loader sets it before loading, and the verifier treats it as a constant: it
 * never walks the branches of the other methods, so a kernel that refuses
 * bpf_xdp_adjust_meta still loads the program when another method is chosen.
 */
volatile const __u32 fs_stamp = FS_STAMP_META;

/*
 * Puts the arrival time (CLOCK_MONOTONIC, ns) where the worker finds it: in the
 * frame's XDP metadata, the FS_META_SIZE bytes just before the packet, which the
 * kernel copies into the UMEM frame in front of the data (copy mode) or leaves there
 * (zero-copy); or, where the metadata helper is refused, prepended to the frame
 * itself (bpf_xdp_adjust_head), which the worker strips before it inspects or
 * transmits the frame. The worker reads it so flow features see when a packet
 * arrived, not when its batch was processed. Only frames bound for an AF_XDP socket
 * pay for it. The full-resolution clock, not the coarse one: inter-arrival times are
 * micro-, not milliseconds. Returns the method used (FS_STAMP_NONE when the frame
 * could not be stamped), which unstamp takes to undo it.
 */
static __always_inline __u32 stamp_arrival(struct xdp_md *ctx)
{
	__u64 *at;

	if (fs_stamp == FS_STAMP_META) {
		if (bpf_xdp_adjust_meta(ctx, -FS_META_SIZE))
			return FS_STAMP_NONE;
		at = (void *)(long)ctx->data_meta;
		if ((void *)(at + 1) > (void *)(long)ctx->data)
			return FS_STAMP_NONE; /* cannot happen: the verifier needs the check */
		*at = bpf_ktime_get_ns();
		return FS_STAMP_META;
	}
	if (fs_stamp == FS_STAMP_HEAD) {
		if (bpf_xdp_adjust_head(ctx, -FS_META_SIZE))
			return FS_STAMP_NONE;
		at = (void *)(long)ctx->data;
		if ((void *)(at + 1) > (void *)(long)ctx->data_end) {
			bpf_xdp_adjust_head(ctx, FS_META_SIZE); /* cannot happen either */
			return FS_STAMP_NONE;
		}
		*at = bpf_ktime_get_ns();
		return FS_STAMP_HEAD;
	}
	return FS_STAMP_NONE;
}

/* Undoes stamp_arrival for a frame that is forwarded instead (no socket). */
static __always_inline void unstamp(struct xdp_md *ctx, __u32 how)
{
	if (fs_stamp == FS_STAMP_META && how == FS_STAMP_META)
		bpf_xdp_adjust_meta(ctx, FS_META_SIZE);
	else if (fs_stamp == FS_STAMP_HEAD && how == FS_STAMP_HEAD)
		bpf_xdp_adjust_head(ctx, FS_META_SIZE);
}

SEC("xdp")
int flowsieve(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct fs_counters *st = bpf_map_lookup_elem(&fs_stats, &zero);
	if (!st)
		return XDP_PASS; /* cannot happen: one-entry array */
	st->c[FS_CNT_RX]++;

	__u32 len = ctx->data_end - ctx->data;

	struct packet p;
	p.ipv6 = 0;
	__u32 cnt = FS_CNT_MAX;
	int res = parse(ctx, &p, &cnt);
	if (cnt < FS_CNT_MAX)
		st->c[cnt]++;
	switch (res) {
	case PARSE_FLOW:
		break;
	case PARSE_NON_IP:
		st->c[FS_CNT_NON_IP]++;
		st->c[FS_CNT_FORWARD]++;
		return forward(ctx, st);
	case PARSE_ND:
		st->c[FS_CNT_ND]++;
		st->c[FS_CNT_FORWARD]++;
		return forward(ctx, st);
	default:
		st->c[FS_CNT_PARSE_ERROR]++;
		st->c[FS_CNT_FORWARD]++;
		return forward(ctx, st);
	}

	__u8 action = FS_ACTION_NONE, dscp = 0;
	int swapped;
	struct fs_verdict *v;
	if (!p.ipv6) {
		swapped = canonicalise4(&p.key4);
		action = flow4_verdict(&p.key4, len, st, &dscp);
	} else {
		swapped = canonicalise(&p.key);
		v = lookup_flow6(&p.key);
		if (v) {
			action = use_verdict(v, len, st);
			dscp = v->dscp;
		}
	}
	if (action != FS_ACTION_NONE)
		st->c[FS_CNT_FLOW_HIT]++;
	if (action == FS_ACTION_NONE) {
		/* The source address is the lo or hi endpoint, depending on the order. */
		if (p.ipv6) {
			struct fs_lpm_v6_key k6 = {.prefixlen = 128};
			__builtin_memcpy(k6.addr, swapped ? p.key.hi_addr : p.key.lo_addr, 16);
			v = bpf_map_lookup_elem(&fs_prefix_v6, &k6);
		} else {
			struct fs_lpm_v4_key k4 = {.prefixlen = 32};
			__builtin_memcpy(k4.addr, swapped ? p.key4.hi_addr : p.key4.lo_addr, 4);
			v = bpf_map_lookup_elem(&fs_prefix_v4, &k4);
		}
		if (v) {
			action = use_verdict(v, len, st);
			if (action != FS_ACTION_NONE) {
				dscp = v->dscp;
				st->c[FS_CNT_PREFIX_HIT]++;
			}
		}
	}

	if (action == FS_ACTION_NONE)
		action = mitigate(&p, (void *)(long)ctx->data_end, st);

	switch (action) {
	case FS_ACTION_DROP:
		st->c[FS_CNT_DROP]++;
		return XDP_DROP;
	case FS_ACTION_TAG:
		set_dscp(&p, (void *)(long)ctx->data_end, dscp);
		st->c[FS_CNT_TAG]++;
		return forward(ctx, st);
	case FS_ACTION_PASS:
		st->c[FS_CNT_PASS]++;
		return forward(ctx, st);
	}

	struct fs_iface *cfg = iface_config(ctx);
	__u32 queue = ctx->rx_queue_index;
	if (cfg && queue < cfg->xsk_count) {
		__u32 stamped = stamp_arrival(ctx);
		if (bpf_redirect_map(&fs_xsks, cfg->xsk_base + queue, 0) == XDP_REDIRECT) {
			st->c[FS_CNT_USER]++;
			return XDP_REDIRECT;
		}
		unstamp(ctx, stamped); /* no socket: forward the frame as it came */
	} else {
		st->c[FS_CNT_QUEUE_UNMAPPED]++;
	}
	st->c[FS_CNT_FAIL_OPEN]++;
	st->c[FS_CNT_FORWARD]++;
	return forward(ctx, st);
}
