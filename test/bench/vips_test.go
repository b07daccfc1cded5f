package bench

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
)

// TestVIPsCasesExpandSizesByFamilies: the matrix is families × sizes ×
// bystander sets (50 at 100 ms by default), and what the lab cannot lay
// out is an error.
func TestVIPsCasesExpandSizesByFamilies(t *testing.T) {
	for _, tc := range []struct {
		name, sizes, fams, bys, extra string
		want                          []string
		wantErr                       bool
	}{
		{"TwoSizesThreeFamilies", "1000,10000", "4,6,mixed", "", "", []string{
			"vips 1000×IPv4 beside 50@100ms", "vips 10000×IPv4 beside 50@100ms", "vips 1000×IPv6 beside 50@100ms", "vips 10000×IPv6 beside 50@100ms",
			"vips 1000×IPv4+IPv6 beside 50@100ms", "vips 10000×IPv4+IPv6 beside 50@100ms"}, false},
		{"TwoBystanderSets", "10000", "4", "50@100ms,254@10ms", "", []string{
			"vips 10000×IPv4 beside 50@100ms", "vips 10000×IPv4 beside 254@10ms"}, false},
		{"ExtraCellAfterTheMatrix", "1000", "4,6", "", "10000/4/254@10ms", []string{
			"vips 1000×IPv4 beside 50@100ms", "vips 1000×IPv6 beside 50@100ms", "vips 10000×IPv4 beside 254@10ms"}, false},
		{"UnknownFamily", "10", "ipx", "", "", nil, true},
		{"SizeZero", "0", "4", "", "", nil, true},
		{"NotANumber", "many", "4", "", "", nil, true},
		{"MoreBystandersThanVRIDs", "10", "4", "255@10ms", "", nil, true},
		{"BystanderIntervalTooShort", "10", "4", "50@5ms", "", nil, true},
		{"ExtraCellWithoutFamily", "10", "4", "", "10000/254@10ms", nil, true},
		{"ExtraCellBadBystanders", "10", "4", "", "10000/4/255@10ms", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cases, err := Config{VIPsSizes: tc.sizes, VIPsFamilies: tc.fams, VIPsBystanders: tc.bys, VIPsExtra: tc.extra}.VIPsCases()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(cases) != len(tc.want) {
				t.Fatalf("%d cases, want %d", len(cases), len(tc.want))
			}
			for i, c := range cases {
				if c.Name() != tc.want[i] {
					t.Errorf("case %d: %q, want %q", i, c.Name(), tc.want[i])
				}
			}
		})
	}
}

// TestVIPsAddrsAreDistinctTestAddresses: N distinct addresses from
// 198.18.0.0/15 and 2001:db8::/32, every other one IPv6 when mixed.
func TestVIPsAddrsAreDistinctTestAddresses(t *testing.T) {
	v4, v6 := netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32")
	for _, c := range []VIPsCase{{N: 65000, Family: "4"}, {N: 10000, Family: "6"}, {N: 1001, Family: "mixed"}} {
		seen := map[netip.Addr]bool{}
		n6 := 0
		for _, a := range c.Addrs() {
			if seen[a] {
				t.Fatalf("%s: %v twice", c.Name(), a)
			}
			seen[a] = true
			if a.Is6() {
				n6++
			}
			if !v4.Contains(a) && !v6.Contains(a) {
				t.Fatalf("%s: %v outside the test ranges", c.Name(), a)
			}
		}
		want6 := map[string]int{"4": 0, "6": c.N, "mixed": c.N / 2}[c.Family]
		if len(seen) != c.N || n6 != want6 {
			t.Errorf("%s: %d addresses, %d IPv6; want %d, %d", c.Name(), len(seen), n6, c.N, want6)
		}
	}
}

// TestVIPsConfReadsAsMeant: both hosts' configurations parse (xvrrpd's
// reader of keepalived.conf), the big instance holds the N addresses as
// excluded ones, only host 1 tracks the file, and each bystander is
// mastered (priority 200) by exactly one host.
func TestVIPsConfReadsAsMeant(t *testing.T) {
	c := VIPsCase{N: 300, Family: "mixed", Bystanders: maxBystanders, BystanderInt: 10 * time.Millisecond}
	addrs := c.Addrs()
	prio := map[string]int{}
	for host := 1; host <= 2; host++ {
		cfg, _, err := config.Parse("vips.conf", []byte(vipsConf(host, c, addrs, "/run/track")), config.Options{})
		if err != nil {
			t.Fatalf("host %d: %v", host, err)
		}
		if len(cfg.Instances) != c.Bystanders+1 {
			t.Fatalf("host %d: %d instances, want %d", host, len(cfg.Instances), c.Bystanders+1)
		}
		for _, in := range cfg.Instances {
			if in.Name != "BIG" {
				if in.Priority == 200 {
					prio[in.Name]++
				}
				continue
			}
			if len(in.ExcludedVIPs) != len(addrs) || len(in.VIPs) != 1 {
				t.Errorf("host %d: BIG has %d excluded and %d advertised addresses, want %d and 1", host, len(in.ExcludedVIPs), len(in.VIPs), len(addrs))
			}
			if tracks := len(in.TrackFiles); tracks != map[int]int{1: 1, 2: 0}[host] {
				t.Errorf("host %d: BIG tracks %d files", host, tracks)
			}
		}
	}
	if len(prio) != c.Bystanders {
		t.Errorf("%d bystanders have a master, want %d", len(prio), c.Bystanders)
	}
	for name, n := range prio {
		if n != 1 {
			t.Errorf("%s has priority 200 on %d hosts, want 1", name, n)
		}
	}
}

// TestAnnouncedReadsGARPAndNA: a gratuitous ARP (RFC 5227 §3: sender and
// target protocol address equal) and an ICMPv6 neighbour advertisement
// (RFC 4861 §4.4) name the address they announce; an ARP request for
// another address and other frames announce nothing.
func TestAnnouncedReadsGARPAndNA(t *testing.T) {
	arp := func(spa, tpa netip.Addr) []byte {
		f := make([]byte, 14+28)
		binary.BigEndian.PutUint16(f[12:], 0x0806)
		binary.BigEndian.PutUint16(f[14+2:], 0x0800)
		copy(f[14+14:], spa.AsSlice())
		copy(f[14+24:], tpa.AsSlice())
		return f
	}
	na := func(typ byte, target netip.Addr) []byte {
		f := make([]byte, 14+40+24)
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		f[14+6] = 58
		f[14+40] = typ
		copy(f[14+48:], target.AsSlice())
		return f
	}
	a4, b4 := netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2")
	a6 := netip.MustParseAddr("2001:db8:1::1")
	for _, tc := range []struct {
		name  string
		frame []byte
		want  netip.Addr
		ok    bool
	}{
		{"GratuitousARP", arp(a4, a4), a4, true},
		{"ARPRequestForAnother", arp(a4, b4), netip.Addr{}, false},
		{"NeighbourAdvertisement", na(136, a6), a6, true},
		{"NeighbourSolicitation", na(135, a6), netip.Addr{}, false},
		{"Runt", []byte{1, 2, 3}, netip.Addr{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := announced(tc.frame)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("announced = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
