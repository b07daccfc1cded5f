package advert

import (
	"errors"
	"net/netip"
	"slices"
)

// Policy is what one instance accepts: the receive rules of RFC 3768 §7.1
// and RFC 5798 §7.1 that need configuration, with keepalived's variants.
// Check applies it; the XDP program applies the rules it can see in the
// frame (TTL, destination, the unicast peer list, the same checksum
// variants) before the advert reaches the daemon.
type Policy struct {
	Version uint8 // the instance's VRRP version: adverts of the other are refused
	// Interval is the Adver Int field the instance sends (seconds, v2):
	// RFC 3768 §7.1, a v2 advert with another interval MUST be discarded.
	// VRRPv3 backups adopt the master's (RFC 5798 §6.4.2): not checked.
	Interval uint16
	// Auth: v2 simple text authentication (RFC 2338 §5.3.6.1) with
	// password Pass. Without it, a v2 advert must carry Auth Type 0.
	Auth bool
	Pass [8]byte
	// Addrs are the instance's virtual addresses of its family. RFC 5798
	// §7.1 "MAY verify that the IPvX Address(es) associated with the VRID
	// are valid": keepalived drops an advert that lists others, unless
	// skip_check_adv_addr (SkipAddrs).
	Addrs     []netip.Addr
	SkipAddrs bool
	// Peers, when set (keepalived check_unicast_src), are the only sources
	// accepted.
	Peers []netip.Addr
	// Decode says which checksum variants verify (v3_checksum_as_v2,
	// old_unicast_checksum).
	Decode DecodeOptions
}

// Reason is the outcome of Check: Accepted, or why the advert is refused.
// Each refusal is one error metric (Metric) and, where the XDP program
// applies the same rule first, names its counters (KernelReasons).
type Reason uint8

// The reasons, one per receive error metric.
const (
	Accepted Reason = iota
	RefusedChecksum
	RefusedLength
	RefusedVersion // wrong version nibble or type, or not the instance's version
	RefusedAuth    // unknown Auth Type, or not the instance's authentication
	RefusedAddrList
	RefusedInterval
	RefusedUnknownPeer
	RefusedOther
	NumReasons
)

var reasonMetrics = [NumReasons]string{
	Accepted:           "",
	RefusedChecksum:    "checksum",
	RefusedLength:      "length",
	RefusedVersion:     "version",
	RefusedAuth:        "auth",
	RefusedAddrList:    "address_list_mismatch",
	RefusedInterval:    "interval_mismatch",
	RefusedUnknownPeer: "unknown_peer",
	RefusedOther:       "other",
}

// Metric is the reason's label in the per-instance error counters
// (xvrrp_instance_errors_total, xvrrpctl status); "" for Accepted.
func (r Reason) Metric() string {
	if r >= NumReasons {
		return ""
	}
	return reasonMetrics[r]
}

func (r Reason) String() string {
	if r == Accepted {
		return "accepted"
	}
	return r.Metric()
}

// kernelReasons are the XDP program's counters (loader.Reason names) for
// the same rules, when the program applies them before the daemon does.
var kernelReasons = [NumReasons][]string{
	RefusedChecksum:    {"bad_checksum"},
	RefusedLength:      {"bad_length"},
	RefusedVersion:     {"bad_version", "bad_type"},
	RefusedAuth:        {"bad_auth_type"},
	RefusedUnknownPeer: {"peer_not_allowed"},
}

// KernelReasons names the XDP program's counters for the rule behind r;
// none when only the daemon applies it (password, address list, interval).
func (r Reason) KernelReasons() []string {
	if r >= NumReasons {
		return nil
	}
	return kernelReasons[r]
}

// Check decodes b (from src to dst) into a and applies p: the one
// validation step of the receive path. a is valid only when it returns
// Accepted, or when a rule after decoding refused it.
func Check(p *Policy, b []byte, src, dst netip.Addr, a *Advert) Reason {
	if err := Decode(b, src, dst, p.Decode, a); err != nil {
		return decodeReason(err)
	}
	if a.Version != p.Version {
		return RefusedVersion
	}
	// keepalived check_unicast_src: only listed peers may speak.
	if len(p.Peers) > 0 && !slices.Contains(p.Peers, src) {
		return RefusedUnknownPeer
	}
	// RFC 3768 §7.1 / RFC 2338 §5.3.6: with simple text authentication the
	// auth type and password must match ours, compared in constant time.
	if p.Auth && (a.AuthType != AuthPass || !a.AuthMatches(p.Pass)) {
		return RefusedAuth
	} else if !p.Auth && a.Version == 2 && a.AuthType != AuthNone {
		return RefusedAuth
	}
	// Priority 0 adverts are checked too: a stranger's shutdown must not
	// make us take over.
	if !p.SkipAddrs && !sameAddrs(a.Addrs, p.Addrs) {
		return RefusedAddrList
	}
	// RFC 3768 §7.1 (keepalived "advertisement interval mismatch").
	if a.Version == 2 && a.Interval != p.Interval {
		return RefusedInterval
	}
	return Accepted
}

// sameAddrs: got lists exactly want's addresses, in any order.
func sameAddrs(got, want []netip.Addr) bool {
	if len(got) != len(want) {
		return false
	}
	for _, a := range got {
		if !slices.Contains(want, a) {
			return false
		}
	}
	return true
}

func decodeReason(err error) Reason {
	switch {
	case errors.Is(err, ErrChecksum):
		return RefusedChecksum
	case errors.Is(err, ErrTooShort), errors.Is(err, ErrLength):
		return RefusedLength
	case errors.Is(err, ErrVersion), errors.Is(err, ErrType):
		return RefusedVersion
	case errors.Is(err, ErrAuthType):
		return RefusedAuth
	}
	return RefusedOther
}
