package flood

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/advert"
)

func testOptions() Options {
	return Options{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x13}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x12},
		MasterIP: net.ParseIP("198.18.0.11"), MasterPriority: 200,
		VIPs:    func(vrid int) net.IP { return net.IPv4(198, 18, 2, byte(vrid)) },
		MaxVRID: 255, Interval: 100 * time.Millisecond, Frames: 64, Seed: 7,
	}
}

// TestFramesDecodeAsIntended checks each kind of flood frame against the
// project's own VRRP decoder: the valid-looking and spoofed adverts decode
// (RFC 5798 section 5.2.8 checksum over the pseudo-header), the broken ones
// fail on their checksum, and the spoofed copies carry the master's source,
// priority and VIP.
func TestFramesDecodeAsIntended(t *testing.T) {
	o := testOptions()
	frames := Frames(o)
	if len(frames) != o.Frames {
		t.Fatalf("%d frames, want %d", len(frames), o.Frames)
	}
	for i, f := range frames {
		kind := i % numKinds
		var src, dst netip.Addr
		var payload []byte
		switch uint16(f[12])<<8 | uint16(f[13]) {
		case 0x0800:
			src, _ = netip.AddrFromSlice(f[14+12 : 14+16])
			dst, _ = netip.AddrFromSlice(f[14+16 : 14+20])
			if f[14+8] != 255 {
				t.Errorf("frame %d: TTL %d, want 255 (RFC 5798 section 5.1.1.3)", i, f[14+8])
			}
			payload = f[14+20:]
		case 0x86dd:
			src, _ = netip.AddrFromSlice(f[14+8 : 14+24])
			dst, _ = netip.AddrFromSlice(f[14+24 : 14+40])
			payload = f[14+40:]
		default:
			t.Fatalf("frame %d: ethertype %#x", i, f[12:14])
		}
		var a advert.Advert
		err := advert.Decode(payload, src, dst, advert.DecodeOptions{}, &a)
		switch kind {
		case KindBadChecksum:
			if !errors.Is(err, advert.ErrChecksum) {
				t.Errorf("frame %d (bad checksum): err = %v, want ErrChecksum", i, err)
			}
		case KindUnknownVRID:
			if err != nil || !src.Is6() {
				t.Errorf("frame %d (IPv6, unknown VRID): err = %v, src %v", i, err, src)
			}
		case KindRandomSource:
			if err != nil || !netip.MustParsePrefix("198.18.0.0/15").Contains(src) {
				t.Errorf("frame %d (random source): err = %v, src %v", i, err, src)
			}
		case KindSpoofedMaster:
			if err != nil {
				t.Fatalf("frame %d (spoofed master): %v", i, err)
			}
			if src != netip.MustParseAddr("198.18.0.11") || a.Priority != 200 {
				t.Errorf("frame %d (spoofed master): src %v priority %d, want 198.18.0.11 and 200", i, src, a.Priority)
			}
		}
	}
}

// TestCheckNamespaceRefusesForeignNames: the generator must not send from a
// namespace the benchmark did not create, nor from the one it runs in.
func TestCheckNamespaceRefusesForeignNames(t *testing.T) {
	tests := []struct{ name, ns string }{
		{"Empty", ""},
		{"OtherPrefix", "xvh1abcdef"},
		{"PathEscape", NSPrefix + "/../default"},
		{"BenchmarkPrefixButNoSuchNamespace", NSPrefix + "doesnotexist0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckNamespace(tc.ns); err == nil {
				t.Errorf("CheckNamespace(%q) = nil, want a refusal", tc.ns)
			}
		})
	}
}
