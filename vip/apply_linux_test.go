package vip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// onD0 returns the addresses of d0 in ns's Manager namespace, by prefix.
func onD0(t testing.TB, m *Manager) map[netip.Prefix]netlink.Addr {
	t.Helper()
	l, err := m.h.LinkByName("d0")
	must(t, err)
	// After a batch of a thousand changes the kernel may still be settling
	// (IPv6 address events): read the dump again while it is interrupted,
	// as the daemon does.
	addrs, err := readDump(func() ([]netlink.Addr, error) { return m.h.AddrList(l, netlink.FAMILY_ALL) })
	must(t, err)
	got := make(map[netip.Prefix]netlink.Addr, len(addrs))
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		got[netip.PrefixFrom(ip.Unmap(), ones)] = a
	}
	return got
}

func newDummyManager(t testing.TB) *Manager {
	t.Helper()
	ns := dummyNS(t)
	var m *Manager
	must(t, ns.Do(func() error { var err error; m, err = NewManager(); return err }))
	t.Cleanup(func() { m.Close() })
	return m
}

func ops(add bool, vips []VIP) []Op {
	o := make([]Op, len(vips))
	for i, v := range vips {
		o[i] = Op{Add: add, VIP: v}
	}
	return o
}

func noErrors(t testing.TB, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
}

// TestApplyAddsAndRemovesEveryAddress: a batch larger than one chunk puts
// every IPv4 and IPv6 VIP on the device with keepalived's attributes
// (IPv6 nodad and /128 deprecated, keepalived.conf(5)) and takes every one
// off again.
func TestApplyAddsAndRemovesEveryAddress(t *testing.T) {
	m := newDummyManager(t)
	vips := append(benchVIPs(700, false), benchVIPs(700, true)...)
	if len(vips) <= m.nb.chunk {
		t.Fatalf("batch of %d fits one chunk of %d: the test would not cross chunks", len(vips), m.nb.chunk)
	}
	noErrors(t, m.Apply(ops(true, vips)))
	got := onD0(t, m)
	for _, v := range vips {
		a, ok := got[v.Prefix]
		if !ok {
			t.Fatalf("%s missing after Apply", v.Prefix)
		}
		if v.Is6() && (a.Flags&unix.IFA_F_NODAD == 0 || a.PreferedLft != 0) {
			t.Fatalf("%s flags %#x preferred_lft %d: want NODAD, deprecated", v.Prefix, a.Flags, a.PreferedLft)
		}
	}
	// Applying the adds again succeeds: EEXIST is Add's idempotence.
	noErrors(t, m.Apply(ops(true, vips[:10])))
	noErrors(t, m.Apply(ops(false, vips)))
	got = onD0(t, m)
	for _, v := range vips {
		if _, ok := got[v.Prefix]; ok {
			t.Fatalf("%s still there after removal", v.Prefix)
		}
	}
	// Removing again succeeds: EADDRNOTAVAIL is Remove's idempotence.
	noErrors(t, m.Apply(ops(false, vips[:10])))
}

// TestApplyReportsErrorsPerAddress: in one batch, an address the kernel
// refuses (a secondary whose scope differs from its primary's), a missing device and a VIP without a device each fail alone,
// with the kernel's reason; the others take effect.
func TestApplyReportsErrorsPerAddress(t *testing.T) {
	m := newDummyManager(t)
	good := benchVIPs(3, false)
	subnet := VIP{Prefix: netip.MustParsePrefix("198.18.70.1/24"), Dev: "d0"}
	badScope := VIP{Prefix: netip.MustParsePrefix("198.18.70.9/24"), Dev: "d0", Scope: ScopeHost}
	noDev := VIP{Prefix: netip.MustParsePrefix("198.18.70.2/32"), Dev: "nosuch0"}
	noName := VIP{Prefix: netip.MustParsePrefix("198.18.70.3/32")}
	batch := []Op{
		{Add: true, VIP: good[0]},
		{Add: true, VIP: subnet},
		{Add: true, VIP: badScope},
		{Add: true, VIP: good[1]},
		{Add: true, VIP: noDev},
		{Add: true, VIP: noName},
		{VIP: noDev}, // removal from a device that is gone: done
		{Add: true, VIP: good[2]},
	}
	errs := m.Apply(batch)
	for _, tc := range []struct {
		name string
		i    int
		want string // "" for success
	}{
		{"Good0", 0, ""},
		{"Subnet", 1, ""},
		{"SecondaryScopeDiffers_Kernel", 2, "Invalid scope"},
		{"Good1", 3, ""},
		{"MissingDevice", 4, "nosuch0"},
		{"NoDevice_WithDefaultDev", 5, "WithDefaultDev"},
		{"RemoveFromMissingDevice", 6, ""},
		{"Good2", 7, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := errs[tc.i]
			if tc.want == "" {
				if err != nil {
					t.Fatalf("op %d: %v", tc.i, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("op %d: error %v, want one containing %q", tc.i, err, tc.want)
			}
		})
	}
	if !errors.Is(errs[2], unix.EINVAL) {
		t.Errorf("kernel refusal %v does not unwrap to EINVAL", errs[2])
	}
	got := onD0(t, m)
	for _, v := range good {
		if _, ok := got[v.Prefix]; !ok {
			t.Errorf("%s missing: a neighbour's failure stopped it", v.Prefix)
		}
	}
	if _, ok := got[badScope.Prefix]; ok {
		t.Errorf("%s present although refused", badScope.Prefix)
	}
}

// TestApplyRecoversLostAcks: with a receive buffer too small for a chunk's
// acks the kernel drops some, silently; Apply sends those requests again
// one by one, and every address ends up present with no error.
func TestApplyRecoversLostAcks(t *testing.T) {
	m := newDummyManager(t)
	must(t, unix.SetsockoptInt(m.nb.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)) // the kernel's minimum
	m.nb.chunk = maxChunk
	vips := benchVIPs(maxChunk, false)
	noErrors(t, m.Apply(ops(true, vips)))
	if m.nb.resent == 0 {
		t.Fatal("no request was sent again: the receive buffer held every ack, the test checks nothing")
	}
	got := onD0(t, m)
	for _, v := range vips {
		if _, ok := got[v.Prefix]; !ok {
			t.Fatalf("%s missing after acks were lost", v.Prefix)
		}
	}
}

// TestAddrRequestBroadcast: IFA_BROADCAST is computed from the prefix as
// `ip addr add ... brd +` does, none for /31 and /32 (RFC 3021) or brd -.
func TestAddrRequestBroadcast(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string
	}{
		{"198.18.0.100/24", "198.18.0.255"},
		{"198.18.0.100/24 brd 198.18.0.127", "198.18.0.127"},
		{"198.18.0.100/24 brd -", ""},
		{"198.18.0.100/31", ""},
		{"198.18.0.100", ""},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			v, err := ParseVIP(strings.Fields(tc.spec))
			must(t, err)
			got := ipv4Broadcast(v, nlAddr(v, true).Broadcast)
			s := ""
			if got != nil {
				s = netip.AddrFrom4([4]byte(got)).String()
			}
			if s != tc.want {
				t.Fatalf("broadcast %q, want %q", s, tc.want)
			}
		})
	}
}

// TestChunkSizedToTheSendmsgBudget: a sendmsg of address changes keeps the
// kernel busy about sendmsgBudget, whatever one change costs: a kernel
// without full preemption runs nothing else on that CPU meanwhile, and the
// host's other instances must keep advertising (a 10,000-address IPv6
// handover cost ~7 ms per add).
func TestChunkSizedToTheSendmsgBudget(t *testing.T) {
	b := &nlBatch{chunk: 256, size: 256}
	for _, c := range []struct {
		n    int
		took time.Duration
		want int
	}{
		{256, 256 * 7 * time.Millisecond, 1}, // IPv6 at 10,000 addresses: one at a time
		{1, 7 * time.Millisecond, 1},         // and it stays there
		{1, 20 * time.Microsecond, 100},      // cheap again: grows back
		{100, 100 * time.Microsecond, 256},   // capped by what the buffer holds
		{10, 0, 256},                         // too fast to measure
		{50, 50 * sendmsgBudget / 25, 25},    // exactly the budget
	} {
		b.resize(c.n, c.took)
		if b.size != c.want {
			t.Errorf("after %d requests in %v: next chunk %d, want %d", c.n, c.took, b.size, c.want)
		}
	}
}
