package advert

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Checksums (RFC 1071 Internet checksum: the 16-bit one's complement of the
// one's complement sum of 16-bit big-endian words) over:
//
//   - VRRPv2: the VRRP message alone, from the version field through the
//     Authentication Data (RFC 3768 §5.3.8).
//   - VRRPv3: the VRRP message plus a pseudo-header "as defined in Section
//     8.1 of [RFC2460]" with next header 112 (RFC 5798 §5.2.8; RFC 9568
//     §5.2.8 carries the rule forward with RFC 8200 §8.1). Over IPv6 that is
//     source, destination, 32-bit upper-layer length, 24 zero bits, next
//     header 112. Over IPv4 keepalived (and Wireshark) use the IPv4
//     pseudo-header of TCP/UDP: source, destination, zero byte, protocol
//     112, 16-bit length. Both reduce to the same one's complement sum:
//     sum(source) + sum(destination) + length + 112.
//
// keepalived variants, both IPv4 VRRPv3 only:
//
//   - v3_checksum_as_v2 (keepalived ≥ 2.2.8, global_defs or per instance):
//     the IPv4 VRRPv3 checksum leaves the pseudo-header out, as VRRPv2 does,
//     for routers (Cisco) that read RFC 5798 §5.2.8's pseudo-header as
//     IPv6-only. An instance with it sends and verifies that form only.
//     It does not apply to IPv6, whose checksum the kernel computes and
//     verifies (keepalived sets IPV6_CHECKSUM on its socket).
//     keepalived 2.2.7, the version captured in testdata/, predates it.
//   - old unicast checksum (keepalived ≤ 1.3.6, and ≥ 1.3.7 with
//     `old_unicast_checksum` or after auto-detection): a unicast VRRPv3
//     IPv4 advert's pseudo-header carries 224.0.0.18 as its destination
//     instead of the unicast peer's address. keepalived's receive path
//     (vrrp.c, vrrp_check_packet) first verifies with the real destination
//     and, for an instance with unicast peers whose mode is not "never",
//     retries with 224.0.0.18; if that verifies it switches the instance to
//     sending the old form too (CHKSUM_COMPATIBILITY_AUTO). With
//     `old_unicast_checksum` configured it sends the old form from the start.
//
// A VRRPv2 advert's checksum needs no IP addresses; the arguments are still
// required so that the family is checked in one place.

// EncodeOptions select the checksum variant Append (and Checksum) produce.
type EncodeOptions struct {
	// ChecksumAsV2 leaves the IPv4 pseudo-header out of a VRRPv3 checksum
	// (keepalived v3_checksum_as_v2). Ignored for VRRPv2 and for IPv6.
	ChecksumAsV2 bool
	// LegacyUnicastChecksum puts 224.0.0.18 in the IPv4 pseudo-header in
	// place of dst (keepalived old_unicast_checksum, or after an advert
	// decoded with Advert.LegacyChecksum set). Ignored for VRRPv2, for IPv6,
	// and when ChecksumAsV2 is set (there is no pseudo-header then).
	LegacyUnicastChecksum bool
}

// DecodeOptions select the checksum variants Decode accepts.
type DecodeOptions struct {
	// ChecksumAsV2: verify an IPv4 VRRPv3 checksum without the
	// pseudo-header, and only that way (keepalived v3_checksum_as_v2).
	ChecksumAsV2 bool
	// LegacyUnicastChecksum: when an IPv4 VRRPv3 checksum does not verify
	// with dst, retry with 224.0.0.18 as the pseudo-header destination
	// (keepalived's auto-detection of ≤ 1.3.6 unicast peers); Decode sets
	// Advert.LegacyChecksum when only the retry verified.
	LegacyUnicastChecksum bool
}

// Checksum returns the checksum that belongs in bytes 6-7 of the VRRP
// message b, sent from src to dst, whatever b holds there now. The version
// is read from b[0]. It checks only what it needs: at least HeaderLen
// bytes, version 2 or 3, src and dst of one family, and no VRRPv2 over IPv6.
func Checksum(b []byte, src, dst netip.Addr, opts EncodeOptions) (uint16, error) {
	if len(b) < HeaderLen {
		return 0, fmt.Errorf("checksum of %d bytes: %w", len(b), ErrTooShort)
	}
	ipv6, err := family(src, dst)
	if err != nil {
		return 0, err
	}
	version := b[0] >> 4
	if err := checkVersion(version, ipv6); err != nil {
		return 0, err
	}
	acc := sum16(0, b[:6])
	acc = sum16(acc, b[8:])
	acc += pseudoHeaderSum(version, ipv6, src, dst, len(b), opts.ChecksumAsV2, opts.LegacyUnicastChecksum)
	return ^fold(acc), nil
}

// family reports whether src and dst are IPv6; they must be valid and of
// the same family (RFC 5798 §5.2.9: the IP version decides the family of
// the whole advert).
func family(src, dst netip.Addr) (ipv6 bool, err error) {
	switch {
	case src.Is4() && dst.Is4():
		return false, nil
	case src.Is6() && dst.Is6():
		return true, nil
	}
	return false, fmt.Errorf("source %v and destination %v must both be IPv4 or both IPv6: %w", src, dst, ErrAddrFamily)
}

// checkVersion enforces RFC 3768 §5.3.1 / RFC 5798 §5.2.1 (versions 2 and
// 3 only) and RFC 3768 §1 (VRRPv2 is defined for IPv4 only).
func checkVersion(version uint8, ipv6 bool) error {
	switch version {
	case 3:
		return nil
	case 2:
		if ipv6 {
			return fmt.Errorf("vrrp version 2 over IPv6 (RFC 3768 is IPv4 only; use version 3): %w", ErrVersion)
		}
		return nil
	}
	return fmt.Errorf("vrrp version %d (want 2 or 3): %w", version, ErrVersion)
}

// pseudoHeaderSum is the one's complement sum of the VRRPv3 pseudo-header,
// or 0 where no pseudo-header applies (see the comment at the top of this
// file for each case).
func pseudoHeaderSum(version uint8, ipv6 bool, src, dst netip.Addr, length int, asV2, legacy bool) uint64 {
	if version != 3 {
		return 0 // RFC 3768 §5.3.8: VRRPv2 sums the message alone.
	}
	acc := uint64(ProtocolNumber) + uint64(length)
	if ipv6 {
		s, d := src.As16(), dst.As16()
		return sum16(sum16(acc, s[:]), d[:])
	}
	if asV2 {
		return 0
	}
	if legacy {
		dst = GroupIPv4
	}
	s, d := src.As4(), dst.As4()
	return sum16(sum16(acc, s[:]), d[:])
}

// sum16 adds b, as big-endian 16-bit words (an odd last byte padded with
// zero, RFC 1071 §4.1), to the accumulator acc. Eight bytes at a time: the
// one's complement sum of 32-bit words folds to the same 16-bit sum.
func sum16(acc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		acc += v>>32 + v&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces a 64-bit accumulator to the 16-bit one's complement sum.
func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}
