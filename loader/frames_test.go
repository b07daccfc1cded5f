//go:build linux

package loader

import (
	"encoding/binary"
	"net/netip"
)

// Frame builders for the tests: real Ethernet frames carrying VRRP adverts
// built field by field, with checksums computed here, independently of the
// XDP program.

type csumMode int

const (
	csumRFC       csumMode = iota // v2 over VRRP, v3 with pseudo-header (RFC 5798 §5.2.8)
	csumAsV2                      // keepalived v3_checksum_as_v2
	csumLegacy                    // pseudo-header with 224.0.0.18 / ff02::12 as destination
	csumCorrupt                   // RFC checksum plus one
	csumZeroField                 // checksum field left 0
)

type advert struct {
	v6        bool
	version   uint8
	typ       uint8
	auth      uint8 // v2 auth type
	vrid      uint8
	prio      uint8
	addrs     []netip.Addr
	count     int // -1: len(addrs)
	src, dst  netip.Addr
	ttl       uint8
	vlans     []uint16 // outer first
	ipOptions []byte   // IPv4 options, a multiple of 4 bytes
	fragOff   uint16   // IPv4 flags+offset field
	csum      csumMode
	ethPad    int // trailing Ethernet padding bytes (not in IP length)
}

// v3adv4 is a valid VRRPv3 IPv4 multicast advert for VRID 10.
func v3adv4() advert {
	return advert{version: 3, typ: 1, vrid: 10, prio: 100, count: -1, ttl: 255,
		addrs: []netip.Addr{netip.MustParseAddr("198.18.0.100")},
		src:   netip.MustParseAddr("198.18.0.2"), dst: netip.MustParseAddr("224.0.0.18")}
}

// v3adv6 is a valid VRRPv3 IPv6 multicast advert for VRID 10.
func v3adv6() advert {
	return advert{v6: true, version: 3, typ: 1, vrid: 10, prio: 100, count: -1, ttl: 255,
		addrs: []netip.Addr{netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::100")},
		src:   netip.MustParseAddr("fe80::2"), dst: netip.MustParseAddr("ff02::12")}
}

// v2adv4 is a valid VRRPv2 advert for VRID 20.
func v2adv4() advert {
	a := v3adv4()
	a.version, a.vrid = 2, 20
	return a
}

func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func finish(s uint32) uint16 {
	for s > 0xffff {
		s = (s & 0xffff) + s>>16
	}
	return ^uint16(s)
}

// vrrp returns the VRRP packet (what an event's Payload must equal).
func (a advert) vrrp() []byte {
	count := a.count
	if count < 0 {
		count = len(a.addrs)
	}
	b := []byte{a.version<<4 | a.typ, a.vrid, a.prio, byte(count), 0, 0, 0, 0}
	if a.version == 2 {
		b[4], b[5] = a.auth, 1 // auth type, advert interval 1 s
	} else {
		binary.BigEndian.PutUint16(b[4:], 100) // max advert interval 100 cs
	}
	for _, addr := range a.addrs {
		b = append(b, addr.AsSlice()...)
	}
	if a.version == 2 {
		b = append(b, make([]byte, 8)...) // authentication data, RFC 3768 §5.3.10
	}
	var s uint32
	pseudo := func(dst netip.Addr) uint32 {
		p := append(a.src.AsSlice(), dst.AsSlice()...)
		if a.v6 {
			p = binary.BigEndian.AppendUint32(p, uint32(len(b)))
			p = append(p, 0, 0, 0, 112)
		} else {
			p = append(p, 0, 112)
			p = binary.BigEndian.AppendUint16(p, uint16(len(b)))
		}
		return sum16(p)
	}
	switch {
	case a.csum == csumZeroField:
		return b
	case a.version == 2 || a.csum == csumAsV2:
	case a.csum == csumLegacy && a.v6:
		s = pseudo(netip.MustParseAddr("ff02::12"))
	case a.csum == csumLegacy:
		s = pseudo(netip.MustParseAddr("224.0.0.18"))
	default:
		s = pseudo(a.dst)
	}
	c := finish(s + sum16(b))
	if a.csum == csumCorrupt {
		c++
	}
	binary.BigEndian.PutUint16(b[6:], c)
	return b
}

// frame returns the whole Ethernet frame.
func (a advert) frame() []byte {
	f := []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0, 0, 0, 0, 1}
	for i, id := range a.vlans {
		tpid := uint16(0x8100)
		if i == 0 && len(a.vlans) == 2 {
			tpid = 0x88a8 // 802.1ad outer tag
		}
		f = binary.BigEndian.AppendUint16(f, tpid)
		f = binary.BigEndian.AppendUint16(f, 0xe000|id) // PCP 7
	}
	v := a.vrrp()
	if a.v6 {
		f = binary.BigEndian.AppendUint16(f, 0x86dd)
		f = append(f, 0x60, 0, 0, 0)
		f = binary.BigEndian.AppendUint16(f, uint16(len(v)))
		f = append(f, 112, a.ttl)
		f = append(f, a.src.AsSlice()...)
		f = append(f, a.dst.AsSlice()...)
	} else {
		f = binary.BigEndian.AppendUint16(f, 0x0800)
		ihl := 20 + len(a.ipOptions)
		ip := []byte{0x40 | byte(ihl/4), 0xc0, 0, 0, 0, 0, 0, 0, a.ttl, 112, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl+len(v)))
		binary.BigEndian.PutUint16(ip[6:], a.fragOff)
		ip = append(ip, a.src.AsSlice()...)
		ip = append(ip, a.dst.AsSlice()...)
		ip = append(ip, a.ipOptions...)
		binary.BigEndian.PutUint16(ip[10:], finish(sum16(ip)))
		f = append(f, ip...)
	}
	f = append(f, v...)
	return append(f, make([]byte, a.ethPad)...)
}

// Frames that are not VRRP at all.

func tcpFrame() []byte {
	f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	ip := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	binary.BigEndian.PutUint16(ip[10:], finish(sum16(ip)))
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 22)
	tcp[12] = 5 << 4
	tcp[13] = 0x02 // SYN
	return append(append(f, ip...), tcp...)
}

func arpFrame() []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06}
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 2}
	return append(append(f, arp...), make([]byte, 18)...)
}

func icmpv6Frame() []byte {
	f := []byte{0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd}
	icmp := []byte{128, 0, 0, 0, 0, 1, 0, 1} // echo request, checksum not checked by anyone here
	ip6 := []byte{0x60, 0, 0, 0, 0, byte(len(icmp)), 58, 64}
	ip6 = append(ip6, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	ip6 = append(ip6, netip.MustParseAddr("2001:db8::2").AsSlice()...)
	return append(append(f, ip6...), icmp...)
}

// hopByHopAdvert is a VRRPv3 IPv6 advert behind a hop-by-hop options header:
// the program does not walk extension headers.
func hopByHopAdvert() []byte {
	a := v3adv6()
	f := a.frame()
	ipOff := 14
	v := a.vrrp()
	hbh := []byte{112, 0, 1, 4, 0, 0, 0, 0} // next header VRRP, PadN
	out := append([]byte{}, f[:ipOff+40]...)
	out[ipOff+6] = 0 // next header: hop-by-hop
	binary.BigEndian.PutUint16(out[ipOff+4:], uint16(len(hbh)+len(v)))
	out = append(out, hbh...)
	return append(out, v...)
}
