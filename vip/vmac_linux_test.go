package vip

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestVMAC_Keepalived(t *testing.T) {
	ns := routeNS(t)
	ns.IP("link", "set", "d0", "group", "7")
	sysctl := func(fam, ifname, key string) string {
		t.Helper()
		var v string
		must(t, ns.Do(func() error { var err error; v, err = readSysctl(fam, ifname, key); return err }))
		return v
	}
	origIgnore, origFilter := sysctl("ipv4", "d0", "arp_ignore"), sysctl("ipv4", "d0", "arp_filter")
	c4 := VMACConfig{Parent: "d0", VRID: 51}
	c6 := VMACConfig{Parent: "d0", VRID: 52, IPv6: true, Name: "vm6"}
	for round := range 2 { // the second call adopts what the first created
		must(t, ns.Do(func() error {
			v, err := EnsureVMAC(c4)
			if err != nil {
				return err
			}
			if v.Name != "vrrp.51" || v.MAC.String() != "00:00:5e:00:01:33" || v.Adopted != (round == 1) {
				t.Errorf("VMAC_NameMACAdopt round %d: %+v", round, v)
			}
			v6, err := EnsureVMAC(c6)
			if err != nil {
				return err
			}
			if v6.MAC.String() != "00:00:5e:00:02:34" {
				t.Errorf("VMAC_IPv6MAC_RFC5798Section7_3: %v", v6.MAC)
			}
			l, err := netlink.LinkByName("vrrp.51")
			if err != nil {
				return err
			}
			mv := l.(*netlink.Macvlan)
			parent, _ := netlink.LinkByName("d0")
			if mv.Mode != netlink.MACVLAN_MODE_PRIVATE || mv.ParentIndex != parent.Attrs().Index || mv.Attrs().Group != 7 || mv.Attrs().Flags&1 == 0 {
				t.Errorf("VMAC_PrivateMacvlanOnParentWithGroupUp: mode %v parent %d group %d flags %v", mv.Mode, mv.ParentIndex, mv.Attrs().Group, mv.Attrs().Flags)
			}
			return nil
		}))
	}
	for _, c := range []struct{ fam, ifname, key, want string }{
		{"ipv4", "vrrp.51", "arp_ignore", "1"}, {"ipv4", "vrrp.51", "accept_local", "1"},
		{"ipv4", "vrrp.51", "rp_filter", "0"}, {"ipv4", "vrrp.51", "promote_secondaries", "1"},
		{"ipv6", "vrrp.51", "disable_ipv6", "1"}, {"ipv4", "d0", "arp_ignore", "1"}, {"ipv4", "d0", "arp_filter", "1"},
		{"ipv4", "vm6", "arp_ignore", "1"}, {"ipv6", "vm6", "disable_ipv6", "0"}, {"ipv6", "vm6", "addr_gen_mode", "1"},
	} {
		if got := sysctl(c.fam, c.ifname, c.key); got != c.want {
			t.Errorf("VMAC_Sysctl_Keepalived: net.%s.conf.%s.%s = %s, want %s", c.fam, c.ifname, c.key, got, c.want)
		}
	}
	// The IPv6 VMAC carries the parent-derived link-local and no EUI-64 of
	// the virtual MAC (which every router would share).
	out := ns.IP("-6", "addr", "show", "dev", "vm6")
	if !strings.Contains(out, "fe80::") || strings.Contains(out, "fe80::200:5eff:fe00:234") {
		t.Errorf("VMAC_IPv6LinkLocal_RFC5798Section7_4: %s", out)
	}
	// A stale macvlan of that name on another parent is replaced.
	must(t, ns.Do(func() error { return RemoveVMAC(c4) }))
	ns.IP("link", "add", "vrrp.51", "link", "d1", "type", "macvlan", "mode", "bridge")
	must(t, ns.Do(func() error {
		v, err := EnsureVMAC(c4)
		if err != nil || v.Adopted {
			t.Errorf("VMAC_StaleReplaced: %+v, %v", v, err)
		}
		return nil
	}))
	// A non-macvlan of that name is never touched.
	must(t, ns.Do(func() error {
		if _, err := EnsureVMAC(VMACConfig{Name: "d1", Parent: "d0", VRID: 9}); err == nil || !strings.Contains(err.Error(), "not a macvlan") {
			t.Errorf("VMAC_RefusesNonMacvlan: %v", err)
		}
		return nil
	}))
	must(t, ns.Do(func() error { return RemoveVMAC(c4) }))
	must(t, ns.Do(func() error { return RemoveVMAC(c6) }))
	must(t, ns.Do(func() error { return RemoveVMAC(c6) })) // gone already
	if out := ns.IP("link", "show"); strings.Contains(out, "vrrp.51") || strings.Contains(out, "vm6") {
		t.Errorf("VMAC_RemovedOnStop: %s", out)
	}
	if a, f := sysctl("ipv4", "d0", "arp_ignore"), sysctl("ipv4", "d0", "arp_filter"); a != origIgnore || f != origFilter {
		t.Errorf("VMAC_ParentARPRestored: arp_ignore %s arp_filter %s, want %s %s", a, f, origIgnore, origFilter)
	}
}
