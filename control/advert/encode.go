package advert

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// Append appends a as a VRRP message to b, with the checksum for a packet
// from src to dst computed per opts, sets a.Checksum to it and returns the
// extended slice. It does not allocate when b has room. It refuses what it
// would be wrong to send: a version other than 2 or 3, a type other than
// ADVERTISEMENT, VRRPv2 over IPv6, AH authentication, an interval that does
// not fit its field, more than 255 addresses, or an address whose family
// differs from src's. a.LegacyChecksum is ignored: the variant sent is
// opts' alone.
func (a *Advert) Append(b []byte, src, dst netip.Addr, opts EncodeOptions) ([]byte, error) {
	ipv6, err := family(src, dst)
	if err != nil {
		return b, fmt.Errorf("encode vrrp advert: %w", err)
	}
	if err := checkVersion(a.Version, ipv6); err != nil {
		return b, fmt.Errorf("encode vrrp advert for vrid %d: %w", a.VRID, err)
	}
	if a.Type != TypeAdvertisement {
		return b, fmt.Errorf("encode vrrp advert for vrid %d: type %d (set Type to TypeAdvertisement): %w", a.VRID, a.Type, ErrType)
	}
	if len(a.Addrs) > 255 {
		return b, fmt.Errorf("encode vrrp advert for vrid %d: %d addresses: %w", a.VRID, len(a.Addrs), ErrTooManyAddrs)
	}
	for _, addr := range a.Addrs {
		// RFC 5798 §5.2.9: the addresses are of the advert's IP version.
		if ipv6 && !addr.Is6() || !ipv6 && !addr.Is4() {
			return b, fmt.Errorf("encode vrrp advert for vrid %d: virtual address %v is not of the family of source %v (one family per instance): %w", a.VRID, addr, src, ErrAddrFamily)
		}
	}
	if a.Version == 2 {
		// RFC 3768 §5.3.6: Auth Type 2 (AH) needs an AH header around
		// the message, which xvrrp does not build; 3 and up are undefined.
		if a.AuthType != AuthNone && a.AuthType != AuthPass {
			return b, fmt.Errorf("encode vrrp advert for vrid %d: auth type %d (xvrrp sends only 0 none or 1 PASS): %w", a.VRID, a.AuthType, ErrAuthType)
		}
		if a.Interval > MaxIntervalV2 { // RFC 3768 §5.3.7: 8 bits of seconds
			return b, fmt.Errorf("encode vrrp advert for vrid %d: interval %d s exceeds %d: %w", a.VRID, a.Interval, MaxIntervalV2, ErrInterval)
		}
	} else if a.Interval > MaxIntervalV3 { // RFC 5798 §5.2.7: 12 bits of centiseconds
		return b, fmt.Errorf("encode vrrp advert for vrid %d: interval %d cs exceeds %d: %w", a.VRID, a.Interval, MaxIntervalV3, ErrInterval)
	}

	n := HeaderLen
	if ipv6 {
		n += 16 * len(a.Addrs)
	} else {
		n += 4 * len(a.Addrs)
	}
	if a.Version == 2 {
		n += AuthDataLen
	}
	start := len(b)
	b = slices.Grow(b, n)[:start+n]
	m := b[start:]
	m[0] = a.Version<<4 | TypeAdvertisement
	m[1] = a.VRID
	m[2] = a.Priority
	m[3] = uint8(len(a.Addrs))
	if a.Version == 2 {
		m[4] = a.AuthType
		m[5] = uint8(a.Interval)
	} else {
		// RFC 5798 §5.2.6: rsvd MUST be zero on transmission.
		binary.BigEndian.PutUint16(m[4:6], a.Interval)
	}
	m[6], m[7] = 0, 0 // RFC 3768 §5.3.8, RFC 5798 §5.2.8: zero while summing
	p := m[HeaderLen:]
	for _, addr := range a.Addrs {
		if ipv6 {
			s := addr.As16()
			p = p[copy(p, s[:]):]
		} else {
			s := addr.As4()
			p = p[copy(p, s[:]):]
		}
	}
	if a.Version == 2 {
		if a.AuthType == AuthPass {
			copy(p, a.AuthData[:])
		} else {
			// RFC 3768 §5.3.10: Authentication Data SHOULD be zero on
			// transmission when it is unused.
			clear(p[:AuthDataLen])
		}
	}
	acc := sum16(0, m) + pseudoHeaderSum(a.Version, ipv6, src, dst, n, opts.ChecksumAsV2, opts.LegacyUnicastChecksum)
	a.Checksum = ^fold(acc)
	binary.BigEndian.PutUint16(m[6:8], a.Checksum)
	return b, nil
}
