//go:build linux

package loader

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/link"

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
	ik, _ := k.bpf()
	if _, err := second.shared.instances.LookupBytes(&ik); err != nil {
		t.Errorf("instance table lost across restart: %v", err)
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
		{"PinDirNotOnBPFFS", Options{PinDir: t.TempDir()}, "is not on a bpffs"},
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
	if err == nil || !strings.Contains(err.Error(), "attach xdp to xvrrp-nonexistent0") {
		t.Errorf("Attach of a missing interface: %v", err)
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
