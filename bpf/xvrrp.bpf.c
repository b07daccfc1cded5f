//go:build ignore

// SPDX-License-Identifier: GPL-2.0
//
// xvrrp's receive path: an XDP program that recognises VRRP adverts (RFC 5798
// VRRPv3, RFC 3768 VRRPv2) before netfilter sees them, validates what a
// receiver can check per packet, rate-limits them and hands the accepted ones
// to the daemon through a ring buffer. Everything that is not IP protocol 112
// leaves through the cheapest path possible: XDP_PASS, one counter.
//
// Structs and enums that cross into Go are exported by bpf2go (-type), so
// their layout is declared here and only here (see gen.go).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define XVRRP_IPPROTO_VRRP 112
// RFC 5798 §5.1.1.3 / RFC 3768 §5.2.3: adverts are sent with TTL 255.
#define XVRRP_TTL 255
#define XVRRP_ADVERT_TYPE 1
// Adverts are never fragmented and never larger than one Ethernet frame's IP
// payload (keepalived sizes them to the interface MTU); bounding the VRRP
// length keeps the checksum loop provable for the verifier. Larger claimed
// lengths are counted as bad length.
#define XVRRP_MAX_VRRP_LEN 1480
#define XVRRP_MAX_PEERS 8
// Table sizes (the loader reads them from the map specs): interfaces with
// instances, instances, and the policy entries beyond one per instance that
// let the loader write a changed policy beside the live one and switch
// (see vrids).
#define XVRRP_MAX_IFSLOTS 1024
#define XVRRP_MAX_INSTANCES 16384
#define XVRRP_POLICY_SPARES 1024
// Entries of an instance's source table (struct xvrrp_sources): sets of two.
#define XVRRP_SRC_SETS 8
#define XVRRP_SRC_WAYS 2
// Payload room of the two ring record sizes: the small one holds every common
// advert (v3/IPv4 up to 14 addresses, v2 up to 12, v3/IPv6 up to 3).
#define XVRRP_SMALL_PAYLOAD 64
#define XVRRP_NS_PER_SEC 1000000000ULL
// Elapsed time credited to a bucket is capped so that elapsed*rate cannot
// overflow (rate <= 1e6/s is enforced by the loader); 60 s refills any bucket
// the loader accepts.
#define XVRRP_MAX_REFILL_NS (60ULL * XVRRP_NS_PER_SEC)
// A repeat of the followed master may keep the stamp of one under 2 ticks
// before it only when the master's on-time window is over this many ticks
// (its interval over 4): see follow_master.
#define XVRRP_KEEP_STAMP_TICKS 6

// Outcome of one frame. Every frame moves exactly one counter. Keep the Go
// names (loader/reasons.go) in step: a test fails when they drift.
enum xvrrp_reason {
	XVRRP_REASON_ACCEPTED = 0,
	XVRRP_REASON_NOT_VRRP,
	XVRRP_REASON_BAD_LENGTH,
	XVRRP_REASON_BAD_VERSION,
	XVRRP_REASON_BAD_TYPE,
	XVRRP_REASON_BAD_AUTH_TYPE,
	XVRRP_REASON_BAD_TTL,
	XVRRP_REASON_BAD_CHECKSUM,
	XVRRP_REASON_BAD_DESTINATION,
	XVRRP_REASON_FRAGMENT,
	XVRRP_REASON_UNKNOWN_VRID,
	XVRRP_REASON_PEER_NOT_ALLOWED,
	XVRRP_REASON_RATE_LIMITED_SOURCE,
	XVRRP_REASON_RATE_LIMITED_INSTANCE,
	XVRRP_REASON_RING_FULL,
	XVRRP_REASON_MASTER_REPEAT,
	XVRRP_REASON_MASTER_ON_TIME,
	XVRRP_REASON_MAX,
};

// The counters of one CPU: one field per reason, in enum order, so that
// `bpftool map dump` shows every counter by name (array maps only take
// integer keys in BTF, so the enum cannot name the key). A Go test checks
// the field names and offsets against the enum.
struct xvrrp_stats {
	__u64 accepted;
	__u64 not_vrrp;
	__u64 bad_length;
	__u64 bad_version;
	__u64 bad_type;
	__u64 bad_auth_type;
	__u64 bad_ttl;
	__u64 bad_checksum;
	__u64 bad_destination;
	__u64 fragment;
	__u64 unknown_vrid;
	__u64 peer_not_allowed;
	__u64 rate_limited_source;
	__u64 rate_limited_instance;
	__u64 ring_full;
	__u64 master_repeat;
	__u64 master_on_time;
};
_Static_assert(sizeof(struct xvrrp_stats) == XVRRP_REASON_MAX * sizeof(__u64), "struct xvrrp_stats must have one counter per reason");

enum xvrrp_family {
	XVRRP_FAMILY_IPV4 = 4,
	XVRRP_FAMILY_IPV6 = 6,
};

// Which instance a policy is for (struct xvrrp_policy.key), so that a dump
// of policies reads by instance. Addresses everywhere are 16 bytes; IPv4
// uses the first four and leaves the rest zero.
struct xvrrp_instance_key {
	__u32 ifindex;
	__u8 vrid;
	__u8 family; // enum xvrrp_family
	__u16 _pad;
};

// Token bucket; tokens in units of 1e-9 token so refill needs no division.
struct xvrrp_bucket {
	__u64 nanotokens;
	__u64 last_ns;
};

// Per-instance receive policy, programmed by the daemon, and the instance's
// aggregate token bucket, which lives here to save a map lookup per advert.
struct xvrrp_policy {
	struct xvrrp_instance_key key;
	__u8 version; // 2 or 3; other versions are bad version
	__u8 min_ttl; // 255/255 for multicast (RFC 5798 §7.1); keepalived min_ttl/max_ttl relax it for unicast
	__u8 max_ttl;
	__u8 checksum_as_v2; // keepalived v3_checksum_as_v2: IPv4 v3 checksum without pseudo-header
	__u8 legacy_unicast_checksum; // IPv4 v3: also accept the pseudo-header built with 224.0.0.18
	__u8 peer_count; // 0: multicast instance; >0: unicast, source must be one of peers
	__u8 has_master; // master holds the master the daemon follows
	__u8 _pad;
	__u32 slot; // this instance's entry in heard, unique per instance
	__u32 sources; // this instance's entry in sources, unique per instance
	__u32 src_rate; // tokens per second, per (instance, source)
	__u32 src_burst;
	__u32 inst_rate; // tokens per second, all sources of the instance together
	__u32 inst_burst;
	__u8 group[16]; // multicast destination of a multicast instance
	// The master the daemon follows: its adverts are bounded by their own
	// source bucket only, not the aggregate, so a flood from other sources
	// spending the aggregate cannot starve the backup of its master's
	// adverts (a false failover). Spoofed copies of it share its bucket.
	__u8 master[16];
	__u8 peers[XVRRP_MAX_PEERS][16];
	// State, written by the program: all sources of the instance together.
	// The loader zeroes it on every update; the first advert refills it to
	// inst_burst.
	struct xvrrp_bucket aggregate;
	// The source bucket of master (src_rate, src_burst), kept here rather
	// than in sources: the advert a backup receives most is its master's,
	// and no other source can take its place. Zeroed with aggregate.
	struct xvrrp_bucket master_bucket;
};

// What a backup hears of its master, one entry per instance (policy slot).
// A master repeats the same advert every interval; all a backup does with
// a repeat is restart its Master_Down_Timer (RFC 5798 §6.4.2). The daemon
// writes here the first 8 bytes of the last advert it accepted from the
// master it follows (version/type, VRID, priority, count, interval and the
// checksum, which covers the addresses and, in v3, the source); an advert
// from that master with the same 8 bytes is recorded here (when, how many)
// instead of in the ring, and the daemon reads the time when its timer
// expires, from this map mapped into its memory: no ring record, no
// wake-up, no system call per repeat. Anything else the master sends (a new
// priority, priority 0, a new interval or address list) goes through the
// ring as before.
//
// While that master repeats on time (the latest repeat less than
// on_time_ns ago, which the daemon sets to one and a half of the master's
// interval), other sources' adverts are dropped: a backup that hears its
// master changes nothing for them (RFC 5798 §6.4.2: an advert it accepts
// only restarts the timer the repeats restart anyway, one it discards is
// discarded). A flood of valid-looking adverts then costs the daemon
// nothing; once the master misses an advert, they pass to the daemon again
// (within the rate limits), long before its Master_Down_Timer expires.
struct xvrrp_heard {
	__u64 master_hdr; // daemon: the repeat to record; 0: record none
	__u64 last_ns; // program: bpf_ktime_get_ns of the latest repeat, or of one under 2 ticks before it (see follow_master)
	__u64 count; // program: repeats recorded
	__u64 on_time_ns; // daemon: how long after a repeat the master is on time
};

// The bucket of one source of an instance other than its master.
struct xvrrp_src_bucket {
	__u8 src[16];
	struct xvrrp_bucket bucket; // last_ns 0: the entry is free
};

// The per-source buckets of one instance: a source's bucket is one of the
// two ways of the set its address hashes to. A new source takes a free way,
// else the one of the two least recently used: a peer advertises every
// interval and keeps its entry fresh, while a spoofed source is only ever
// entered when the instance's aggregate bucket admits it, so a flood from
// any number of sources churns the table no faster than the aggregate rate
// and costs no more memory than these 16 entries. The table replaces an
// LRU hash keyed by (instance, source), whose lookup cost a flood 50-60 ns
// per frame; this one is an array element the verifier inlines.
struct xvrrp_sources {
	struct xvrrp_src_bucket e[XVRRP_SRC_SETS * XVRRP_SRC_WAYS];
};

// The value of vrids: which policies entry holds the instance; 0: none.
struct xvrrp_vrid {
	__u32 policy;
};

// Fixed header of each ring record; the VRRP bytes follow it.
struct xvrrp_event {
	__u64 timestamp_ns; // bpf_ktime_get_ns: CLOCK_MONOTONIC
	__u32 ifindex;
	__u16 vlan; // outer 802.1Q/802.1ad VLAN ID, 0 when untagged
	__u16 vlan_inner; // inner VLAN ID of a double-tagged frame, else 0
	__u8 src[16];
	__u8 dst[16];
	__u16 length; // VRRP bytes that follow the header
	__u8 family; // enum xvrrp_family
	__u8 ttl; // TTL or hop limit
	__u8 _pad[4];
};

struct xvrrp_event_small {
	struct xvrrp_event hdr;
	__u8 payload[XVRRP_SMALL_PAYLOAD];
};

struct xvrrp_event_large {
	struct xvrrp_event hdr;
	__u8 payload[XVRRP_MAX_VRRP_LEN];
};

// The instance table is three arrays, so that finding an advert's instance
// costs two array lookups, which the verifier inlines (a hash lookup cost
// 35-40 ns per frame, half of a 10 GbE frame's budget). Each interface that
// has instances or a program copy gets a slot (ifslots, kept by the loader
// and read by no program: each interface's program copy has its slot as a
// load-time constant); vrids, indexed by
// ifslot * 512 + VRID * 2 + (family == IPv6), names the policies entry of
// the instance. A changed policy is written to a free policies entry and
// switched to by one 4-byte write in vrids, so a frame never sees half of
// one.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVRRP_MAX_IFSLOTS);
	__type(key, __u32); // ifindex
	__type(value, __u32); // ifslot, 1 and up
} ifslots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVRRP_MAX_IFSLOTS * 512);
	__type(key, __u32);
	__type(value, struct xvrrp_vrid);
} vrids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVRRP_MAX_INSTANCES + XVRRP_POLICY_SPARES);
	__type(key, __u32);
	__type(value, struct xvrrp_policy);
} policies SEC(".maps");

// Indexed by xvrrp_policy.sources.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVRRP_MAX_INSTANCES);
	__type(key, __u32);
	__type(value, struct xvrrp_sources);
} sources SEC(".maps");

// Indexed by xvrrp_policy.slot; mapped into the daemon's memory.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct xvrrp_heard);
} heard SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // the loader resizes it (Options.RingBytes)
} events SEC(".maps");

// How the reader of events wants to be told of new records, set by the
// daemon. While it is busy it polls the ring on its own clock and asks for
// no wake-ups: each one costs the receiving CPU an interrupt (irq_work) and
// the reader a scheduler round trip, for records it would read anyway.
struct xvrrp_ring_ctl {
	__u32 reader_polls; // 1: submit with BPF_RB_NO_WAKEUP
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvrrp_ring_ctl);
} ring_ctl SEC(".maps");

// One per attached interface (the loader gives each program copy its own),
// so counters are per interface at no cost on the fast path. One entry:
// the counters are the fields of its value.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvrrp_stats);
} stats SEC(".maps");

// Per-interface options, fixed at load time (the loader reloads and swaps
// the program atomically to change them): free on the fast path.
volatile const __u8 xvrrp_drop_unknown_vrid = 0;
volatile const __u8 xvrrp_consume_accepted = 0;
// The interface the copy runs on and its slot in vrids (0: none, every
// VRID unknown). A frame from another interface (none reaches an attached
// copy) finds no instance.
volatile const __u32 xvrrp_ifindex = 0;
volatile const __u32 xvrrp_ifslot = 0;
// The clock of the drop paths (see now), set by the loader from one
// reading of both clocks by xvrrp_clock: the jiffies count clock_jiffies
// was at CLOCK_MONOTONIC clock_mono_ns; a jiffy lasts tick_ns.
volatile const __u64 xvrrp_clock_jiffies = 0;
volatile const __u64 xvrrp_clock_mono_ns = 0;
volatile const __u64 xvrrp_tick_ns = 0;

// Types only user space reads need a BTF reference for bpf2go -type; these
// read-only globals are that reference and are never used.
const enum xvrrp_reason *const xvrrp_btf_reason = 0;
const enum xvrrp_family *const xvrrp_btf_family = 0;
const struct xvrrp_instance_key *const xvrrp_btf_instance_key = 0;
const struct xvrrp_event *const xvrrp_btf_event = 0;
const struct xvrrp_ring_ctl *const xvrrp_btf_ring_ctl = 0;
const struct xvrrp_heard *const xvrrp_btf_heard = 0;

// CLOCK_MONOTONIC to within a tick (1-10 ms, CONFIG_HZ), from the jiffies
// count: the kernel advances jiffies from CLOCK_MONOTONIC, one per tick, so
// the two keep their distance. bpf_jiffies64 is one memory read; on the
// machine of docs/benchmarks.md bpf_ktime_get_ns cost a drop 35 ns and
// bpf_ktime_get_coarse_ns 15. A frame that is dropped needs no better: token
// buckets refill at adverts per second, and the master's repeats and its
// on-time window are in centiseconds (RFC 5798 §5.2.7). Accepted adverts and
// the master's repeats (which time the backup's failover) carry the precise
// time; of a flood of copies of a repeat, about one a tick does (see
// follow_master).
static __always_inline __u64 now(void)
{
	return (bpf_jiffies64() - xvrrp_clock_jiffies) * xvrrp_tick_ns + xvrrp_clock_mono_ns;
}

// Not linux/if_ether.h's ethhdr: that one is packed, which makes clang load
// the EtherType a byte at a time.
struct xvrrp_eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 h_proto;
};

struct xvrrp_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xvrrp_ipv4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct xvrrp_ipv6_hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline __u32 fold32(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return (__u32)s;
}

static __always_inline __u16 fold16(__u64 s)
{
	__u32 v = fold32(s);
	v = (v & 0xffff) + (v >> 16);
	v = (v & 0xffff) + (v >> 16);
	return (__u16)v;
}

// Refill b at rate tokens/s up to burst; take one token when there is one.
// Returns 1 when a token was taken. Concurrent CPUs updating one bucket race
// without a lock: one flow lands on one RX queue, and a lost race lets at
// most one extra packet per CPU through, which the aggregate bucket bounds.
static __always_inline int bucket_refill(struct xvrrp_bucket *b, __u64 now, __u32 rate, __u32 burst)
{
	__u64 cap = (__u64)burst * XVRRP_NS_PER_SEC;
	// A bucket never used (last_ns 0: the daemon programs policies zeroed)
	// starts full. Refilling it by now - 0 would make its first tokens
	// depend on how long ago the machine booted.
	__u64 elapsed = XVRRP_MAX_REFILL_NS;
	if (b->last_ns)
		elapsed = now > b->last_ns ? now - b->last_ns : 0;
	if (elapsed > XVRRP_MAX_REFILL_NS)
		elapsed = XVRRP_MAX_REFILL_NS;
	__u64 t = b->nanotokens + elapsed * rate;
	if (t > cap)
		t = cap;
	b->last_ns = now;
	b->nanotokens = t;
	return t >= XVRRP_NS_PER_SEC;
}

static __always_inline int from_master(const struct xvrrp_policy *pol, const __u8 *src)
{
	if (!pol->has_master)
		return 0;
	const __u32 *a = (const __u32 *)src, *m = (const __u32 *)pol->master;
	return a[0] == m[0] && a[1] == m[1] && a[2] == m[2] && a[3] == m[3];
}

static __always_inline int is_multicast(const __u8 *a, __u8 family)
{
	if (family == XVRRP_FAMILY_IPV4)
		return (a[0] & 0xf0) == 0xe0 || (a[0] == 0xff && a[1] == 0xff && a[2] == 0xff && a[3] == 0xff);
	return a[0] == 0xff;
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u64 *)a == *(const __u64 *)b && *(const __u64 *)(a + 8) == *(const __u64 *)(b + 8);
}


// The receive path runs in stages over one packet context, one stage per
// group of reasons; each returns the reason that ends the frame's journey,
// or XVRRP_NEXT to hand it to the next stage. The stages know nothing of
// the hook: an entry point per hook (XDP, TC) fills the context from its
// own ctx, runs xvrrp_receive and turns the reason into its own verdict,
// so both hooks run the same parser and the same checks.
#define XVRRP_NEXT -1

// enum tcx_action_base (linux/bpf.h since 6.6; the build's headers may be
// older): what a TCX program returns.
#define XVRRP_TCX_NEXT -1 // on to the next program, the stack after the last
#define XVRRP_TCX_DROP 2

enum xvrrp_hook {
	XVRRP_HOOK_XDP,
	XVRRP_HOOK_TC,
};

struct xvrrp_pkt {
	void *ctx; // struct xdp_md or struct __sk_buff, as hook says
	void *data;
	void *data_end;
	// parse_frame: where the VRRP header is and what the IP header says.
	void *vrrp;
	__u32 vlen;
	__u32 ifindex;
	__u16 vlan;
	__u16 vlan_inner;
	__u8 ntags; // VLAN tags seen, the hook's offloaded one included
	__u8 truncated; // a header ran past data_end (TC: may be a non-linear skb)
	__u8 family;
	__u8 ttl;
	__u8 src[16];
	__u8 dst[16];
	// check_instance onwards.
	struct xvrrp_policy *pol;
	// From the checksum stage onwards: now().
	__u64 now;
	int master; // from the master the daemon follows
};

// Ethernet, up to two VLAN tags (outer 802.1ad or 802.1Q, inner 802.1Q:
// QinQ), IPv4 or IPv6 up to the VRRP bytes. Anything but IP protocol 112
// leaves here as not VRRP; from protocol 112 on, junk is dropped.
static __always_inline int parse_frame(struct xvrrp_pkt *p)
{
	struct xvrrp_eth_hdr *eth = p->data;
	void *data_end = p->data_end;

	if ((void *)(eth + 1) > data_end) {
		p->truncated = 1;
		return XVRRP_REASON_NOT_VRRP;
	}
	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		// A third tag (two in the frame after one the NIC took off)
		// is not followed: proto stays a tag and the frame is not VRRP.
		if (p->ntags >= 2)
			break;
		struct xvrrp_vlan_hdr *vh = l3;
		if ((void *)(vh + 1) > data_end) {
			p->truncated = 1;
			return XVRRP_REASON_NOT_VRRP;
		}
		if (p->ntags == 0)
			p->vlan = bpf_ntohs(vh->tci) & 0x0fff;
		else
			p->vlan_inner = bpf_ntohs(vh->tci) & 0x0fff;
		p->ntags++;
		proto = vh->proto;
		l3 = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct xvrrp_ipv4_hdr *ip = l3;
		if ((void *)(ip + 1) > data_end) {
			p->truncated = 1;
			return XVRRP_REASON_NOT_VRRP;
		}
		if (ip->protocol != XVRRP_IPPROTO_VRRP)
			return XVRRP_REASON_NOT_VRRP;
		// Any fragment (MF set or non-zero offset) is not an advert:
		// adverts fit one frame, and a fragment's bytes cannot be
		// checked alone.
		if (ip->frag_off & bpf_htons(0x3fff))
			return XVRRP_REASON_FRAGMENT;
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		__u32 tot = bpf_ntohs(ip->tot_len);
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl)
			return XVRRP_REASON_BAD_LENGTH;
		// tot_len, not the frame end, bounds the advert: Ethernet pads
		// short frames.
		if (l3 + tot > data_end) {
			p->truncated = 1;
			return XVRRP_REASON_BAD_LENGTH;
		}
		p->vlen = tot - ihl;
		p->vrrp = l3 + ihl; // IHL > 5: options are skipped, not interpreted
		p->family = XVRRP_FAMILY_IPV4;
		p->ttl = ip->ttl;
		*(__be32 *)p->src = ip->saddr;
		*(__be32 *)p->dst = ip->daddr;
		return XVRRP_NEXT;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct xvrrp_ipv6_hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end) {
			p->truncated = 1;
			return XVRRP_REASON_NOT_VRRP;
		}
		// Only next header 112 directly after the fixed header is an
		// advert here. Extension headers are not walked: a VRRP packet
		// behind one (hop-by-hop, destination options, fragment...) is
		// passed to the stack untouched and counted as not VRRP. RFC
		// 5798 senders never add them.
		if (ip6->nexthdr != XVRRP_IPPROTO_VRRP)
			return XVRRP_REASON_NOT_VRRP;
		p->vlen = bpf_ntohs(ip6->payload_len);
		p->vrrp = ip6 + 1;
		if (p->vrrp + p->vlen > data_end) {
			p->truncated = 1;
			return XVRRP_REASON_BAD_LENGTH;
		}
		p->family = XVRRP_FAMILY_IPV6;
		p->ttl = ip6->hop_limit;
		__builtin_memcpy(p->src, ip6->saddr, 16);
		__builtin_memcpy(p->dst, ip6->daddr, 16);
		return XVRRP_NEXT;
	}
	return XVRRP_REASON_NOT_VRRP;
}

// The VRRP header on its own: length, version, type, authentication type,
// and the length against the count of addresses.
static __always_inline int check_header(struct xvrrp_pkt *p)
{
	__u32 vlen = p->vlen;
	if (vlen < 8 || vlen > XVRRP_MAX_VRRP_LEN)
		return XVRRP_REASON_BAD_LENGTH;
	if (p->vrrp + 8 > p->data_end)
		return XVRRP_REASON_BAD_LENGTH;
	__u8 *v = p->vrrp;
	__u8 version = v[0] >> 4;

	// RFC 5798 §7.1 / RFC 3768 §7.1: version must be 3 (or 2), type 1.
	// VRRPv2 (RFC 3768) exists only for IPv4.
	if (version != 3 && !(version == 2 && p->family == XVRRP_FAMILY_IPV4))
		return XVRRP_REASON_BAD_VERSION;
	if ((v[0] & 0x0f) != XVRRP_ADVERT_TYPE)
		return XVRRP_REASON_BAD_TYPE;
	// RFC 3768 §5.3.6: an unknown authentication type is discarded; 1
	// (simple password) and 2 (AH) are RFC 2338's, still sent by
	// keepalived. Whether the password matches is the daemon's check.
	if (version == 2 && v[4] > 2)
		return XVRRP_REASON_BAD_AUTH_TYPE;

	// RFC 5798 §7.1 / RFC 3768 §7.1: the length must match the count of
	// addresses; v2 carries 8 bytes of authentication data after them
	// (RFC 3768 §5.3.10). Like keepalived, the match is exact.
	__u32 want = 8 + (__u32)v[3] * (p->family == XVRRP_FAMILY_IPV4 ? 4 : 16) + (version == 2 ? 8 : 0);
	if (vlen != want)
		return XVRRP_REASON_BAD_LENGTH;
	return XVRRP_NEXT;
}

// The instance the advert is for, and what its policy says of version,
// TTL, destination and source.
static __always_inline int check_instance(struct xvrrp_pkt *p)
{
	__u8 *v = p->vrrp;
	// RFC 5798 §7.1: a VRID not configured here is discarded by us, but
	// another VRRP cluster may share the LAN: the verdict (drops) is the
	// interface's choice.
	if (p->ifindex != xvrrp_ifindex || xvrrp_ifslot == 0 || xvrrp_ifslot >= XVRRP_MAX_IFSLOTS)
		return XVRRP_REASON_UNKNOWN_VRID;
	__u32 vk = xvrrp_ifslot * 512 + (__u32)v[1] * 2 + (p->family == XVRRP_FAMILY_IPV6);
	struct xvrrp_vrid *vi = bpf_map_lookup_elem(&vrids, &vk);
	if (!vi || !vi->policy)
		return XVRRP_REASON_UNKNOWN_VRID;
	__u32 pi = vi->policy;
	struct xvrrp_policy *pol = bpf_map_lookup_elem(&policies, &pi);
	if (!pol)
		return XVRRP_REASON_UNKNOWN_VRID;
	p->pol = pol;
	if ((v[0] >> 4) != pol->version)
		return XVRRP_REASON_BAD_VERSION;

	// RFC 5798 §7.1 / RFC 3768 §7.1: TTL/hop limit must be 255; the
	// policy relaxes it for unicast peers (keepalived min_ttl/max_ttl).
	if (p->ttl < pol->min_ttl || p->ttl > pol->max_ttl)
		return XVRRP_REASON_BAD_TTL;

	// RFC 5798 §5.1.1.2 / §5.1.2.2: multicast instances receive on their
	// group (224.0.0.18 / ff02::12 unless keepalived's vrrp_mcast_group4/6
	// say otherwise); unicast instances (keepalived unicast_peer) only on
	// a unicast address, and only from a configured peer.
	__u32 npeers = pol->peer_count;
	if (npeers == 0) {
		if (!addr_eq(p->dst, pol->group))
			return XVRRP_REASON_BAD_DESTINATION;
		return XVRRP_NEXT;
	}
	if (is_multicast(p->dst, p->family))
		return XVRRP_REASON_BAD_DESTINATION;
	int ok = 0;
#pragma unroll
	for (int i = 0; i < XVRRP_MAX_PEERS; i++) {
		if (i < npeers && addr_eq(p->src, pol->peers[i]))
			ok = 1;
	}
	if (!ok)
		return XVRRP_REASON_PEER_NOT_ALLOWED;
	return XVRRP_NEXT;
}

// Checksum (RFC 5798 §5.2.8 with the pseudo-header of RFC 8200 §8.1 /
// RFC 768; RFC 3768 §5.3.8 over the VRRP packet alone). Sum the VRRP bytes
// once, then try the variants the policy allows. The length is a multiple
// of 4 (check_header), so 32-bit words cover it.
static __always_inline int check_checksum(struct xvrrp_pkt *p)
{
	const struct xvrrp_policy *pol = p->pol;
	void *vrrp = p->vrrp;
	__u32 vlen = p->vlen;
	__u64 sum = 0;
	__u32 nwords = vlen / 4;
	for (__u32 i = 0; i < XVRRP_MAX_VRRP_LEN / 4; i++) {
		if (i >= nwords)
			break;
		__u32 *w = vrrp + i * 4;
		if ((void *)(w + 1) > p->data_end)
			break; // cannot happen (bounded above); tells the verifier
		sum += *w;
	}
	int csum_ok;
	// keepalived applies v3_checksum_as_v2 and the legacy unicast form to
	// IPv4 only; IPv6 always uses the pseudo-header.
	if ((*(__u8 *)vrrp >> 4) == 2 || (pol->checksum_as_v2 && p->family == XVRRP_FAMILY_IPV4)) {
		csum_ok = fold16(sum) == 0xffff;
	} else {
		__u64 ps = sum;
		if (p->family == XVRRP_FAMILY_IPV4) {
			ps += *(__u32 *)p->src;
			ps += bpf_htonl((XVRRP_IPPROTO_VRRP << 16) | vlen);
		} else {
			const __u32 *s = (const __u32 *)p->src;
			ps += (__u64)s[0] + s[1] + s[2] + s[3];
			ps += bpf_htonl(vlen) + bpf_htonl(XVRRP_IPPROTO_VRRP);
		}
		__u64 with_dst = ps;
		if (p->family == XVRRP_FAMILY_IPV4) {
			with_dst += *(__u32 *)p->dst;
		} else {
			const __u32 *d = (const __u32 *)p->dst;
			with_dst += (__u64)d[0] + d[1] + d[2] + d[3];
		}
		csum_ok = fold16(with_dst) == 0xffff;
		if (!csum_ok && pol->legacy_unicast_checksum && p->family == XVRRP_FAMILY_IPV4) {
			// keepalived <= 1.3.6 built unicast v3 checksums with
			// 224.0.0.18 as the pseudo-header destination; keepalived
			// still accepts them (vrrp.c, vrrp_check_packet).
			ps += bpf_htonl(0xe0000012);
			csum_ok = fold16(ps) == 0xffff;
		}
	}
	if (!csum_ok)
		return XVRRP_REASON_BAD_CHECKSUM;
	return XVRRP_NEXT;
}

// RFC 5798 §6.4.2: a repeat of the followed master's advert only restarts
// the backup's Master_Down_Timer; record when it came (see struct
// xvrrp_heard). Before the rate limits: a repeat costs the daemon nothing,
// so spoofed copies of it need no bucket, and they leave the master's
// bucket to the master's other adverts. While the master repeats on time,
// other sources are dropped.
//
// The time recorded is the precise clock, not now()'s tick: it restarts the
// backup's Master_Down_Timer, and a time a tick late would delay a failover
// by up to a tick, one a tick early would fail over early. That clock costs
// more than the rest of this path, though, and while a master repeats once
// an interval, a flood of copies of its advert (replayed, or spoofed from
// its address) comes thousands of times a tick. So a repeat that finds a
// stamp at most a tick older than now() keeps it and is only counted: a
// flood pays for the precise clock about once a tick.
//
// How old a kept stamp can be: now() is t + phi, where t is when the
// current jiffy was due and phi (under a tick) how far into its jiffy the
// loader's calibration read both clocks; the jiffy lasts until t + tick,
// plus however late the timer interrupt moves jiffies on. A kept stamp is
// at least now() - tick = t - tick + phi, so it is less than 2 ticks - phi
// (plus that lateness) older than the repeat that keeps it, and the first
// repeat after that is stamped again. (Keeping only stamps no older than
// now() would keep none in the first phi of every jiffy, where now() is
// ahead of the precise clock, and phi is anything up to a tick: a flood
// could pay the precise clock for nearly every copy.)
//
// A master's own repeats come an interval apart, and a master whose
// interval is over 4 ticks (16 ms at HZ=250, 40 ms at HZ=100: on_time_ns,
// 1.5 intervals, over XVRRP_KEEP_STAMP_TICKS ticks) has every one stamped:
// two of them under 2 ticks apart would need one to come more than half an
// interval late against the next, and even then the backup's timer would
// restart less than 2 ticks early, under half an interval of the three
// intervals and the skew it runs. A master at a shorter interval has every
// repeat stamped, copies included.
static __always_inline int follow_master(struct xvrrp_pkt *p)
{
	__u32 slot = p->pol->slot;
	struct xvrrp_heard *h = bpf_map_lookup_elem(&heard, &slot);
	if (!h || !h->master_hdr)
		return XVRRP_NEXT;
	if (p->master) {
		__u64 got;
		__builtin_memcpy(&got, p->vrrp, sizeof(got));
		if (got != h->master_hdr)
			return XVRRP_NEXT;
		// One flow lands on one RX queue: one writer, as for the
		// buckets; a lost race loses one count, never a time. last_ns
		// 0 (none yet) is stamped: now() is past the first tick after
		// boot.
		if (h->last_ns + xvrrp_tick_ns < p->now ||
		    h->on_time_ns <= XVRRP_KEEP_STAMP_TICKS * xvrrp_tick_ns)
			h->last_ns = bpf_ktime_get_ns();
		h->count += 1;
		return XVRRP_REASON_MASTER_REPEAT;
	}
	// last_ns 0: no repeat yet. Not "0 ns after boot", which on a machine
	// up for less than the window would look on time.
	// now() is within a tick of the precise clock, behind or ahead: a
	// repeat stamped after it is 0 old.
	__u64 age = p->now > h->last_ns ? p->now - h->last_ns : 0;
	if (h->last_ns && age < h->on_time_ns)
		return XVRRP_REASON_MASTER_ON_TIME;
	return XVRRP_NEXT;
}

// Whether entry e is in use and is the bucket of src.
static __always_inline int holds(const struct xvrrp_src_bucket *e, const __u8 *src)
{
	return e->bucket.last_ns && addr_eq(e->src, src);
}

// Rate limits come before the ring reservation so a flood costs the ring
// nothing. The master the daemon follows has its own bucket in the policy
// and skips the aggregate. For any other source, a known one with an empty
// bucket is dropped without touching the aggregate; a new source is only
// entered when the aggregate has a token, so a spoofed-source flood churns
// the source table no faster than the aggregate rate.
static __always_inline int admit(struct xvrrp_pkt *p)
{
	struct xvrrp_policy *pol = p->pol;
	__u64 now = p->now;
	if (p->master) {
		if (!bucket_refill(&pol->master_bucket, now, pol->src_rate, pol->src_burst))
			return XVRRP_REASON_RATE_LIMITED_SOURCE;
		pol->master_bucket.nanotokens -= XVRRP_NS_PER_SEC;
		return XVRRP_NEXT;
	}
	__u32 si = pol->sources;
	struct xvrrp_sources *row = bpf_map_lookup_elem(&sources, &si);
	if (!row)
		return XVRRP_REASON_RATE_LIMITED_SOURCE; // cannot happen: the loader gives every instance a row
	const __u32 *s = (const __u32 *)p->src;
	// Fibonacci hashing of the address folded to 32 bits: the top bits
	// pick the set.
	__u32 set = ((s[0] ^ s[1] ^ s[2] ^ s[3]) * 2654435761U) >> (32 - 3);
	_Static_assert(XVRRP_SRC_SETS == 1 << 3, "the set is the hash's top 3 bits");
	struct xvrrp_src_bucket *e0 = &row->e[set * XVRRP_SRC_WAYS], *e1 = e0 + 1;
	struct xvrrp_src_bucket *known = 0;
	if (holds(e0, p->src))
		known = e0;
	else if (holds(e1, p->src))
		known = e1;
	struct xvrrp_bucket *sb = known ? &known->bucket : 0;
	if (sb && !bucket_refill(sb, now, pol->src_rate, pol->src_burst))
		return XVRRP_REASON_RATE_LIMITED_SOURCE;
	if (!bucket_refill(&pol->aggregate, now, pol->inst_rate, pol->inst_burst))
		return XVRRP_REASON_RATE_LIMITED_INSTANCE;
	pol->aggregate.nanotokens -= XVRRP_NS_PER_SEC;
	if (sb) {
		sb->nanotokens -= XVRRP_NS_PER_SEC;
		return XVRRP_NEXT;
	}
	if (pol->src_burst == 0)
		return XVRRP_REASON_RATE_LIMITED_SOURCE;
	// A free way, else the one used least recently.
	struct xvrrp_src_bucket *e = e0;
	if (e0->bucket.last_ns && (!e1->bucket.last_ns || e1->bucket.last_ns < e0->bucket.last_ns))
		e = e1;
	__builtin_memcpy(e->src, p->src, 16);
	e->bucket.nanotokens = ((__u64)pol->src_burst - 1) * XVRRP_NS_PER_SEC;
	e->bucket.last_ns = now;
	return XVRRP_NEXT;
}

// Copies len packet bytes from off into dst with the hook's helper; hook is
// a constant after inlining, so each program holds only its own helper.
static __always_inline long load_bytes(const struct xvrrp_pkt *p, enum xvrrp_hook hook, __u32 off, void *dst, __u32 len)
{
	if (hook == XVRRP_HOOK_XDP)
		return bpf_xdp_load_bytes(p->ctx, off, dst, len);
	return bpf_skb_load_bytes(p->ctx, off, dst, len);
}

// The accepted advert goes to the daemon through the ring.
static __always_inline int emit(struct xvrrp_pkt *p, enum xvrrp_hook hook)
{
	__u32 off = p->vrrp - p->data;
	__u32 vlen = p->vlen;
	// Cannot happen (check_header bounds it); tells the verifier, which
	// no longer knows the bounds of a value reloaded from the context.
	if (vlen < 8 || vlen > XVRRP_MAX_VRRP_LEN)
		return XVRRP_REASON_BAD_LENGTH;
	struct xvrrp_event *e;
	long err;
	if (vlen <= XVRRP_SMALL_PAYLOAD) {
		struct xvrrp_event_small *s = bpf_ringbuf_reserve(&events, sizeof(*s), 0);
		if (!s)
			return XVRRP_REASON_RING_FULL;
		err = load_bytes(p, hook, off, s->payload, vlen);
		e = &s->hdr;
	} else {
		struct xvrrp_event_large *l = bpf_ringbuf_reserve(&events, sizeof(*l), 0);
		if (!l)
			return XVRRP_REASON_RING_FULL;
		err = load_bytes(p, hook, off, l->payload, vlen);
		e = &l->hdr;
	}
	if (err) {
		// Cannot happen: the bytes were read above. Never hand the
		// daemon a half-filled record.
		bpf_ringbuf_discard(e, 0);
		return XVRRP_REASON_BAD_LENGTH;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	e->ifindex = p->ifindex;
	e->vlan = p->vlan;
	e->vlan_inner = p->vlan_inner;
	__builtin_memcpy(e->src, p->src, 16);
	__builtin_memcpy(e->dst, p->dst, 16);
	e->length = vlen;
	e->family = p->family;
	e->ttl = p->ttl;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	// Flags 0: the kernel wakes the reader only when it has caught up
	// with the producer, so a busy reader gets no wakeup per record; a
	// reader that polls gets none at all.
	__u32 zero = 0;
	struct xvrrp_ring_ctl *rc = bpf_map_lookup_elem(&ring_ctl, &zero);
	bpf_ringbuf_submit(e, rc && rc->reader_polls ? BPF_RB_NO_WAKEUP : 0);
	return XVRRP_REASON_ACCEPTED;
}

// The stages after parse_frame, in order, for a frame that is IP protocol
// 112. Returns the frame's reason.
static __always_inline int receive(struct xvrrp_pkt *p, enum xvrrp_hook hook)
{
	int r = check_header(p);
	if (r != XVRRP_NEXT)
		return r;
	r = check_instance(p);
	if (r != XVRRP_NEXT)
		return r;
	r = check_checksum(p);
	if (r != XVRRP_NEXT)
		return r;
	p->now = now();
	p->master = from_master(p->pol, p->src);
	r = follow_master(p);
	if (r != XVRRP_NEXT)
		return r;
	r = admit(p);
	if (r != XVRRP_NEXT)
		return r;
	return emit(p, hook);
}

// Counts the frame under its reason; every frame moves exactly one counter.
static __always_inline void count(int reason)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&stats, &zero);
	if (n && reason >= 0 && reason < XVRRP_REASON_MAX)
		n[reason] += 1; // per-CPU: no atomic needed
}

// Whether the frame is dropped, by reason; the one home of the verdicts of
// both hooks. Everything that is not an advert, and adverts for VRIDs not
// configured here (another VRRP cluster may share the LAN), reach the stack
// unless the interface says otherwise; accepted adverts and the master's
// repeats too, so tcpdump and keepalived's habits keep working, unless the
// interface consumes them; everything else is IP protocol 112 junk.
static __always_inline int drops(int reason)
{
	switch (reason) {
	case XVRRP_REASON_NOT_VRRP:
		return 0;
	case XVRRP_REASON_UNKNOWN_VRID:
		return xvrrp_drop_unknown_vrid;
	case XVRRP_REASON_ACCEPTED:
	case XVRRP_REASON_RING_FULL:
	case XVRRP_REASON_MASTER_REPEAT:
		return xvrrp_consume_accepted;
	}
	return 1;
}

SEC("xdp")
int xvrrp_xdp(struct xdp_md *ctx)
{
	struct xvrrp_pkt p = {
		.ctx = ctx,
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
		.ifindex = ctx->ingress_ifindex,
	};
	int r = parse_frame(&p);
	if (r == XVRRP_NEXT)
		r = receive(&p, XVRRP_HOOK_XDP);
	count(r);
	return drops(r) ? XDP_DROP : XDP_PASS;
}

// TCX ingress (Linux 6.6): the same stages on the skb, before netfilter as
// XDP is. A frame passed goes on to the next program on the interface
// (TCX_NEXT), not straight to the stack (TC_ACT_OK would be TCX_PASS, which
// ends the chain): xvrrp only ever decides about IP protocol 112 and must
// not hide the rest from the programs after it.
SEC("tcx/ingress")
int xvrrp_tcx(struct __sk_buff *skb)
{
	struct xvrrp_pkt p = {
		.ctx = skb,
		.data = (void *)(long)skb->data,
		.data_end = (void *)(long)skb->data_end,
		.ifindex = skb->ifindex,
	};
	// The stack takes the outer tag off before TC runs (skb_vlan_untag):
	// it is the outer VLAN of the event, as XDP reads it from the frame.
	if (skb->vlan_present) {
		p.vlan = skb->vlan_tci & 0x0fff;
		p.ntags = 1;
	}
	int r = parse_frame(&p);
	if (p.truncated && skb->data_end - skb->data < skb->len) {
		// Headers beyond the linear part of a non-linear skb: make it
		// linear (adverts are one small frame) and parse again. Only
		// frames cut short pay for this.
		if (bpf_skb_pull_data(skb, 0) == 0) {
			p.data = (void *)(long)skb->data;
			p.data_end = (void *)(long)skb->data_end;
			p.ntags = skb->vlan_present ? 1 : 0;
			p.truncated = 0;
			r = parse_frame(&p);
		}
	}
	if (r == XVRRP_NEXT)
		r = receive(&p, XVRRP_HOOK_TC);
	count(r);
	return drops(r) ? XVRRP_TCX_DROP : XVRRP_TCX_NEXT;
}

// Run once by the loader (BPF_PROG_TEST_RUN) to relate jiffies to
// CLOCK_MONOTONIC for now(): writes bpf_jiffies64 and bpf_ktime_get_ns,
// read back to back, over the first 16 bytes of the frame.
SEC("xdp")
int xvrrp_clock(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	__u64 *out = data;
	if ((void *)(out + 2) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	out[0] = bpf_jiffies64();
	out[1] = bpf_ktime_get_ns();
	return XDP_PASS;
}
