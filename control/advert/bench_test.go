package advert

import (
	"net/netip"
	"testing"
)

// BenchmarkDecodeV3IPv4 is the receive path's share of the ≤ 1 µs,
// 0-allocation budget for decode + state-machine step.
func BenchmarkDecodeV3IPv4(b *testing.B) {
	msg := goodV3v4(b)
	var a Advert
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Decode(msg, testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeV3IPv6(b *testing.B) {
	msg := goodV3v6(b)
	var a Advert
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Decode(msg, testSrc6, GroupIPv6, DecodeOptions{}, &a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeV2(b *testing.B) {
	msg := goodV2(b)
	var a Advert
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(msg, testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendV3IPv4(b *testing.B) {
	a := Advert{Version: 3, Type: 1, VRID: 8, Priority: 200, Interval: 100,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.8.1"), netip.MustParseAddr("198.18.8.2")}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = a.Append(buf[:0], testSrc4, GroupIPv4, EncodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
