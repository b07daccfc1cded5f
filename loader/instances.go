//go:build linux

package loader

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/xvrrp/xvrrp/bpf"
)

// Family is the address family of an instance and of an advert. The values
// are those of the C enum xvrrp_family.
type Family uint8

const (
	IPv4 Family = Family(bpf.XvrrpXvrrpFamilyXVRRP_FAMILY_IPV4)
	IPv6 Family = Family(bpf.XvrrpXvrrpFamilyXVRRP_FAMILY_IPV6)
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// MaxPeers is how many unicast peers one instance may list.
const MaxPeers = len(bpf.XvrrpXvrrpPolicy{}.Peers)

// MaxRate bounds rates and bursts so the program's bucket arithmetic cannot
// overflow.
const MaxRate = 1_000_000

// InstanceKey names one VRRP instance as the XDP program sees it.
type InstanceKey struct {
	Ifindex uint32
	VRID    uint8
	Family  Family
}

// Rates are the token buckets of one instance: Source* per (instance,
// source address), Instance* for all sources together, so a flood of
// spoofed sources cannot fill the ring. Rates are tokens (adverts) per
// second; bursts are bucket sizes. All must be between 1 and MaxRate.
type Rates struct {
	SourcePerSec, SourceBurst     uint32
	InstancePerSec, InstanceBurst uint32
}

// Headroom of DefaultRates.
const (
	sourceHeadroom   = 1.25 // adverts per advert interval a source may send
	sourceBurst      = 8
	instanceHeadroom = 0.25 // adverts per interval of all other sources together
	instanceBurst    = 16
)

// DefaultRates derives the buckets from an instance's advert interval.
// A peer sends one advert per interval (RFC 5798 §6.4.3) plus a few at
// state changes (preemption, priority 0 on shutdown, §6.4.3/§6.6), so a
// source may send 1.25 per interval on average with a burst of 8 (jitter
// and the extra adverts of a state change fit in the burst). The master the
// daemon follows (InstancePolicy.Master) is bounded by that alone; every
// other source shares one advert per four intervals for the instance, with
// a burst of 16: a router preempting, or a short split brain, still gets
// through (one advert is enough to yield to it), and a flood, spoofing the
// master or not, costs the daemon at most 1.5 times the event rate of
// adverts read one by one. A backup whose master repeats on time reads
// none of either (HeardTable).
// Rates are whole adverts per second, rounded up.
// Intervals below 10 ms (the VRRPv3 centisecond) count as 10 ms.
func DefaultRates(advertInterval time.Duration) Rates {
	advertInterval = max(advertInterval, 10*time.Millisecond)
	perSec := func(perInterval float64) uint32 {
		r := math.Ceil(perInterval * float64(time.Second) / float64(advertInterval))
		return uint32(min(max(r, 1), MaxRate))
	}
	return Rates{
		SourcePerSec:   perSec(sourceHeadroom),
		SourceBurst:    sourceBurst,
		InstancePerSec: perSec(instanceHeadroom),
		InstanceBurst:  instanceBurst,
	}
}

// InstancePolicy is what the XDP program checks for one instance.
type InstancePolicy struct {
	// Version is the VRRP version the instance speaks: 2 (IPv4 only) or 3.
	Version uint8
	// MinTTL and MaxTTL bound the TTL/hop limit. MaxTTL 0 means the RFC
	// rule, 255 only (the program's TTL check cites it); keepalived's
	// min_ttl/max_ttl relax it for unicast peers.
	MinTTL, MaxTTL uint8
	// ChecksumAsV2 is keepalived's v3_checksum_as_v2: an IPv4 v3 checksum
	// computed without the pseudo-header. Ignored for IPv6, as keepalived
	// does.
	ChecksumAsV2 bool
	// LegacyUnicastChecksum also accepts IPv4 v3 adverts whose checksum
	// pseudo-header used 224.0.0.18 as destination, as keepalived <= 1.3.6
	// sent unicast adverts. Ignored for IPv6.
	LegacyUnicastChecksum bool
	// Group is the multicast destination of a multicast instance
	// (keepalived vrrp_mcast_group4/6); zero means 224.0.0.18 / ff02::12.
	Group netip.Addr
	// Peers makes the instance unicast: adverts must come from one of
	// these (at most MaxPeers) and go to a unicast address.
	Peers []netip.Addr
	// Master, when valid, is the master the daemon follows: its adverts are
	// bounded by their source bucket only, never by the instance's
	// aggregate, so a flood from other sources cannot starve the backup of
	// them.
	Master netip.Addr
	Rates  Rates
	// Slot is the instance's entry in the heard table (HeardTable), below
	// MaxSlots and unique among the instances: the daemon uses its
	// instance id.
	Slot uint32
}

func (k InstanceKey) bpf() (bpf.XvrrpXvrrpInstanceKey, error) {
	if k.Family != IPv4 && k.Family != IPv6 {
		return bpf.XvrrpXvrrpInstanceKey{}, fmt.Errorf("instance %v: family must be IPv4 or IPv6", k)
	}
	if k.VRID == 0 {
		// RFC 5798 §5.2.3: VRID is 1-255.
		return bpf.XvrrpXvrrpInstanceKey{}, fmt.Errorf("instance %v: VRID must be 1-255 (RFC 5798 §5.2.3)", k)
	}
	return bpf.XvrrpXvrrpInstanceKey{Ifindex: k.Ifindex, Vrid: k.VRID, Family: uint8(k.Family)}, nil
}

func (k InstanceKey) String() string {
	return fmt.Sprintf("ifindex %d vrid %d %s", k.Ifindex, k.VRID, k.Family)
}

func putAddr(dst *[16]uint8, a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		copy(dst[:], b[:])
		return
	}
	*dst = a.As16()
}

func (p *InstancePolicy) bpf(k InstanceKey) (bpf.XvrrpXvrrpPolicy, error) {
	var out bpf.XvrrpXvrrpPolicy
	fail := func(format string, a ...any) (bpf.XvrrpXvrrpPolicy, error) {
		return out, fmt.Errorf("instance %v: %s", k, fmt.Sprintf(format, a...))
	}
	switch {
	case p.Version == 3:
	case p.Version == 2 && k.Family == IPv4:
	case p.Version == 2:
		return fail("VRRPv2 exists only for IPv4 (RFC 3768); use version 3")
	default:
		return fail("version %d: must be 2 or 3", p.Version)
	}
	out.Version = p.Version
	out.MinTtl, out.MaxTtl = p.MinTTL, p.MaxTTL
	if p.MaxTTL == 0 {
		out.MinTtl, out.MaxTtl = 255, 255
	}
	if out.MinTtl > out.MaxTtl {
		return fail("min TTL %d above max TTL %d", out.MinTtl, out.MaxTtl)
	}
	if p.ChecksumAsV2 {
		out.ChecksumAsV2 = 1
	}
	if p.LegacyUnicastChecksum {
		out.LegacyUnicastChecksum = 1
	}
	inFamily := func(a netip.Addr) bool {
		return a.IsValid() && a.Zone() == "" && (a.Is4() == (k.Family == IPv4)) && !a.Is4In6()
	}
	group := p.Group
	if !group.IsValid() {
		group = netip.MustParseAddr("224.0.0.18") // RFC 5798 §5.1.1.2
		if k.Family == IPv6 {
			group = netip.MustParseAddr("ff02::12") // RFC 5798 §5.1.2.2
		}
	}
	if !inFamily(group) || !group.IsMulticast() {
		return fail("group %s is not a %s multicast address", group, k.Family)
	}
	putAddr(&out.Group, group)
	if len(p.Peers) > MaxPeers {
		return fail("%d unicast peers: at most %d per instance", len(p.Peers), MaxPeers)
	}
	for i, peer := range p.Peers {
		if !inFamily(peer) || peer.IsMulticast() {
			return fail("peer %s is not a %s unicast address", peer, k.Family)
		}
		putAddr(&out.Peers[i], peer)
	}
	out.PeerCount = uint8(len(p.Peers))
	if p.Master.IsValid() {
		if !inFamily(p.Master) || p.Master.IsMulticast() {
			return fail("master %s is not a %s unicast address", p.Master, k.Family)
		}
		out.HasMaster = 1
		putAddr(&out.Master, p.Master)
	}
	r := p.Rates
	for _, v := range []uint32{r.SourcePerSec, r.SourceBurst, r.InstancePerSec, r.InstanceBurst} {
		if v == 0 || v > MaxRate {
			return fail("rates %+v: each must be 1-%d (use loader.DefaultRates)", r, MaxRate)
		}
	}
	if p.Slot >= MaxSlots {
		return fail("heard slot %d: must be below %d", p.Slot, MaxSlots)
	}
	out.Slot = p.Slot
	out.SrcRate, out.SrcBurst = r.SourcePerSec, r.SourceBurst
	out.InstRate, out.InstBurst = r.InstancePerSec, r.InstanceBurst
	return out, nil
}

// SetInstance adds or replaces an instance while the program runs. Its
// aggregate and master buckets restart full so new rates apply at once; the
// buckets of its other sources are kept.
func (d *Dataplane) SetInstance(k InstanceKey, p InstancePolicy) error {
	key, err := k.bpf()
	if err != nil {
		return err
	}
	val, err := p.bpf(k)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	if err := d.setInstanceLocked(k, key, val); err != nil {
		return fmt.Errorf("set instance %v: %w", k, err)
	}
	return nil
}

// DeleteInstance removes an instance; its adverts count as unknown VRID
// from then on.
func (d *Dataplane) DeleteInstance(k InstanceKey) error {
	if _, err := k.bpf(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	if _, ok := d.tab.inst[k]; !ok {
		return fmt.Errorf("delete instance %v: no such instance", k)
	}
	if err := d.deleteInstanceLocked(k); err != nil {
		return fmt.Errorf("delete instance %v: %w", k, err)
	}
	return nil
}
