package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/sched"
	"github.com/xvrrp/xvrrp/vip"
)

// TestAddrChangedKeepsTheSourceWhenTheReadFails: an address event after
// which the interface's addresses cannot be read (netlink busy, ENOBUFS)
// says nothing about the source address, so a backup keeps its source and
// its state; a new primary address becomes the source without a transition;
// only an interface that has none left puts the instance in FAULT ("no
// usable source address"), and one that gets one back clears it.
func TestAddrChangedKeepsTheSourceWhenTheReadFails(t *testing.T) {
	var logs bytes.Buffer
	d := addrTestDaemon(t, &logs)

	a := netip.MustParseAddr("198.18.0.1")
	b := netip.MustParseAddr("198.18.0.2")
	var next netip.Addr
	var readErr error
	reads := 0
	ifc := &iface{name: "lan0", index: 7, up: true, readSource: func(family int) (netip.Addr, error) {
		reads++
		if family != 4 {
			t.Errorf("read family %d, want 4", family)
		}
		return next, readErr
	}}
	// An instance on another interface and one with unicast_src_ip are
	// not looked at.
	otherReads := 0
	other := &iface{name: "lan1", index: 8, up: true, readSource: func(int) (netip.Addr, error) {
		otherReads++
		return netip.MustParseAddr("198.18.1.1"), nil
	}}
	next = a
	r := addrTestInstance(t, d, "VI_1", 0, ifc, netip.Addr{})
	addrTestInstance(t, d, "VI_OTHER", 1, other, netip.Addr{})
	fixed := addrTestInstance(t, d, "VI_FIXED", 2, ifc, netip.MustParseAddr("198.18.0.9"))
	if r.src != a || r.m.State() != fsm.StateBackup {
		t.Fatalf("start: source %v, state %v; want %v, BACKUP", r.src, r.m.State(), a)
	}

	// The read fails: nothing changes, a warning says why.
	reads, otherReads = 0, 0
	next, readErr = netip.Addr{}, fmt.Errorf("netlink receive: %w", errors.New("no buffer space available"))
	d.addrChanged(ifc.index)
	if reads != 1 {
		t.Errorf("read the addresses %d times for one event, want 1", reads)
	}
	if r.src != a || r.m.State() != fsm.StateBackup || r.m.Config().PrimaryAddr != a {
		t.Fatalf("after a failed read: source %v (engine %v), state %v; want %v kept, BACKUP",
			r.src, r.m.Config().PrimaryAddr, r.m.State(), a)
	}
	if !strings.Contains(logs.String(), "reading the advert source address") || !strings.Contains(logs.String(), "no buffer space") {
		t.Errorf("failed read not logged with its error: %q", logs.String())
	}

	// A new primary address: the source follows, the state stays.
	next, readErr = b, nil
	d.addrChanged(ifc.index)
	if r.src != b || r.m.Config().PrimaryAddr != b || r.m.State() != fsm.StateBackup {
		t.Fatalf("after a new address: source %v (engine %v), state %v; want %v, BACKUP",
			r.src, r.m.Config().PrimaryAddr, r.m.State(), b)
	}
	if !strings.Contains(logs.String(), "advert source address changed") {
		t.Errorf("source change not logged: %q", logs.String())
	}
	if fixed.src != netip.MustParseAddr("198.18.0.9") {
		t.Errorf("unicast_src_ip instance's source changed to %v", fixed.src)
	}

	// No address left: FAULT, with the reason.
	next, readErr = netip.Addr{}, fmt.Errorf("lan0: %w", vip.ErrNoSourceAddress)
	d.addrChanged(ifc.index)
	if r.src.IsValid() || r.m.State() != fsm.StateFault {
		t.Fatalf("after the last address went: source %v, state %v; want none, FAULT", r.src, r.m.State())
	}
	if got := r.m.FaultReasons(); len(got) != 1 || !strings.Contains(got[0], "source address") {
		t.Errorf("fault reasons %q, want the missing source address", got)
	}

	// A failed read while in FAULT keeps the fault; an address clears it.
	next, readErr = netip.Addr{}, errors.New("netlink: interrupted dump")
	d.addrChanged(ifc.index)
	if r.m.State() != fsm.StateFault {
		t.Fatalf("failed read in FAULT: state %v, want FAULT", r.m.State())
	}
	next, readErr = a, nil
	d.addrChanged(ifc.index)
	if r.src != a || r.m.State() != fsm.StateBackup {
		t.Fatalf("address back: source %v, state %v; want %v, BACKUP", r.src, r.m.State(), a)
	}

	if otherReads != 0 {
		t.Errorf("read another interface's addresses %d times on this one's events", otherReads)
	}

	// A stopped daemon changes nothing.
	d.stopped = true
	next = b
	d.addrChanged(ifc.index)
	if r.src != a {
		t.Errorf("stopped daemon changed the source to %v", r.src)
	}
}

// addrTestInstance starts a BACKUP instance on ifc with the daemon's
// newInstance, the way apply does, without a dataplane.
func addrTestInstance(t *testing.T, d *Daemon, name string, id int, ifc *iface, srcIP netip.Addr) *instance {
	t.Helper()
	in := &config.Instance{
		Name: name, Interface: ifc.name, VRID: 10 + id, Priority: 100, State: config.StateBackup,
		AdvertInterval: time.Second, Version: 3, Family: 4, SrcIP: srcIP,
		McastGroup: netip.MustParseAddr("224.0.0.18"),
	}
	r, err := d.newInstance(in, ifc)
	if err != nil {
		t.Fatal(err)
	}
	r.id = id
	d.byName[name] = r
	d.handle(r, fsm.Event{Kind: fsm.EventStartup}, time.Now())
	return r
}

// ev is the event of address a added to interface idx.
func ev(idx int, a netip.Addr) netlink.AddrUpdate {
	return netlink.AddrUpdate{LinkIndex: idx, NewAddr: true, LinkAddress: net.IPNet{IP: a.AsSlice()}}
}

// addrTestDaemon is a daemon with a scheduler and no dataplane, for the
// address-event tests; it logs to logs.
func addrTestDaemon(t *testing.T, logs io.Writer) *Daemon {
	t.Helper()
	d := &Daemon{
		log:      slog.New(slog.NewTextHandler(logs, nil)),
		ctx:      context.Background(),
		byName:   map[string]*instance{},
		trackers: &trackerSet{},
	}
	s, err := sched.New(4, func(time.Time, []int) {}, sched.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.sched = s
	return d
}

// TestOwnVIPEventsSkipTheSourceReread: the address events of the daemon's
// own VIPs do not make it re-read the interface's addresses when they
// cannot change the advert source (RFC 5798 §5.1.2.1 picks the primary
// IPv4 or the link-local IPv6 address); every other event does.
func TestOwnVIPEventsSkipTheSourceReread(t *testing.T) {
	src := netip.MustParseAddr("198.18.0.1")
	vipA := netip.MustParseAddr("198.19.0.1")
	hostScoped := netip.MustParseAddr("198.19.0.2")
	linkLocal := netip.MustParseAddr("fe80::99")
	stranger := netip.MustParseAddr("198.18.0.7")
	for _, tc := range []struct {
		name   string
		srcNow netip.Addr // the instance's current source
		batch  []netip.Addr
		want   []int
	}{
		{"OwnGlobalVIPsSkipped", src, []netip.Addr{vipA, vipA}, nil},
		{"AnotherAddressRereadOnce", src, []netip.Addr{vipA, stranger, stranger}, []int{7}},
		{"OwnVIPThatIsTheSourceReread", vipA, []netip.Addr{vipA}, []int{7}},
		{"OwnVIPWhileWithoutSourceReread", netip.Addr{}, []netip.Addr{vipA}, []int{7}},
		{"HostScopedVIPMayBecomePrimaryReread", src, []netip.Addr{hostScoped}, []int{7}},
		{"LinkLocalVIPMayBecomeTheSourceReread", src, []netip.Addr{linkLocal}, []int{7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := addrTestDaemon(t, io.Discard)
			ifc := &iface{name: "lan0", index: 7, up: true, readSource: func(int) (netip.Addr, error) { return src, nil }}
			r := addrTestInstance(t, d, "VI_1", 0, ifc, netip.Addr{})
			r.src = tc.srcNow
			r.vips = append(r.vips,
				hostVIP{vip.VIP{Prefix: netip.PrefixFrom(vipA, 32)}},
				hostVIP{vip.VIP{Prefix: netip.PrefixFrom(hostScoped, 32), Scope: vip.ScopeHost}},
				hostVIP{vip.VIP{Prefix: netip.PrefixFrom(linkLocal, 128)}})
			var batch []netlink.AddrUpdate
			for _, a := range tc.batch {
				batch = append(batch, ev(ifc.index, a))
			}
			if got := d.sourceMayChange(batch); !slices.Equal(got, tc.want) {
				t.Errorf("interfaces to re-read = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOwnVIPsFollowTheConfiguration: the set of the daemon's own VIPs that
// lets their address events skip the source re-read is the configuration's
// of the moment: an address that stopped being a VIP in a reload makes the
// daemon re-read again, one that became a VIP does not.
func TestOwnVIPsFollowTheConfiguration(t *testing.T) {
	src := netip.MustParseAddr("198.18.0.1")
	before := netip.MustParseAddr("198.19.0.1")
	after := netip.MustParseAddr("198.19.0.2")
	d := addrTestDaemon(t, io.Discard)
	ifc := &iface{name: "lan0", index: 7, up: true, readSource: func(int) (netip.Addr, error) { return src, nil }}
	instanceWith := func(a netip.Addr) map[string]*instance {
		r := addrTestInstance(t, d, "VI_1", 0, ifc, netip.Addr{})
		r.src = src
		r.vips = []hostVIP{{vip.VIP{Prefix: netip.PrefixFrom(a, 32)}}}
		return map[string]*instance{"VI_1": r}
	}
	d.setInstances(instanceWith(before))
	if got := d.sourceMayChange([]netlink.AddrUpdate{ev(ifc.index, before)}); len(got) != 0 {
		t.Fatalf("the VIP's own event re-read interfaces %v", got)
	}
	d.setInstances(instanceWith(after)) // a reload moves the VIP
	if got := d.sourceMayChange([]netlink.AddrUpdate{ev(ifc.index, before)}); !slices.Equal(got, []int{ifc.index}) {
		t.Errorf("an address that is no VIP any more: re-read %v, want [%d]", got, ifc.index)
	}
	if got := d.sourceMayChange([]netlink.AddrUpdate{ev(ifc.index, after)}); len(got) != 0 {
		t.Errorf("the new VIP's event re-read interfaces %v", got)
	}
}
