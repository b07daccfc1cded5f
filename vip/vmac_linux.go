package vip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VMACConfig describes an instance's use_vmac interface.
type VMACConfig struct {
	// Name is the interface; empty means keepalived's "vrrp.<VRID>".
	Name   string
	Parent string // the instance's interface
	VRID   uint8
	// IPv6 is the instance's family: it selects the MAC
	// 00:00:5e:00:02:VRID (RFC 5798 §7.3) and the IPv6 set-up.
	IPv6 bool
	// KeepIPv6 leaves IPv6 enabled on an IPv4 instance's VMAC, for IPv6
	// virtual_ipaddress_excluded entries on it (keepalived:
	// VRRP_FLAG_EVIP_OTHER_FAMILY); otherwise IPv4 VMACs get disable_ipv6.
	KeepIPv6 bool
	// LinkLocal is the IPv6 link-local address put on an IPv6 instance's
	// VMAC so adverts leave from a non-VIP address with the virtual MAC;
	// keepalived uses the instance's source address, else the parent's
	// link-local. Invalid: derive it from the parent's MAC (EUI-64), as
	// keepalived does when the parent has none.
	LinkLocal netip.Addr
}

// IfName is the VMAC interface name.
func (c VMACConfig) IfName() string {
	if c.Name != "" {
		return c.Name
	}
	return "vrrp." + strconv.Itoa(int(c.VRID))
}

// VirtualMAC is the RFC 5798 §7.3 virtual router MAC:
// 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
func VirtualMAC(vrid uint8, ipv6 bool) net.HardwareAddr {
	fam := byte(1)
	if ipv6 {
		fam = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, fam, vrid}
}

// VMAC is a VMAC interface in place.
type VMAC struct {
	Name    string
	Index   int
	MAC     net.HardwareAddr
	Adopted bool // it existed with the right parent, MAC and mode
}

// parentARP remembers a parent's arp_ignore/arp_filter before the first
// VMAC changed them, and how many VMACs rely on the change, so the last
// removal restores them (keepalived: reset_arp_config counting). The map is
// keyed by namespace inode and parent name.
var parentARP struct {
	sync.Mutex
	m map[string]*parentState
}

type parentState struct {
	arpIgnore, arpFilter string
	users                map[string]bool // VMAC names
}

func sysctlPath(fam, ifname, key string) string {
	return "/proc/sys/net/" + fam + "/conf/" + ifname + "/" + key
}

// The files under /proc/sys/net belong to the network namespace of the
// thread that opens them, so these follow the calling thread like netlink.
func readSysctl(fam, ifname, key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(fam, ifname, key))
	return string(bytes.TrimSpace(b)), err
}

func writeSysctl(fam, ifname, key, val string) error {
	if err := os.WriteFile(sysctlPath(fam, ifname, key), []byte(val), 0); err != nil {
		return fmt.Errorf("sysctl net.%s.conf.%s.%s=%s: %w", fam, ifname, key, val, err)
	}
	return nil
}

func netnsKey(parent string) string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return parent
	}
	return strconv.FormatUint(st.Ino, 10) + "/" + parent
}

// EnsureVMAC creates c's macvlan, or adopts one left by a previous run or
// kept across a reload, as keepalived's netlink_link_add_vmac does:
// macvlan mode private on the parent, the virtual MAC, the parent's
// interface group (so devgroup firewall rules keep matching), then the
// sysctls keepalived sets (vrrp_if_config.c): on the VMAC arp_ignore=1 and,
// for IPv4, accept_local=1, rp_filter=0 and promote_secondaries=1; on an IPv4
// instance's parent arp_ignore=1 and arp_filter=1, so the parent neither
// answers ARP for the VIPs with its own MAC nor for its own address on the
// VMAC. IPv6 stays off on an IPv4 VMAC unless KeepIPv6; an IPv6 VMAC gets no
// auto-generated link-local (RFC 5798 §7.4 wants adverts from the
// instance's own link-local) but LinkLocal instead. The link is brought up.
//
// A macvlan of that name on another parent is deleted and recreated; one with
// the wrong MAC or mode too (keepalived updates it in place; the result is
// the same interface set-up). A non-macvlan of that name is an error.
func EnsureVMAC(c VMACConfig) (*VMAC, error) {
	name := c.IfName()
	if len(name) > maxLabelLen {
		return nil, fmt.Errorf("VMAC name %q is longer than %d bytes", name, maxLabelLen)
	}
	parent, err := netlink.LinkByName(c.Parent)
	if err != nil {
		return nil, fmt.Errorf("VMAC %s: parent %s: %w", name, c.Parent, err)
	}
	mac := VirtualMAC(c.VRID, c.IPv6)
	v := &VMAC{Name: name, MAC: mac}
	if l, err := netlink.LinkByName(name); err == nil {
		mv, ok := l.(*netlink.Macvlan)
		if !ok {
			return nil, fmt.Errorf("VMAC %s: an interface of that name exists and is a %s, not a macvlan; rename it or give use_vmac another name", name, l.Type())
		}
		if mv.ParentIndex == parent.Attrs().Index && bytes.Equal(mv.HardwareAddr, mac) && mv.Mode == netlink.MACVLAN_MODE_PRIVATE {
			v.Adopted = true
		} else if err := netlink.LinkDel(l); err != nil {
			return nil, fmt.Errorf("VMAC %s: delete stale macvlan (parent, MAC or mode differ): %w", name, err)
		}
	} else {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, fmt.Errorf("VMAC %s: %w", name, err)
		}
	}
	if !v.Adopted {
		la := netlink.NewLinkAttrs()
		la.Name = name
		la.ParentIndex = parent.Attrs().Index
		la.HardwareAddr = mac
		la.Group = parent.Attrs().Group
		if err := netlink.LinkAdd(&netlink.Macvlan{LinkAttrs: la, Mode: netlink.MACVLAN_MODE_PRIVATE}); err != nil {
			return nil, fmt.Errorf("create VMAC %s on %s: %w", name, c.Parent, err)
		}
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("VMAC %s: %w", name, err)
	}
	v.Index = l.Attrs().Index
	sets := []struct{ fam, key, val string }{{"ipv4", "arp_ignore", "1"}}
	if !c.IPv6 {
		sets = append(sets, struct{ fam, key, val string }{"ipv4", "accept_local", "1"},
			struct{ fam, key, val string }{"ipv4", "rp_filter", "0"},
			struct{ fam, key, val string }{"ipv4", "promote_secondaries", "1"})
	}
	if c.IPv6 || c.KeepIPv6 {
		sets = append(sets, struct{ fam, key, val string }{"ipv6", "disable_ipv6", "0"})
	} else {
		sets = append(sets, struct{ fam, key, val string }{"ipv6", "disable_ipv6", "1"})
	}
	for _, s := range sets {
		if err := writeSysctl(s.fam, name, s.key, s.val); err != nil {
			return nil, fmt.Errorf("VMAC %s: %w", name, err)
		}
	}
	if c.IPv6 || c.KeepIPv6 {
		// No EUI-64 link-local from the virtual MAC: every router would
		// derive the same one. Must precede link up.
		if err := netlink.LinkSetIP6AddrGenMode(l, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
			return nil, fmt.Errorf("VMAC %s: addr_gen_mode none: %w", name, err)
		}
	}
	if !c.IPv6 {
		if err := holdParentARP(c.Parent, name); err != nil {
			return nil, fmt.Errorf("VMAC %s: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("VMAC %s: set up: %w", name, err)
	}
	if c.IPv6 {
		ll := c.LinkLocal
		if !ll.IsValid() {
			ll = eui64LinkLocal(parent.Attrs().HardwareAddr)
		}
		a := &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(ll, 64)), Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("VMAC %s: link-local %s: %w", name, ll, err)
		}
	}
	return v, nil
}

// eui64LinkLocal is fe80::/64 with the modified EUI-64 of mac (RFC 4291
// appendix A), keepalived's make_link_local_address.
func eui64LinkLocal(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	if len(mac) == 6 {
		b[8], b[9], b[10], b[11], b[12] = mac[0]^0x02, mac[1], mac[2], 0xff, 0xfe
		b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	}
	return netip.AddrFrom16(b)
}

// holdParentARP sets the parent's ARP sysctls for vmac, remembering the
// values found the first time; a VMAC adopted after a restart finds them set
// already, and the originals are then unknown (as for keepalived).
func holdParentARP(parent, vmac string) error {
	parentARP.Lock()
	defer parentARP.Unlock()
	if parentARP.m == nil {
		parentARP.m = map[string]*parentState{}
	}
	key := netnsKey(parent)
	if st, ok := parentARP.m[key]; ok {
		st.users[vmac] = true
		return nil
	}
	ign, err := readSysctl("ipv4", parent, "arp_ignore")
	if err != nil {
		return err
	}
	filt, err := readSysctl("ipv4", parent, "arp_filter")
	if err != nil {
		return err
	}
	if err := writeSysctl("ipv4", parent, "arp_ignore", "1"); err != nil {
		return err
	}
	if err := writeSysctl("ipv4", parent, "arp_filter", "1"); err != nil {
		return err
	}
	parentARP.m[key] = &parentState{arpIgnore: ign, arpFilter: filt, users: map[string]bool{vmac: true}}
	return nil
}

func releaseParentARP(parent, vmac string) error {
	parentARP.Lock()
	defer parentARP.Unlock()
	key := netnsKey(parent)
	st, ok := parentARP.m[key]
	if !ok {
		return nil
	}
	delete(st.users, vmac)
	if len(st.users) > 0 {
		return nil
	}
	delete(parentARP.m, key)
	return errors.Join(writeSysctl("ipv4", parent, "arp_ignore", st.arpIgnore),
		writeSysctl("ipv4", parent, "arp_filter", st.arpFilter))
}

// RemoveVMAC deletes c's macvlan (only if it is a macvlan on c.Parent: never
// a physical interface) and, when this process changed the parent's ARP
// sysctls for it and it was the last VMAC relying on them, restores them.
// A VMAC already gone succeeds.
func RemoveVMAC(c VMACConfig) error {
	name := c.IfName()
	var errs []error
	l, err := netlink.LinkByName(name)
	if err == nil {
		mv, ok := l.(*netlink.Macvlan)
		parent, perr := netlink.LinkByName(c.Parent)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("VMAC %s: not a macvlan (%s); not deleting it", name, l.Type()))
		case perr == nil && mv.ParentIndex != parent.Attrs().Index:
			errs = append(errs, fmt.Errorf("VMAC %s: macvlan of another parent; not deleting it", name))
		default:
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete VMAC %s: %w", name, err))
			}
		}
	} else {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			errs = append(errs, fmt.Errorf("VMAC %s: %w", name, err))
		}
	}
	if !c.IPv6 {
		if err := releaseParentARP(c.Parent, name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
