package advert

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Decode parses the VRRP message b (the IP payload: the bytes after the IPv4
// header, or after the IPv6 header chain) received from src for dst into a,
// and verifies it. The family of src and dst decides whether the addresses
// are IPv4 or IPv6 and which pseudo-header the VRRPv3 checksum covers.
//
// Decode enforces the receiver rules of RFC 3768 §7.1 and RFC 5798 §7.1
// that concern the VRRP bytes themselves: version, type, complete length
// for the address count, checksum; plus a known VRRPv2 Auth Type. The rules
// that need configuration or the IP header (TTL 255, VRID configured,
// authentication matches, interval matches for v2, addresses match) are the
// caller's: see AuthMatches and IntervalDuration.
//
// On error a is left unchanged and the error wraps one of the Err*
// sentinels. On success every field of a is overwritten; a.Addrs reuses its
// capacity, so Decode does not allocate once a.Addrs has grown.
func Decode(b []byte, src, dst netip.Addr, opts DecodeOptions, a *Advert) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("decode vrrp advert of %d bytes: %w", len(b), ErrTooShort)
	}
	ipv6, err := family(src, dst)
	if err != nil {
		return fmt.Errorf("decode vrrp advert: %w", err)
	}
	version, typ := b[0]>>4, b[0]&0x0f
	if err := checkVersion(version, ipv6); err != nil {
		return fmt.Errorf("decode vrrp advert from %v: %w", src, err)
	}
	// RFC 3768 §5.3.2, RFC 5798 §5.2.2: unknown types MUST be discarded.
	if typ != TypeAdvertisement {
		return fmt.Errorf("decode vrrp advert from %v: type %d: %w", src, typ, ErrType)
	}

	// RFC 3768 §7.1 / RFC 5798 §7.1: MUST verify that the packet contains
	// the complete VRRP packet, including the addresses (and, for v2, the
	// Authentication Data, RFC 3768 §5.1). Longer is refused too, as
	// keepalived does: a trailer would be outside the checksum's meaning.
	count := int(b[3])
	addrLen := 4
	if ipv6 {
		addrLen = 16
	}
	want := HeaderLen + count*addrLen
	if version == 2 {
		want += AuthDataLen
	}
	if len(b) != want {
		return fmt.Errorf("decode vrrp advert from %v: %d bytes but count %d needs %d: %w", src, len(b), count, want, ErrLength)
	}

	// RFC 3768 §5.3.6: unknown authentication type MUST be discarded.
	// Types 1 (PASS) and 2 (AH) are RFC 2338's, still spoken by keepalived.
	if version == 2 && b[4] > AuthAH {
		return fmt.Errorf("decode vrrp advert from %v: auth type %d (want 0, 1 or 2): %w", src, b[4], ErrAuthType)
	}

	// RFC 3768 §5.3.8 / RFC 5798 §5.2.8, §7.1: MUST verify the checksum.
	// Summing the whole message including the checksum field gives 0xffff
	// exactly when it verifies (RFC 1071 §1), which also accepts the
	// equivalent 0xffff spelling of a zero checksum, as keepalived does.
	msg := sum16(0, b)
	legacy := false
	if fold(msg+pseudoHeaderSum(version, ipv6, src, dst, len(b), opts.ChecksumAsV2, false)) != 0xffff {
		ok := false
		// keepalived's auto-detection of ≤ 1.3.6 unicast peers: IPv4
		// VRRPv3 only, and only when the destination was not already the
		// group (vrrp.c, vrrp_check_packet).
		if opts.LegacyUnicastChecksum && !opts.ChecksumAsV2 && version == 3 && !ipv6 && dst != GroupIPv4 {
			ok = fold(msg+pseudoHeaderSum(version, ipv6, src, dst, len(b), false, true)) == 0xffff
			legacy = ok
		}
		if !ok {
			return fmt.Errorf("decode vrrp advert from %v to %v: checksum 0x%04x does not verify (check v3_checksum_as_v2 / old_unicast_checksum match the peer): %w",
				src, dst, binary.BigEndian.Uint16(b[6:8]), ErrChecksum)
		}
	}

	a.Version = version
	a.Type = typ
	a.VRID = b[1]
	a.Priority = b[2]
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	a.LegacyChecksum = legacy
	if version == 2 {
		a.AuthType = b[4]
		a.Interval = uint16(b[5])
		copy(a.AuthData[:], b[HeaderLen+count*4:])
	} else {
		a.AuthType = 0
		a.AuthData = [8]byte{}
		// RFC 5798 §5.2.6: the 4 rsvd bits MUST be ignored on reception.
		a.Interval = binary.BigEndian.Uint16(b[4:6]) & MaxIntervalV3
	}
	addrs := a.Addrs[:0]
	p := b[HeaderLen : HeaderLen+count*addrLen]
	for i := 0; i < count; i++ {
		if ipv6 {
			addrs = append(addrs, netip.AddrFrom16([16]byte(p[i*16:i*16+16])))
		} else {
			addrs = append(addrs, netip.AddrFrom4([4]byte(p[i*4:i*4+4])))
		}
	}
	a.Addrs = addrs
	return nil
}
