//go:build linux

package loader

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/test/lab"
)

// sendFrames writes raw Ethernet frames on ifname from inside ns.
func sendFrames(ns *lab.NS, ifname string, frames [][]byte) error {
	return ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return fmt.Errorf("send on %s: %w", ifname, err)
			}
		}
		return nil
	})
}

func ruleCounter(t *testing.T, out string, re *regexp.Regexp) uint64 {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rule counter matching %s in:\n%s", re, out)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVethAdvertsArriveDespiteFirewall is the reason xvrrp exists: adverts
// that the receiving host's firewall drops (iptables for IPv4, nftables for
// IPv6, both in the receiving namespace only) still reach the daemon as
// events, because XDP runs before netfilter. It also checks that the
// firewall really saw (and dropped) them: the default verdict passes
// accepted adverts on, and ConsumeAccepted, swapped in atomically, stops
// that.
func TestVethAdvertsArriveDespiteFirewall(t *testing.T) {
	lab.RequirePrivileged(t)
	lab.RequireTool(t, "iptables")
	lab.RequireTool(t, "nft")
	a, b := lab.NewNS(t, "xa"), lab.NewNS(t, "xb")
	lab.Veth(t, a, "a0", b, "b0")
	a.IP("addr", "add", "198.18.0.1/24", "dev", "a0")
	b.IP("addr", "add", "198.18.0.2/24", "dev", "b0")
	a.IP("addr", "add", "2001:db8::1/64", "dev", "a0", "nodad")
	b.IP("addr", "add", "2001:db8::2/64", "dev", "b0", "nodad")

	b.Run("iptables", "-A", "INPUT", "-p", "112", "-j", "DROP")
	b.Run("nft", "add", "table", "inet", "xvrrptest")
	b.Run("nft", "add", "chain", "inet", "xvrrptest", "input", "{ type filter hook input priority 0 ; }")
	b.Run("nft", "add", "rule", "inet", "xvrrptest", "input", "meta", "nfproto", "ipv6", "meta", "l4proto", "112", "counter", "drop")

	var bMAC net.HardwareAddr
	var bIndex uint32
	if err := b.Do(func() error {
		ifi, err := net.InterfaceByName("b0")
		if err != nil {
			return err
		}
		bMAC, bIndex = ifi.HardwareAddr, uint32(ifi.Index)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-veth-"))
	d, err := Open(Options{PinDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var mode AttachMode
	if err := b.Do(func() error {
		var err error
		mode, err = d.Attach("b0", IfaceOptions{})
		return err
	}); err != nil {
		t.Fatalf("Attach b0: %v", err)
	}
	if mode != ModeNative && mode != ModeGeneric {
		t.Fatalf("attach mode %v, want native or generic", mode)
	}
	t.Logf("XDP on veth b0: %v mode", mode)
	if got := d.Mode("b0"); got != mode {
		t.Errorf("Mode(b0) = %v, Attach said %v", got, mode)
	}
	for _, p := range []string{"ifslots", "vrids", "policies", "sources", "events", "b0/stats", "b0/link"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("pin %s missing: %v", p, err)
		}
	}
	// bpftool shows names only for maps created with BTF.
	for _, p := range []string{"ifslots", "vrids", "policies", "sources", "b0/stats"} {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, p), nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := info.BTFID(); !ok {
			t.Errorf("pinned map %s has no BTF: bpftool map dump would show raw bytes", p)
		}
	}

	mustSet(t, d, InstanceKey{bIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})
	mustSet(t, d, InstanceKey{bIndex, 30, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen,
		Peers: []netip.Addr{netip.MustParseAddr("198.18.0.1")}})
	mustSet(t, d, InstanceKey{bIndex, 30, IPv6}, InstancePolicy{Version: 3, Rates: wideOpen,
		Peers: []netip.Addr{netip.MustParseAddr("2001:db8::1")}})

	mcast := v3adv4()
	mcast.src = netip.MustParseAddr("198.18.0.1")
	uni4 := mcast
	uni4.vrid, uni4.dst = 30, netip.MustParseAddr("198.18.0.2")
	uni6 := v3adv6()
	uni6.vrid, uni6.src, uni6.dst = 30, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	unicastFrame := func(adv advert) []byte {
		f := adv.frame()
		copy(f[:6], bMAC)
		return f
	}
	const rounds = 5
	var frames [][]byte
	for range rounds {
		frames = append(frames, mcast.frame(), unicastFrame(uni4), unicastFrame(uni6))
	}
	want := []advert{mcast, uni4, uni6}

	evr, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer evr.Close()
	receive := func(phase string) {
		t.Helper()
		if err := sendFrames(a, "a0", frames); err != nil {
			t.Fatal(err)
		}
		seen := make([]int, len(want))
		evr.SetDeadline(time.Now().Add(10 * time.Second))
		var ev Event
		for n := 0; n < len(frames); n++ {
			if err := evr.Read(&ev); err != nil {
				t.Fatalf("%s: read event %d of %d: %v (seen per advert %v)", phase, n+1, len(frames), err, seen)
			}
			i := slices.IndexFunc(want, func(w advert) bool { return bytes.Equal(ev.Payload, w.vrrp()) && ev.Src == w.src })
			if i < 0 {
				t.Fatalf("%s: unexpected event %+v", phase, ev)
			}
			if ev.Ifindex != bIndex || ev.Dst != want[i].dst || ev.TTL != 255 {
				t.Errorf("%s: event %+v: want ifindex %d dst %v ttl 255", phase, ev, bIndex, want[i].dst)
			}
			seen[i]++
		}
		for i, n := range seen {
			if n != rounds {
				t.Errorf("%s: advert %d seen %d times, want %d", phase, i, n, rounds)
			}
		}
	}
	iptRe := regexp.MustCompile(`(?m)^\s*(\d+)\s+\d+\s+DROP\s+(?:112|vrrp)`)
	nftRe := regexp.MustCompile(`counter packets (\d+) bytes`)
	firewall := func() (ipt, nft uint64) {
		return ruleCounter(t, b.Run("iptables", "-L", "INPUT", "-v", "-n", "-x"), iptRe),
			ruleCounter(t, b.Run("nft", "list", "chain", "inet", "xvrrptest", "input"), nftRe)
	}

	receive("pass")
	c, err := d.Counters("b0")
	if err != nil {
		t.Fatal(err)
	}
	if c[ReasonAccepted] != uint64(len(frames)) {
		t.Errorf("accepted counter %d, want %d (counters %v)", c[ReasonAccepted], len(frames), c)
	}
	// XDP_PASS: the firewall saw the unicast adverts and dropped them.
	ipt, nft := firewall()
	if ipt < rounds || nft < rounds {
		t.Errorf("firewall counters iptables=%d nft=%d, want >= %d each: accepted adverts must reach the stack by default", ipt, nft, rounds)
	}

	// Atomic replace with ConsumeAccepted: events still arrive, the
	// firewall sees nothing more.
	if err := b.Do(func() error {
		_, err := d.Attach("b0", IfaceOptions{ConsumeAccepted: true})
		return err
	}); err != nil {
		t.Fatalf("re-attach b0: %v", err)
	}
	receive("consume")
	ipt2, nft2 := firewall()
	if ipt2 != ipt || nft2 != nft {
		t.Errorf("firewall counters moved from %d/%d to %d/%d with ConsumeAccepted", ipt, nft, ipt2, nft2)
	}
	c, err = d.Counters("b0")
	if err != nil {
		t.Fatal(err)
	}
	if c[ReasonAccepted] != 2*uint64(len(frames)) {
		t.Errorf("accepted counter %d after replace, want %d (kept across the swap)", c[ReasonAccepted], 2*len(frames))
	}

	// Close unblocks a pending Read with os.ErrClosed.
	done := make(chan error, 1)
	evr.SetDeadline(time.Time{})
	go func() {
		var ev Event
		done <- evr.Read(&ev)
	}()
	time.Sleep(50 * time.Millisecond) // let Read block; correctness does not depend on it
	if err := evr.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after Close")
	}

	if err := b.Do(func() error { return d.Detach("b0") }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("b0 pins left after Detach: %v", err)
	}
	if out := b.IP("link", "show", "b0"); regexp.MustCompile(`prog/xdp|xdpgeneric|xdp `).MatchString(out) {
		t.Errorf("XDP still attached after Detach:\n%s", out)
	}
}
