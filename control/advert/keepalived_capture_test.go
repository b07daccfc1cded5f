package advert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// capturedPacket is one VRRP message out of testdata/keepalived-2.2.7.pcap
// with the IP addresses it was sent between.
type capturedPacket struct {
	src, dst netip.Addr
	ttl      uint8
	vrrp     []byte
}

// readCapture reads the classic-pcap, Ethernet-linktype capture that
// testdata/capture-keepalived.sh writes and returns its IPv4 and IPv6
// protocol-112 payloads.
func readCapture(t *testing.T, path string) []capturedPacket { return readCaptureTB(t, path) }

func readCaptureTB(t testing.TB, path string) []capturedPacket {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read capture (recreate it with testdata/capture-keepalived.sh): %v", err)
	}
	if len(raw) < 24 || binary.LittleEndian.Uint32(raw) != 0xa1b2c3d4 {
		t.Fatalf("%s is not a little-endian microsecond pcap", path)
	}
	if lt := binary.LittleEndian.Uint32(raw[20:]); lt != 1 {
		t.Fatalf("%s: link type %d, want 1 (Ethernet)", path, lt)
	}
	var out []capturedPacket
	for p := raw[24:]; len(p) > 0; {
		if len(p) < 16 {
			t.Fatalf("%s: truncated record header", path)
		}
		n := int(binary.LittleEndian.Uint32(p[8:]))
		if len(p) < 16+n {
			t.Fatalf("%s: truncated record", path)
		}
		frame := p[16 : 16+n]
		p = p[16+n:]
		if len(frame) < 14 {
			t.Fatalf("%s: frame of %d bytes", path, len(frame))
		}
		ip := frame[14:]
		switch binary.BigEndian.Uint16(frame[12:]) {
		case 0x0800:
			ihl := int(ip[0]&0x0f) * 4
			total := int(binary.BigEndian.Uint16(ip[2:]))
			if ip[9] != ProtocolNumber {
				t.Fatalf("%s: IPv4 protocol %d", path, ip[9])
			}
			out = append(out, capturedPacket{
				src: netip.AddrFrom4([4]byte(ip[12:16])), dst: netip.AddrFrom4([4]byte(ip[16:20])),
				ttl: ip[8], vrrp: ip[ihl:total],
			})
		case 0x86dd:
			if ip[6] != ProtocolNumber {
				t.Fatalf("%s: IPv6 next header %d (extension headers not expected from keepalived)", path, ip[6])
			}
			plen := int(binary.BigEndian.Uint16(ip[4:]))
			out = append(out, capturedPacket{
				src: netip.AddrFrom16([16]byte(ip[8:24])), dst: netip.AddrFrom16([16]byte(ip[24:40])),
				ttl: ip[7], vrrp: ip[40 : 40+plen],
			})
		default:
			t.Fatalf("%s: unexpected ethertype %#x", path, binary.BigEndian.Uint16(frame[12:]))
		}
	}
	return out
}

// keepalivedInstance is what testdata/capture-keepalived.sh configured for
// one VRID, i.e. what every advert it sent for that VRID must decode to.
type keepalivedInstance struct {
	name     string
	src, dst netip.Addr
	want     Advert // Priority is the configured one; the resignation advert has 0
	decode   DecodeOptions
	encode   EncodeOptions
	legacy   bool // the checksum verifies only with the old unicast pseudo-header
}

func keepalivedInstances() map[uint8]keepalivedInstance {
	a := netip.MustParseAddr
	kaSrc := a("198.18.0.1")
	return map[uint8]keepalivedInstance{
		51: {name: "V2_AuthPass", src: kaSrc, dst: GroupIPv4, want: Advert{
			Version: 2, Type: 1, VRID: 51, Priority: 150, Interval: 1, AuthType: AuthPass,
			AuthData: Password("secret"), Addrs: []netip.Addr{a("198.18.51.1"), a("198.18.51.2")}}},
		52: {name: "V2_NoAuth", src: kaSrc, dst: GroupIPv4, want: Advert{
			Version: 2, Type: 1, VRID: 52, Priority: 100, Interval: 2, AuthType: AuthNone,
			Addrs: []netip.Addr{a("198.18.52.1")}}},
		53: {name: "V3_IPv4", src: kaSrc, dst: GroupIPv4, want: Advert{
			Version: 3, Type: 1, VRID: 53, Priority: 200, Interval: 50,
			Addrs: []netip.Addr{a("198.18.53.1"), a("198.18.53.2"), a("198.18.53.3")}}},
		54: {name: "V3_IPv6", src: a("fe80::c6ff:fe12:1"), dst: GroupIPv6, want: Advert{
			Version: 3, Type: 1, VRID: 54, Priority: 254, Interval: 100,
			Addrs: []netip.Addr{a("2001:db8:54::1"), a("2001:db8:54::2")}}},
		55: {name: "V3_Unicast", src: kaSrc, dst: a("198.18.0.2"), want: Advert{
			Version: 3, Type: 1, VRID: 55, Priority: 120, Interval: 100,
			Addrs: []netip.Addr{a("198.18.55.1")}}},
		56: {name: "V3_UnicastOldChecksum", src: kaSrc, dst: a("198.18.0.2"), want: Advert{
			Version: 3, Type: 1, VRID: 56, Priority: 110, Interval: 100,
			Addrs: []netip.Addr{a("198.18.56.1")}},
			decode: DecodeOptions{LegacyUnicastChecksum: true},
			encode: EncodeOptions{LegacyUnicastChecksum: true}, legacy: true},
	}
}

// TestKeepalivedCaptures decodes every advert keepalived 2.2.7 sent in
// testdata/keepalived-2.2.7.pcap, checks every field against the
// configuration that produced it, and re-encodes it (from the decoded value
// and from the configuration) to the identical bytes.
func TestKeepalivedCaptures(t *testing.T) {
	pkts := readCapture(t, "testdata/keepalived-2.2.7.pcap")
	instances := keepalivedInstances()
	seen := map[uint8]int{}     // adverts at the configured priority
	resigned := map[uint8]int{} // priority-0 adverts (RFC 5798 §6.4.3 shutdown)
	for i, p := range pkts {
		if len(p.vrrp) < 2 {
			t.Fatalf("packet %d: %d VRRP bytes", i, len(p.vrrp))
		}
		inst, ok := instances[p.vrrp[1]]
		if !ok {
			t.Fatalf("packet %d: VRID %d not configured by capture-keepalived.sh", i, p.vrrp[1])
		}
		t.Run(fmt.Sprintf("%s/packet%d", inst.name, i), func(t *testing.T) {
			if p.src != inst.src || p.dst != inst.dst {
				t.Fatalf("sent %v -> %v, want %v -> %v", p.src, p.dst, inst.src, inst.dst)
			}
			if p.ttl != TTL {
				t.Errorf("TTL/hop limit %d, want %d (RFC 5798 §5.1.1.3)", p.ttl, TTL)
			}
			var got Advert
			if err := Decode(p.vrrp, p.src, p.dst, inst.decode, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := inst.want
			switch got.Priority {
			case want.Priority:
				seen[want.VRID]++
			case 0:
				resigned[want.VRID]++
				want.Priority = 0
			}
			want.Checksum = binary.BigEndian.Uint16(p.vrrp[6:8])
			want.LegacyChecksum = inst.legacy
			assertAdvert(t, &got, &want)
			if got.IntervalDuration() != inst.want.IntervalDuration() {
				t.Errorf("IntervalDuration %v, want %v", got.IntervalDuration(), inst.want.IntervalDuration())
			}
			if inst.legacy {
				// keepalived's old form must not pass the RFC checksum.
				if err := Decode(p.vrrp, p.src, p.dst, DecodeOptions{}, new(Advert)); !errors.Is(err, ErrChecksum) {
					t.Errorf("Decode without LegacyUnicastChecksum: %v, want ErrChecksum", err)
				}
			}
			reenc, err := got.Append(nil, p.src, p.dst, inst.encode)
			if err != nil {
				t.Fatalf("Append(decoded): %v", err)
			}
			if !slices.Equal(reenc, p.vrrp) {
				t.Errorf("Append(decoded) = %x\nkeepalived sent  %x", reenc, p.vrrp)
			}
			fresh := want // built from the configuration, not from Decode
			fresh.Checksum, fresh.LegacyChecksum = 0, false
			enc, err := fresh.Append([]byte{0xaa}, p.src, p.dst, inst.encode)
			if err != nil {
				t.Fatalf("Append(configured): %v", err)
			}
			if enc[0] != 0xaa || !slices.Equal(enc[1:], p.vrrp) {
				t.Errorf("Append(configured) = %x\nkeepalived sent    %x", enc[1:], p.vrrp)
			}
			if fresh.Checksum != want.Checksum {
				t.Errorf("Append set Checksum %#04x, want %#04x", fresh.Checksum, want.Checksum)
			}
			c, err := Checksum(p.vrrp, p.src, p.dst, inst.encode)
			if err != nil || c != want.Checksum {
				t.Errorf("Checksum = %#04x, %v; want %#04x", c, err, want.Checksum)
			}
		})
	}
	for vrid, inst := range instances {
		if seen[vrid] == 0 || resigned[vrid] == 0 {
			t.Errorf("%s (VRID %d): %d adverts at priority %d and %d at priority 0 in the capture, want at least one of each; recreate it with testdata/capture-keepalived.sh",
				inst.name, vrid, seen[vrid], inst.want.Priority, resigned[vrid])
		}
	}
}

func assertAdvert(t *testing.T, got, want *Advert) {
	t.Helper()
	if got.Version != want.Version || got.Type != want.Type || got.VRID != want.VRID ||
		got.Priority != want.Priority || got.Interval != want.Interval ||
		got.AuthType != want.AuthType || got.AuthData != want.AuthData ||
		got.Checksum != want.Checksum || got.LegacyChecksum != want.LegacyChecksum ||
		!slices.Equal(got.Addrs, want.Addrs) {
		t.Errorf("decoded\n %+v\nwant\n %+v", *got, *want)
	}
}
