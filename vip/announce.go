package vip

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
)

// GARPConfig holds keepalived's gratuitous ARP / unsolicited NA settings
// (keepalived.conf(5), global_defs vrrp_garp_* and the per-instance
// garp_* keywords). Build it with DefaultGARPConfig and override what the
// configuration sets.
type GARPConfig struct {
	// MasterDelay (garp_master_delay): delay of the second burst after the
	// transition to MASTER; 0 means no second burst. Default 5 s.
	MasterDelay time.Duration
	// MasterRepeat (garp_master_repeat): messages per VIP in each of the
	// two MASTER-entry bursts. Default 5.
	MasterRepeat int
	// MasterRefresh (garp_master_refresh): period of refresh bursts while
	// MASTER; 0 means off. Default 0.
	MasterRefresh time.Duration
	// MasterRefreshRepeat (garp_master_refresh_repeat): messages per VIP in
	// a refresh burst. Default 1.
	MasterRefreshRepeat int
	// ARPInterval (garp_interval) and NAInterval (gna_interval): delay
	// between consecutive messages of that kind on the interface.
	// Default 0.
	ARPInterval time.Duration
	NAInterval  time.Duration
}

// DefaultGARPConfig returns keepalived's defaults.
func DefaultGARPConfig() GARPConfig {
	return GARPConfig{MasterDelay: 5 * time.Second, MasterRepeat: 5, MasterRefreshRepeat: 1}
}

// MinGARP applies keepalived's vrrp_min_garp: one message, no second burst.
func (c GARPConfig) MinGARP() GARPConfig {
	c.MasterRepeat, c.MasterDelay = 1, 0
	return c
}

// Validate rejects settings that cannot be scheduled.
func (c GARPConfig) Validate() error {
	switch {
	case c.MasterDelay < 0, c.MasterRefresh < 0, c.ARPInterval < 0, c.NAInterval < 0:
		return fmt.Errorf("garp delays and intervals must not be negative: %+v", c)
	case c.MasterRepeat < 1:
		return fmt.Errorf("garp_master_repeat %d: must be at least 1", c.MasterRepeat)
	case c.MasterRefreshRepeat < 1:
		return fmt.Errorf("garp_master_refresh_repeat %d: must be at least 1", c.MasterRefreshRepeat)
	}
	return nil
}

// Burst is one round of announcements: every VIP announced Repeat times,
// consecutive ARPs ARPInterval apart and consecutive NAs NAInterval apart.
type Burst struct {
	Repeat      int
	ARPInterval time.Duration
	NAInterval  time.Duration
}

// EntryBurst is sent at the transition to MASTER.
func (c GARPConfig) EntryBurst() Burst {
	return Burst{Repeat: c.MasterRepeat, ARPInterval: c.ARPInterval, NAInterval: c.NAInterval}
}

// DelayedBurst is sent MasterDelay after the transition to MASTER, if ok.
func (c GARPConfig) DelayedBurst() (b Burst, after time.Duration, ok bool) {
	if c.MasterDelay <= 0 {
		return Burst{}, 0, false
	}
	return c.EntryBurst(), c.MasterDelay, true
}

// RefreshBurst is sent every period while MASTER, if ok.
func (c GARPConfig) RefreshBurst() (b Burst, period time.Duration, ok bool) {
	if c.MasterRefresh <= 0 {
		return Burst{}, 0, false
	}
	return Burst{Repeat: c.MasterRefreshRepeat, ARPInterval: c.ARPInterval, NAInterval: c.NAInterval}, c.MasterRefresh, true
}

// Neighbour discovery constants (RFC 4861 §4.4, §4.6.1).
const (
	icmpv6NeighbourAdvert = 136
	naFlagRouter          = 0x80
	naFlagOverride        = 0x20
	ndOptTargetLLAddr     = 2
	protoICMPv6           = 58
	naLen                 = 4 + 4 + 16 + 8 // header, flags, target, one option
)

var allNodes = netip.MustParseAddr("ff02::1")

var broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// appendGratuitousARP appends keepalived's gratuitous ARP for vip
// (vrrp_arp.c): an ARP request (RFC 826) sent to the Ethernet broadcast,
// sender hardware address mac, sender and target protocol address both the
// VIP (RFC 5227 §3 / RFC 5798 §6.4.2), target hardware address
// ff:ff:ff:ff:ff:ff as keepalived writes it. The ARP payload is
// github.com/mdlayher/arp's; the frame goes out on the announcer's own
// AF_PACKET socket, below netfilter, like adverts.
func appendGratuitousARP(b []byte, mac [6]byte, vip netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, net.HardwareAddr(mac[:]), vip, net.HardwareAddr(broadcastMAC[:]), vip)
	if err != nil {
		return b, fmt.Errorf("gratuitous ARP for %s: %w", vip, err)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		return b, fmt.Errorf("gratuitous ARP for %s: %w", vip, err)
	}
	b = appendEthernet(b, broadcastMAC, mac, etherTypeARP)
	return append(b, payload...), nil
}

// appendUnsolicitedNA appends an Ethernet frame with an unsolicited
// neighbour advertisement for target (RFC 4861 §7.2.6): to the all-nodes
// group ff02::1, Solicited clear, Override set so neighbours replace the
// cached MAC, the target link-layer address option carrying mac, hop limit
// 255 (§7.1.2: receivers drop anything else). router sets the R flag
// (RFC 5798 §6.4.2 asks for it when the virtual router is a router).
func appendUnsolicitedNA(b []byte, srcMAC [6]byte, src, target netip.Addr, router bool) []byte {
	dstMAC, _ := multicastMAC(allNodes)
	b = appendEthernet(b, dstMAC, srcMAC, etherTypeIPv6)
	ipStart := len(b)
	b = appendIPv6Header(b, src, allNodes, 0, protoICMPv6, naLen)
	icmpStart := len(b)
	flags := byte(naFlagOverride)
	if router {
		flags |= naFlagRouter
	}
	b = append(b, icmpv6NeighbourAdvert, 0, 0, 0, flags, 0, 0, 0)
	t := target.As16()
	b = append(b, t[:]...)
	b = append(b, ndOptTargetLLAddr, 1) // length in units of 8 bytes
	b = append(b, srcMAC[:]...)
	binary.BigEndian.PutUint16(b[icmpStart+2:], icmpv6Checksum(b[ipStart:ipStart+ipv6HeaderLen], b[icmpStart:]))
	return b
}

// icmpv6Checksum computes the ICMPv6 checksum over the IPv6 pseudo-header
// (RFC 8200 §8.1) and msg.
func icmpv6Checksum(ip6, msg []byte) uint16 {
	sum := checksumAdd(0, ip6[8:40]) // source and destination
	sum += uint32(len(msg))
	sum += protoICMPv6
	sum = checksumAdd(sum, msg)
	return ^checksumFold(sum)
}
