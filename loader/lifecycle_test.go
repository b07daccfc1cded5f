//go:build linux

package loader

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/link"

	"github.com/xvrrp/xvrrp/bpf"
	"github.com/xvrrp/xvrrp/test/lab"
)

// TestRestartReplacesProgramAtomically: CloseLeavePinned keeps XDP running
// and the instance table; the next Open+Attach with the same PinDir takes
// over the same link (no detach in between) and the same counters.
func TestRestartReplacesProgramAtomically(t *testing.T) {
	lab.RequirePrivileged(t)
	ns := lab.NewNS(t, "rs")
	lab.Veth(t, ns, "d0", ns, "d0p")
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-restart-"))
	t.Cleanup(func() { os.RemoveAll(dir) })

	var ifindex uint32
	first, err := Open(Options{PinDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var mode AttachMode
	if err := ns.Do(func() error {
		var err error
		mode, err = first.Attach("d0", IfaceOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ifindex = uint32(first.ifaces["d0"].index)
	linkPin := filepath.Join(dir, "d0", "link")
	l, err := link.LoadPinnedLink(linkPin, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.Info()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	linkID := info.ID
	k := InstanceKey{ifindex, 10, IPv4}
	mustSet(t, first, k, InstancePolicy{Version: 3, Rates: wideOpen})
	if err := first.CloseLeavePinned(); err != nil {
		t.Fatal(err)
	}
	if out := ns.IP("link", "show", "d0"); !strings.Contains(out, "xdp") {
		t.Fatalf("XDP detached by CloseLeavePinned:\n%s", out)
	}

	second, err := Open(Options{PinDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	// The instance table survived the restart.
	e1, _ := first.policyIndexUnlocked(k)
	if e2, ok := second.policyIndex(k); !ok || e2 != e1 {
		t.Errorf("instance table lost across restart: entries %+v (found %v), the first run had %+v", e2, ok, e1)
	}
	var mode2 AttachMode
	if err := ns.Do(func() error {
		var err error
		mode2, err = second.Attach("d0", IfaceOptions{DropUnknownVRID: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if mode2 != mode {
		t.Errorf("mode after restart %v, before %v", mode2, mode)
	}
	l, err = link.LoadPinnedLink(linkPin, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err = l.Info()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != linkID {
		t.Errorf("link %d replaced by %d: the program must be swapped under the same link", linkID, info.ID)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if out := ns.IP("link", "show", "d0"); strings.Contains(out, "xdp") {
		t.Errorf("XDP still attached after Close:\n%s", out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir left after Close: %v", err)
	}
}

// TestCloseDetachesStalePins: links a previous run left pinned, and that
// this run did not take over, are detached by Close.
func TestCloseDetachesStalePins(t *testing.T) {
	lab.RequirePrivileged(t)
	ns := lab.NewNS(t, "st")
	lab.Veth(t, ns, "d1", ns, "d1p")
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-stale-"))
	t.Cleanup(func() { os.RemoveAll(dir) })
	first, err := Open(Options{PinDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { _, err := first.Attach("d1", IfaceOptions{}); return err }); err != nil {
		t.Fatal(err)
	}
	if err := first.CloseLeavePinned(); err != nil {
		t.Fatal(err)
	}
	second, err := Open(Options{PinDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if out := ns.IP("link", "show", "d1"); strings.Contains(out, "xdp") {
		t.Errorf("stale XDP link still attached after Close:\n%s", out)
	}
}

func TestOpenErrors(t *testing.T) {
	lab.RequirePrivileged(t)
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"PinDirNotOnBPFFS", Options{PinDir: t.TempDir()}, "is not on a bpffs: use a directory under /sys/fs/bpf or mount one (mount -t bpf bpf <dir>)"},
		{"RingNotPowerOfTwo", Options{PinDir: "/sys/fs/bpf/unused", RingBytes: 100000}, "power of two"},
		{"RingBelowPage", Options{PinDir: "/sys/fs/bpf/unused", RingBytes: 1024}, "power of two"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Open(c.opts)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%+v) succeeded", c.opts)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestAttachUnknownInterface(t *testing.T) {
	d := openTest(t)
	_, err := d.Attach("xvrrp-nonexistent0", IfaceOptions{})
	if err == nil || !strings.Contains(err.Error(), "attach to xvrrp-nonexistent0: no interface named xvrrp-nonexistent0 in this network namespace") {
		t.Errorf("Attach of a missing interface: %v", err)
	}
	for _, c := range []struct {
		index int
		want  string
	}{
		{1 << 30, "attach to interface index 1073741824: no interface with that index in this network namespace"},
		{0, "attach to interface index 0: an interface index is positive"},
		{-1, "attach to interface index -1: an interface index is positive"},
	} {
		name, mode, err := d.AttachIndex(c.index, IfaceOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || name != "" || mode != ModeNone {
			t.Errorf("AttachIndex(%d) = %q, %v, %v; want an error saying %q", c.index, name, mode, err, c.want)
		}
	}
	if err := d.Detach("xvrrp-nonexistent0"); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Errorf("Detach of an unattached interface: %v", err)
	}
	if _, err := d.Counters("xvrrp-nonexistent0"); err == nil {
		t.Error("Counters of an unattached interface succeeded")
	}
}

func TestAttachModeString(t *testing.T) {
	for m, want := range map[AttachMode]string{ModeNative: "native", ModeGeneric: "generic", ModeNone: "none"} {
		if m.String() != want {
			t.Errorf("%d.String() = %q, want %q", m, m.String(), want)
		}
	}
}

// TestAttachFallsBackToGeneric: the loopback has no native XDP, so Attach
// must fall back to generic mode and say so.
func TestAttachFallsBackToGeneric(t *testing.T) {
	d := openTest(t)
	ns := lab.NewNS(t, "gm")
	var mode AttachMode
	if err := ns.Do(func() error {
		var err error
		mode, err = d.Attach("lo", IfaceOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if mode != ModeGeneric {
		t.Errorf("Attach(lo) mode %v, want generic", mode)
	}
	if err := ns.Do(func() error { return d.Detach("lo") }); err != nil {
		t.Fatal(err)
	}
}

// TestAttachIndex: attaching by index is attaching by name: same pins, same
// mode, and a later Attach by name replaces the program under the same link.
func TestAttachIndex(t *testing.T) {
	d := openTest(t)
	ns := lab.NewNS(t, "ai")
	lab.Veth(t, ns, "x0", ns, "x0p")
	var index int
	var name string
	var mode AttachMode
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("x0")
		if err != nil {
			return err
		}
		index = ifi.Index
		name, mode, err = d.AttachIndex(index, IfaceOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if name != "x0" {
		t.Errorf("AttachIndex(%d) named the interface %q, want x0", index, name)
	}
	var kernelMode AttachMode
	if err := ns.Do(func() error { kernelMode = queryMode(index); return nil }); err != nil {
		t.Fatal(err)
	}
	if mode == ModeNone || mode != kernelMode || d.Mode("x0") != mode {
		t.Errorf("AttachIndex mode %v, Mode(x0) %v, kernel says %v", mode, d.Mode("x0"), kernelMode)
	}
	if out := ns.IP("link", "show", "x0"); !strings.Contains(out, "xdp") {
		t.Errorf("no XDP on x0 after AttachIndex:\n%s", out)
	}
	if p := d.ifaces["x0"]; p == nil || p.index != index {
		t.Fatalf("interface table after AttachIndex: %+v", d.ifaces)
	}
	linkPin := filepath.Join(d.pinDir, "x0", "link")
	linkID := func() link.ID {
		t.Helper()
		l, err := link.LoadPinnedLink(linkPin, nil)
		if err != nil {
			t.Fatalf("link not pinned at %s: %v", linkPin, err)
		}
		defer l.Close()
		info, err := l.Info()
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	id := linkID()
	if _, err := os.Stat(filepath.Join(d.pinDir, "x0", bpf.XvrrpMapStats)); err != nil {
		t.Errorf("counters not pinned: %v", err)
	}
	// By name now, with other options: the program is swapped under the
	// same link.
	if err := ns.Do(func() error { _, err := d.Attach("x0", IfaceOptions{DropUnknownVRID: true}); return err }); err != nil {
		t.Fatal(err)
	}
	if got := linkID(); got != id {
		t.Errorf("Attach by name after AttachIndex replaced link %d by %d", id, got)
	}
	if len(d.ifaces) != 1 {
		t.Errorf("%d interfaces attached, want 1", len(d.ifaces))
	}
	if err := d.Detach(name); err != nil {
		t.Fatal(err)
	}
	if out := ns.IP("link", "show", "x0"); strings.Contains(out, "xdp") {
		t.Errorf("XDP still on x0 after Detach:\n%s", out)
	}
}

// TestAttachVLANStyleName: bpffs refuses names with a dot, and VLAN
// interfaces are named eth0.10: their pins live under eth0:10.
func TestAttachVLANStyleName(t *testing.T) {
	d := openTest(t)
	ns := lab.NewNS(t, "av")
	lab.Veth(t, ns, "x0.10", ns, "x0p")
	if err := ns.Do(func() error {
		_, err := d.Attach("x0.10", IfaceOptions{})
		return err
	}); err != nil {
		t.Fatalf("attach to x0.10: %v", err)
	}
	for _, p := range []string{"link", bpf.XvrrpMapStats} {
		if _, err := os.Stat(filepath.Join(d.pinDir, "x0:10", p)); err != nil {
			t.Errorf("x0.10's %s not pinned under x0:10: %v", p, err)
		}
	}
	if PinName("eth0.10") != "eth0:10" || PinName("eth0") != "eth0" {
		t.Errorf("PinName(eth0.10) = %q, PinName(eth0) = %q", PinName("eth0.10"), PinName("eth0"))
	}
	if err := ns.Do(func() error { return d.Detach("x0.10") }); err != nil {
		t.Fatalf("detach x0.10: %v", err)
	}
}
