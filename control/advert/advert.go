// Package advert is the VRRP wire format: it decodes and encodes VRRPv2
// (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568) advertisements and computes
// their checksums, including the two checksum variants keepalived can put
// on the wire (v3_checksum_as_v2 and the pre-1.3.7 unicast checksum).
//
// The package does no I/O. Decode works on the VRRP bytes that follow the
// IP header and takes the IP source and destination separately, because the
// VRRPv3 checksum covers a pseudo-header built from them. Decode and Append
// do not allocate once the caller's slices have grown, so the receive path
// (XDP ring buffer → Decode → state machine) stays allocation-free.
package advert

import (
	"crypto/subtle"
	"net/netip"
	"time"
)

// ProtocolNumber is the IP protocol number (IPv4 Protocol, IPv6 Next
// Header) assigned to VRRP: RFC 3768 §5.2.4, RFC 5798 §5.1.1.4 / §5.1.2.4.
const ProtocolNumber = 112

// TTL is the IPv4 TTL / IPv6 Hop Limit every advert is sent with, and that
// a receiver MUST check (RFC 3768 §5.2.3 and §7.1, RFC 5798 §5.1.1.3,
// §5.1.2.3 and §7.1). The check belongs to the receive path (the XDP program
// sees the IP header); this package never sees the TTL.
const TTL = 255

// Multicast groups adverts are sent to (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2
// and §5.1.2.2).
var (
	GroupIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	GroupIPv6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
)

// Field values and sizes of the VRRP header.
const (
	// TypeAdvertisement is the only packet type VRRP defines
	// (RFC 3768 §5.3.2, RFC 5798 §5.2.2).
	TypeAdvertisement = 1

	// HeaderLen is the fixed part of every advert: version/type, VRID,
	// priority, count, auth type + interval (v2) or rsvd + interval (v3),
	// checksum (RFC 3768 §5.1, RFC 5798 §5.2).
	HeaderLen = 8
	// AuthDataLen is the trailing Authentication Data of a VRRPv2 advert
	// (RFC 3768 §5.3.10). VRRPv3 has none.
	AuthDataLen = 8

	// MaxIntervalV3 is the largest Max Advertise Interval, a 12-bit field
	// in centiseconds (RFC 5798 §5.2.7).
	MaxIntervalV3 = 0x0fff
	// MaxIntervalV2 is the largest Adver Int, an 8-bit field in seconds
	// (RFC 3768 §5.3.7).
	MaxIntervalV2 = 0xff
)

// VRRPv2 authentication types (RFC 3768 §5.3.6). RFC 3768 reserved types 1
// and 2, which RFC 2338 §5.3.6 had defined; keepalived still implements
// both, so xvrrp decodes both and produces type 1 when configured.
const (
	AuthNone = 0 // no authentication
	AuthPass = 1 // simple text password, RFC 2338 §5.3.6.1
	AuthAH   = 2 // IPsec AH, RFC 2338 §5.3.6.2: decoded, never produced
)

// Advert is one VRRP advertisement, version 2 or 3.
type Advert struct {
	Version  uint8 // 2 or 3
	Type     uint8 // 1 = ADVERTISEMENT
	VRID     uint8
	Priority uint8
	// Interval is the v3 Max Advertise Interval in centiseconds (12 bits,
	// RFC 5798 §5.2.7) or the v2 Adver Int in seconds (RFC 3768 §5.3.7).
	Interval uint16
	AuthType uint8   // v2 only: AuthNone, AuthPass or AuthAH
	AuthData [8]byte // v2 only
	// Checksum is the checksum as on the wire: set by Decode, computed and
	// set by Append.
	Checksum uint16
	// LegacyChecksum is set by Decode when the checksum verified only with
	// keepalived's pre-1.3.7 unicast pseudo-header (destination 224.0.0.18,
	// DecodeOptions.LegacyUnicastChecksum). keepalived then switches the
	// instance to sending that form (EncodeOptions.LegacyUnicastChecksum).
	LegacyChecksum bool
	// Addrs are the virtual addresses, all IPv4 or all IPv6 (the family of
	// the IP header). Decode reuses the capacity of this slice, so once it
	// has grown to the largest count seen, Decode does not allocate.
	Addrs []netip.Addr
}

// IntervalDuration returns the advertisement interval as a duration:
// centiseconds for VRRPv3 (RFC 5798 §5.2.7), seconds for VRRPv2
// (RFC 3768 §5.3.7).
func (a *Advert) IntervalDuration() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.Interval) * time.Second
	}
	return time.Duration(a.Interval) * 10 * time.Millisecond
}

// AuthMatches reports whether a is a VRRPv2 advert with simple text
// authentication (type 1) whose 8 bytes of Authentication Data equal pass.
// The comparison takes the same time whatever the bytes, so a sender cannot
// learn the password byte by byte from how fast adverts are refused
// (keepalived compares with memcmp_constant_time for the same reason).
// Build pass from the configured string with Password.
func (a *Advert) AuthMatches(pass [8]byte) bool {
	typeOK := subtle.ConstantTimeByteEq(a.Version, 2) & subtle.ConstantTimeByteEq(a.AuthType, AuthPass)
	return typeOK&subtle.ConstantTimeCompare(a.AuthData[:], pass[:]) == 1
}

// Password returns keepalived's 8-byte Authentication Data for auth_pass s:
// the first 8 bytes of s, zero-padded (keepalived truncates longer
// passwords with a configuration warning; RFC 2338 §5.3.10 defines the
// field as 8 octets of "simple text", padded with zeros).
func Password(s string) [8]byte {
	var p [8]byte
	copy(p[:], s)
	return p
}

// VirtualMAC returns the virtual router MAC address for vrid:
// 00-00-5E-00-01-{VRID} for IPv4 (RFC 3768 §7.3, RFC 5798 §7.3) and
// 00-00-5E-00-02-{VRID} for IPv6 (RFC 5798 §7.3).
func VirtualMAC(vrid uint8, ipv6 bool) [6]byte {
	m := [6]byte{0x00, 0x00, 0x5e, 0x00, 0x01, vrid}
	if ipv6 {
		m[4] = 0x02
	}
	return m
}
