package advert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// fuzzEndpoints picks the IP source and destination for a fuzz input: one
// bit chooses the family, one chooses multicast or unicast.
func fuzzEndpoints(sel byte) (src, dst netip.Addr) {
	if sel&1 == 0 {
		src, dst = testSrc4, GroupIPv4
		if sel&2 != 0 {
			dst = testPeer
		}
		return src, dst
	}
	src, dst = testSrc6, GroupIPv6
	if sel&2 != 0 {
		dst = netip.MustParseAddr("2001:db8::2")
	}
	return src, dst
}

// FuzzDecode: Decode never panics, refuses with one of the sentinels, and
// whatever it accepts Append reproduces: the same message up to the fields
// the RFCs tell a receiver to ignore (v3 rsvd bits, unused v2 auth data,
// the 0xffff spelling of a zero checksum), and that output decodes to the
// same Advert. testdata/fuzz/FuzzDecode holds the bad messages seeded.
func FuzzDecode(f *testing.F) {
	f.Add(goodV2(f), byte(0))
	f.Add(goodV3v4(f), byte(0))
	f.Add(goodV3v6(f), byte(1))
	for _, p := range readCaptureForFuzz(f) {
		f.Add(p, byte(0))
	}
	sentinels := []error{ErrTooShort, ErrVersion, ErrType, ErrLength, ErrChecksum, ErrAddrFamily, ErrAuthType}
	f.Fuzz(func(t *testing.T, msg []byte, sel byte) {
		src, dst := fuzzEndpoints(sel)
		dopts := DecodeOptions{ChecksumAsV2: sel&4 != 0, LegacyUnicastChecksum: sel&8 != 0}
		var a Advert
		err := Decode(msg, src, dst, dopts, &a)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Decode error %v wraps no sentinel", err)
		}
		eopts := EncodeOptions{ChecksumAsV2: dopts.ChecksumAsV2, LegacyUnicastChecksum: a.LegacyChecksum}
		out, err := a.Append(nil, src, dst, eopts)
		if a.AuthType == AuthAH {
			if !errors.Is(err, ErrAuthType) {
				t.Fatalf("Append of an AH advert: %v, want ErrAuthType", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Append of a decoded advert: %v", err)
		}
		want := bytes.Clone(msg)
		if a.Version == 3 {
			want[4] &= 0x0f
		} else if a.AuthType == AuthNone {
			clear(want[len(want)-AuthDataLen:])
		}
		binary.BigEndian.PutUint16(want[6:8], 0)
		got := bytes.Clone(out)
		binary.BigEndian.PutUint16(got[6:8], 0)
		if !bytes.Equal(got, want) {
			t.Fatalf("Append(Decode(%x)) = %x", msg, out)
		}
		var b Advert
		if err := Decode(out, src, dst, dopts, &b); err != nil {
			t.Fatalf("Decode(Append(Decode(%x))) = %v", msg, err)
		}
		a.Checksum, b.Checksum = 0, 0
		a.AuthData, b.AuthData = [8]byte{}, [8]byte{}
		if a.Version != b.Version || a.VRID != b.VRID || a.Priority != b.Priority || a.Interval != b.Interval ||
			a.AuthType != b.AuthType || a.LegacyChecksum != b.LegacyChecksum || len(a.Addrs) != len(b.Addrs) {
			t.Fatalf("round trip changed the advert: %+v -> %+v", a, b)
		}
		for i := range a.Addrs {
			if a.Addrs[i] != b.Addrs[i] {
				t.Fatalf("round trip changed address %d: %v -> %v", i, a.Addrs[i], b.Addrs[i])
			}
		}
	})
}

// FuzzRoundTrip builds adverts from fuzzed field values, so that valid
// checksums (which random bytes almost never have) are exercised: whatever
// Append accepts, Decode returns field for field.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(3), uint8(1), uint8(100), uint16(100), uint8(0), []byte("12345678"), []byte{198, 18, 0, 10}, byte(0))
	f.Add(uint8(2), uint8(51), uint8(150), uint16(1), uint8(1), []byte("secret"), []byte{198, 18, 51, 1, 198, 18, 51, 2}, byte(0))
	f.Add(uint8(3), uint8(54), uint8(254), uint16(4095), uint8(0), []byte{}, bytes.Repeat([]byte{0x20, 1, 0xd, 0xb8}, 8), byte(1))
	f.Add(uint8(3), uint8(56), uint8(110), uint16(100), uint8(0), []byte{}, []byte{198, 18, 56, 1}, byte(2|8))
	f.Fuzz(func(t *testing.T, version, vrid, prio uint8, interval uint16, authType uint8, auth, addrBytes []byte, sel byte) {
		src, dst := fuzzEndpoints(sel)
		a := Advert{Version: version, Type: TypeAdvertisement, VRID: vrid, Priority: prio, Interval: interval, AuthType: authType}
		copy(a.AuthData[:], auth)
		size := 4
		if src.Is6() {
			size = 16
		}
		for i := 0; i+size <= len(addrBytes) && len(a.Addrs) < 300; i += size {
			if size == 4 {
				a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(addrBytes[i:i+4])))
			} else {
				a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(addrBytes[i:i+16])))
			}
		}
		eopts := EncodeOptions{ChecksumAsV2: sel&4 != 0, LegacyUnicastChecksum: sel&8 != 0}
		out, err := a.Append(nil, src, dst, eopts)
		if err != nil {
			return // refusals are covered by TestAppend_Refuses
		}
		dopts := DecodeOptions(eopts)
		var b Advert
		if err := Decode(out, src, dst, dopts, &b); err != nil {
			t.Fatalf("Decode(Append(%+v)) = %v (bytes %x)", a, err, out)
		}
		if a.Version == 3 || a.AuthType == AuthNone {
			a.AuthData = [8]byte{}
		}
		if a.Version == 3 {
			a.AuthType = 0
		}
		if b.Version != a.Version || b.VRID != a.VRID || b.Priority != a.Priority || b.Interval != a.Interval ||
			b.AuthType != a.AuthType || b.AuthData != a.AuthData || b.Checksum != a.Checksum || len(b.Addrs) != len(a.Addrs) {
			t.Fatalf("Decode(Append(%+v)) = %+v", a, b)
		}
		for i := range a.Addrs {
			if a.Addrs[i] != b.Addrs[i] {
				t.Fatalf("address %d: %v -> %v", i, a.Addrs[i], b.Addrs[i])
			}
		}
	})
}

// readCaptureForFuzz seeds FuzzDecode with the IPv4 multicast keepalived
// adverts (their checksums verify with fuzzEndpoints(0)).
func readCaptureForFuzz(f *testing.F) [][]byte {
	var out [][]byte
	for _, p := range readCaptureTB(f, "testdata/keepalived-2.2.7.pcap") {
		if p.src == testSrc4 && p.dst == GroupIPv4 {
			out = append(out, p.vrrp)
		}
	}
	return out
}
