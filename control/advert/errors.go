package advert

import "errors"

// Sentinel errors returned (wrapped, with the offending values) by Decode
// and Append; test for them with errors.Is. Each one is a distinct reason to
// refuse an advert, so the receive path can count refusals per reason.
var (
	// ErrTooShort: fewer bytes than the 8-byte fixed header
	// (RFC 3768 §7.1, RFC 5798 §7.1: the packet must be complete).
	ErrTooShort = errors.New("vrrp advert shorter than its 8-byte header")
	// ErrVersion: the version nibble is neither 2 nor 3 (RFC 3768 §5.3.1,
	// RFC 5798 §5.2.1), or a VRRPv2 advert came over IPv6 (RFC 3768 is
	// IPv4 only).
	ErrVersion = errors.New("unsupported vrrp version")
	// ErrType: the type nibble is not 1, ADVERTISEMENT (RFC 3768 §5.3.2,
	// RFC 5798 §5.2.2: "A packet with unknown type MUST be discarded").
	ErrType = errors.New("vrrp packet type is not ADVERTISEMENT")
	// ErrLength: the length does not match Count IPvX Addrs (RFC 3768
	// §7.1 and RFC 5798 §7.1: the receiver MUST verify that the packet
	// contains the complete VRRP packet, including the addresses).
	ErrLength = errors.New("vrrp advert length does not match its address count")
	// ErrChecksum: the checksum does not verify (RFC 3768 §5.3.8 and §7.1,
	// RFC 5798 §5.2.8 and §7.1).
	ErrChecksum = errors.New("vrrp checksum mismatch")
	// ErrAddrFamily: source and destination are not both valid IPv4 or
	// both valid IPv6, or (Append) a virtual address is of the other
	// family (RFC 5798 §5.2.9: one address family per advert).
	ErrAddrFamily = errors.New("vrrp address family mismatch")
	// ErrAuthType: VRRPv2 Auth Type other than 0, 1 or 2 (RFC 3768 §5.3.6:
	// "A packet with unknown authentication type ... MUST be discarded"),
	// or Append was asked to produce type 2 (AH), which xvrrp never sends.
	ErrAuthType = errors.New("unsupported vrrp authentication type")
	// ErrInterval: Append was given an interval that does not fit the field
	// (8 bits of seconds for v2, 12 bits of centiseconds for v3).
	ErrInterval = errors.New("vrrp advertisement interval out of range")
	// ErrTooManyAddrs: Append was given more than 255 addresses, the most
	// the 8-bit count can carry (RFC 3768 §5.3.5, RFC 5798 §5.2.5).
	ErrTooManyAddrs = errors.New("more than 255 vrrp virtual addresses")
)
