package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

const (
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeARP  = 0x0806

	// ProtocolVRRP is the IP protocol number of VRRP (RFC 5798 §5.1.1.4).
	ProtocolVRRP = 112

	// RFC 5798 §5.1.1.3 / §5.1.2.3: TTL and hop limit MUST be 255; a receiver
	// discards anything else, which is what keeps adverts on the link.
	vrrpTTL = 255

	// keepalived sets IPTOS_PREC_INTERNETCONTROL (0xc0, DSCP CS6) as the IPv4
	// TOS (vrrp.c vrrp_build_ip4) and 0xc0 as the IPv6 traffic class
	// (vrrp_if.c if_setsockopt_priority); switches queue adverts as network
	// control traffic, so xvrrp does the same.
	trafficClassNetControl = 0xc0

	// maxVRRPPayload bounds the advert payload: an 8-byte header, 255
	// addresses of 16 bytes and 8 bytes of VRRPv2 authentication data.
	maxVRRPPayload = 8 + 255*16 + 8
	frameBufferLen = ethHeaderLen + ipv6HeaderLen + maxVRRPPayload
)

// ErrPayloadTooLarge is returned when a VRRP payload cannot be a valid advert.
var ErrPayloadTooLarge = errors.New("vrrp payload larger than any valid advert")

// MulticastMAC returns the Ethernet group address that carries IP multicast
// group g: 01:00:5e plus the low 23 bits for IPv4 (RFC 1112 §6.4), 33:33 plus
// the low 32 bits for IPv6 (RFC 2464 §7). keepalived's vrrp_mcast_group4/6
// are configurable, so the MAC is derived, never hard-coded.
func MulticastMAC(g netip.Addr) (net.HardwareAddr, error) {
	m, err := multicastMAC(g)
	if err != nil {
		return nil, err
	}
	return net.HardwareAddr(m[:]), nil
}

func multicastMAC(g netip.Addr) ([6]byte, error) {
	var m [6]byte
	if !g.IsMulticast() {
		return m, fmt.Errorf("%v is not a multicast address", g)
	}
	if g.Is4() {
		a := g.As4()
		m = [6]byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
		return m, nil
	}
	a := g.As16()
	m = [6]byte{0x33, 0x33, a[12], a[13], a[14], a[15]}
	return m, nil
}

// VirtualRouterMAC returns the virtual router MAC address for vrid:
// 00:00:5e:00:01:VRID for IPv4 and 00:00:5e:00:02:VRID for IPv6
// (RFC 5798 §7.3). It is the source MAC when use_vmac is configured.
func VirtualRouterMAC(ipv6 bool, vrid uint8) net.HardwareAddr {
	fam := byte(0x01)
	if ipv6 {
		fam = 0x02
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, fam, vrid}
}

func hwAddr6(h net.HardwareAddr) ([6]byte, error) {
	var m [6]byte
	if len(h) != 6 {
		return m, fmt.Errorf("hardware address %q is not a 6-byte Ethernet address", h)
	}
	copy(m[:], h)
	return m, nil
}

// appendEthernet appends an Ethernet II header.
func appendEthernet(b []byte, dst, src [6]byte, etherType uint16) []byte {
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	return binary.BigEndian.AppendUint16(b, etherType)
}

// appendAdvertFrame appends a complete Ethernet frame carrying payload as a
// VRRP advert from src to dst. id is the IPv4 identification (ignored for
// IPv6). It does not allocate when b has room.
func appendAdvertFrame(b []byte, dstMAC, srcMAC [6]byte, src, dst netip.Addr, id uint16, payload []byte) ([]byte, error) {
	if len(payload) > maxVRRPPayload {
		return b, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	switch {
	case src.Is4() && dst.Is4():
		b = appendEthernet(b, dstMAC, srcMAC, etherTypeIPv4)
		b = appendIPv4Header(b, src, dst, id, ProtocolVRRP, len(payload))
	case src.Is6() && !src.Is4In6() && dst.Is6() && !dst.Is4In6():
		b = appendEthernet(b, dstMAC, srcMAC, etherTypeIPv6)
		b = appendIPv6Header(b, src, dst, trafficClassNetControl, ProtocolVRRP, len(payload))
	default:
		return b, fmt.Errorf("advert source %v and destination %v must both be IPv4 or both IPv6", src, dst)
	}
	return append(b, payload...), nil
}

// appendIPv4Header appends a 20-byte IPv4 header with its checksum.
func appendIPv4Header(b []byte, src, dst netip.Addr, id uint16, proto uint8, payloadLen int) []byte {
	start := len(b)
	b = append(b,
		0x45,                   // version 4, IHL 5: no options
		trafficClassNetControl, // TOS, see trafficClassNetControl
	)
	b = binary.BigEndian.AppendUint16(b, uint16(ipv4HeaderLen+payloadLen))
	b = binary.BigEndian.AppendUint16(b, id)
	// keepalived sends frag_off 0 (DF clear, vrrp.c vrrp_build_ip4); an
	// advert is far below any link MTU, so DF would change nothing but the
	// bytes on the wire.
	b = append(b, 0, 0, vrrpTTL, proto, 0, 0)
	s, d := src.As4(), dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	binary.BigEndian.PutUint16(b[start+10:], ^checksumFold(checksumAdd(0, b[start:start+ipv4HeaderLen])))
	return b
}

// appendIPv6Header appends a 40-byte IPv6 header with flow label 0.
func appendIPv6Header(b []byte, src, dst netip.Addr, tclass uint8, next uint8, payloadLen int) []byte {
	b = binary.BigEndian.AppendUint32(b, 6<<28|uint32(tclass)<<20)
	b = binary.BigEndian.AppendUint16(b, uint16(payloadLen))
	b = append(b, next, vrrpTTL)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	return append(b, d[:]...)
}

// checksumAdd adds b to the running ones-complement sum (RFC 1071).
func checksumAdd(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func checksumFold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// nextIPv4ID returns the identification after id. keepalived increments it
// per advert and skips 0 (vrrp.c vrrp_update_pkt), because with IP_HDRINCL
// the kernel replaces an ID of 0; xvrrp keeps the same sequence on the wire.
func nextIPv4ID(id uint16) uint16 {
	id++
	if id == 0 {
		id = 1
	}
	return id
}
