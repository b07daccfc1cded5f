//go:build linux

package loader

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	goadvert "github.com/xvrrp/xvrrp/control/advert"
)

// Cross-checks of the XDP program against the Go decoder
// (control/advert.Decode): on the bytes both judge, the program accepts an
// advert exactly when the decoder does. The program additionally bounds the
// VRRP length to XVRRP_MAX_VRRP_LEN (1480 bytes); longer messages (IPv6 with
// more than 91 addresses, only possible with jumbo frames) are outside the
// comparison (maxVRRPLen, events.go).

// fuzzPolicy programs the instance the fuzzed payload names, with the
// payload's version, so that only the VRRP bytes decide.
func fuzzPolicy(t *testing.T, d *Dataplane, payload []byte, v6, unicast, asV2, legacy bool, src netip.Addr) (InstanceKey, bool) {
	if len(payload) < 2 || payload[1] == 0 {
		return InstanceKey{}, false
	}
	k := InstanceKey{Ifindex: loIndex, VRID: payload[1], Family: IPv4}
	if v6 {
		k.Family = IPv6
	}
	p := InstancePolicy{Version: 3, ChecksumAsV2: asV2, LegacyUnicastChecksum: legacy, Rates: wideOpen}
	if payload[0]>>4 == 2 && !v6 {
		p.Version = 2
	}
	if unicast {
		p.Peers = []netip.Addr{src}
	}
	mustSet(t, d, k, p)
	return k, true
}

func ipFrame(payload []byte, src, dst netip.Addr) []byte {
	f := []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0, 0, 0, 0, 1}
	if src.Is6() {
		f = binary.BigEndian.AppendUint16(f, 0x86dd)
		f = append(f, 0x60, 0, 0, 0)
		f = binary.BigEndian.AppendUint16(f, uint16(len(payload)))
		f = append(f, 112, 255)
	} else {
		f = binary.BigEndian.AppendUint16(f, 0x0800)
		f = append(f, 0x45, 0xc0)
		f = binary.BigEndian.AppendUint16(f, uint16(20+len(payload)))
		f = append(f, 0, 0, 0, 0, 255, 112, 0, 0)
	}
	f = append(f, src.AsSlice()...)
	f = append(f, dst.AsSlice()...)
	return append(f, payload...)
}

// FuzzXDPMatchesDecoder fuzzes the VRRP bytes inside a well-formed IP
// packet. sel: bit 0 IPv6, bit 1 unicast, bit 2 v3_checksum_as_v2, bit 3
// legacy unicast checksum.
func FuzzXDPMatchesDecoder(f *testing.F) {
	for _, a := range []advert{v3adv4(), v3adv6(), v2adv4(), unicast4(v3adv4()), unicast6(v3adv6()),
		with(v3adv4(), func(a *advert) { a.csum = csumAsV2 }), with(unicast4(v3adv4()), func(a *advert) { a.csum = csumLegacy })} {
		sel := byte(0)
		if a.v6 {
			sel |= 1
		}
		if !a.dst.IsMulticast() {
			sel |= 2
		}
		if a.csum == csumAsV2 {
			sel |= 4
		}
		if a.csum == csumLegacy {
			sel |= 8
		}
		f.Add(a.vrrp(), sel)
	}
	d := openTest(f)
	f.Fuzz(func(t *testing.T, payload []byte, sel byte) {
		if len(payload) > maxVRRPLen {
			return
		}
		v6, unicast, asV2, legacy := sel&1 != 0, sel&2 != 0, sel&4 != 0, sel&8 != 0
		src, dst := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("224.0.0.18")
		if v6 {
			src, dst = netip.MustParseAddr("fe80::2"), netip.MustParseAddr("ff02::12")
		}
		if unicast {
			dst = netip.MustParseAddr("198.18.0.1")
			if v6 {
				dst = netip.MustParseAddr("2001:db8::1")
			}
		}
		_, known := fuzzPolicy(t, d, payload, v6, unicast, asV2, legacy, src)
		res, err := d.RunFrame(ipFrame(payload, src, dst), loIndex)
		if err != nil {
			t.Fatal(err)
		}
		var a goadvert.Advert
		derr := goadvert.Decode(payload, src, dst, goadvert.DecodeOptions{ChecksumAsV2: asV2, LegacyUnicastChecksum: legacy}, &a)
		if !known && res.Reason == ReasonUnknownVRID {
			return // VRID 0 cannot be configured; the decoder does not judge VRIDs
		}
		if (res.Reason == ReasonAccepted) != (derr == nil) {
			t.Fatalf("XDP %v/%v, decoder error %v, for %x (sel %#x)", res.Verdict, res.Reason, derr, payload, sel)
		}
		if res.Reason == ReasonAccepted && (!res.HasEvent || !bytes.Equal(res.Event.Payload, payload)) {
			t.Fatalf("accepted without the right event: has %v payload %x, want %x", res.HasEvent, res.Event.Payload, payload)
		}
	})
}

// parsedFrame is the test's own reading of a raw frame: what the XDP
// program should treat as an advert for the fuzzed instance table.
type parsedFrame struct {
	ok       bool // IPv4/IPv6 protocol 112, not a fragment, lengths consistent
	v6       bool
	ttl      uint8
	src, dst netip.Addr
	payload  []byte
}

func parseFrame(f []byte) parsedFrame {
	var p parsedFrame
	if len(f) < 14 {
		return p
	}
	et, off := binary.BigEndian.Uint16(f[12:]), 14
	for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++ {
		if len(f) < off+4 {
			return p
		}
		et, off = binary.BigEndian.Uint16(f[off+2:]), off+4
	}
	ip := f[off:]
	switch et {
	case 0x0800:
		if len(ip) < 20 || ip[9] != 112 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return p
		}
		ihl, tot := int(ip[0]&0x0f)*4, int(binary.BigEndian.Uint16(ip[2:]))
		if ip[0]>>4 != 4 || ihl < 20 || tot < ihl || tot > len(ip) {
			return p
		}
		p.ttl, p.payload = ip[8], ip[ihl:tot]
		p.src, p.dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	case 0x86dd:
		if len(ip) < 40 || ip[6] != 112 {
			return p
		}
		n := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+n > len(ip) {
			return p
		}
		p.v6, p.ttl, p.payload = true, ip[7], ip[40:40+n]
		p.src, p.dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return p
	}
	p.ok = true
	return p
}

// FuzzXDPRawFrame feeds whole random frames. The program must never fail
// to run or move other than exactly one counter (RunFrame checks), must
// answer PASS or DROP, must pass everything that is not IP protocol 112,
// and, on multicast instances configured for every VRID, must accept
// exactly the frames that the test's parser and the Go decoder accept.
func FuzzXDPRawFrame(f *testing.F) {
	for _, c := range frameTable() {
		f.Add(c.frame)
	}
	d := openTest(f)
	for vrid := 1; vrid <= 255; vrid++ {
		v := uint8(3)
		if vrid%2 == 0 {
			v = 2
		}
		mustSet(f, d, InstanceKey{loIndex, uint8(vrid), IPv4}, InstancePolicy{Version: v, Rates: wideOpen})
		mustSet(f, d, InstanceKey{loIndex, uint8(vrid), IPv6}, InstancePolicy{Version: 3, Rates: wideOpen})
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 {
			return // the kernel refuses shorter test input
		}
		res, err := d.RunFrame(frame, loIndex)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != VerdictPass && res.Verdict != VerdictDrop {
			t.Fatalf("verdict %v", res.Verdict)
		}
		p := parseFrame(frame)
		if !p.ok {
			if res.Reason == ReasonAccepted {
				t.Fatalf("accepted a frame the test parser rejects: %x", frame)
			}
			return
		}
		if len(p.payload) > maxVRRPLen {
			return
		}
		var a goadvert.Advert
		derr := goadvert.Decode(p.payload, p.src, p.dst, goadvert.DecodeOptions{}, &a)
		group := netip.MustParseAddr("224.0.0.18")
		if p.v6 {
			group = netip.MustParseAddr("ff02::12")
		}
		wantVersion := uint8(3)
		if !p.v6 && len(p.payload) > 1 && p.payload[1]%2 == 0 {
			wantVersion = 2
		}
		want := derr == nil && p.ttl == 255 && p.dst == group && a.VRID != 0 && a.Version == wantVersion
		if (res.Reason == ReasonAccepted) != want {
			t.Fatalf("XDP %v/%v; decoder %v, ttl %d, dst %v, vrid %d version %d: frame %x",
				res.Verdict, res.Reason, derr, p.ttl, p.dst, a.VRID, a.Version, frame)
		}
		if want && (!bytes.Equal(res.Event.Payload, p.payload) || res.Event.Src != p.src || res.Event.Dst != p.dst) {
			t.Fatalf("event %+v does not describe the frame", res.Event)
		}
	})
}
