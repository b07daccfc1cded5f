//go:build linux

package loader

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xvrrp/xvrrp/test/lab"
)

// TestTCXFrameTableMatchesXDP: the TC entry point runs the same stages as
// the XDP one, so every frame of the XDP table gets the same verdict
// (TCX_NEXT for pass, TCX_DROP for drop), the same reason and the same
// event, under every per-interface option.
func TestTCXFrameTableMatchesXDP(t *testing.T) {
	d := openTest(t)
	tableInstances(t, d)
	for _, o := range []IfaceOptions{{}, {DropUnknownVRID: true}, {ConsumeAccepted: true}} {
		for _, c := range frameTable() {
			if tcTestRunRefuses(c.frame) {
				continue
			}
			t.Run(optName(o)+"/"+c.name, func(t *testing.T) {
				before := monotonicNow(t)
				x, err := d.RunFrameHook(c.frame, loIndex, o, hookXDP)
				if err != nil {
					t.Fatalf("XDP: %v", err)
				}
				tc, err := d.RunFrameHook(c.frame, loIndex, o, hookTCX)
				if err != nil {
					t.Fatalf("TCX: %v", err)
				}
				if tc.Verdict != x.Verdict || tc.Reason != x.Reason || tc.HasEvent != x.HasEvent {
					t.Errorf("TCX %v/%v event %v, XDP %v/%v event %v", tc.Verdict, tc.Reason, tc.HasEvent, x.Verdict, x.Reason, x.HasEvent)
				}
				if o == (IfaceOptions{}) && (tc.Verdict != c.verdict || tc.Reason != c.reason) {
					t.Errorf("TCX %v/%v, the table wants %v/%v", tc.Verdict, tc.Reason, c.verdict, c.reason)
				}
				if c.event != nil && tc.HasEvent {
					checkEvent(t, tc.Event, *c.event, c.vlan, loIndex, before)
				}
			})
		}
	}
}

// tcTestRunRefuses: BPF_PROG_TEST_RUN for skb programs fails with EINVAL
// on an untagged IPv4 frame shorter than an IP header (the kernel builds
// the skb's socket from it). Those frames take parse_frame's truncated
// path, the same code the XDP table runs.
func tcTestRunRefuses(f []byte) bool {
	return len(f) < 14+20 && f[12] == 0x08 && f[13] == 0x00
}

func optName(o IfaceOptions) string {
	switch {
	case o.DropUnknownVRID:
		return "DropUnknownVRID"
	case o.ConsumeAccepted:
		return "ConsumeAccepted"
	}
	return "Default"
}

// tcxLab is two namespaces joined by a veth, a0 (198.18.0.1) and b0
// (198.18.0.2), with b's INPUT dropping IP protocol 112 as in the
// firewalls that make keepalived dual-master.
type tcxLab struct {
	a, b   *lab.NS
	bIndex int
}

func newTCXLab(t *testing.T) *tcxLab {
	lab.RequirePrivileged(t)
	lab.RequireTool(t, "iptables")
	a, b := lab.NewNS(t, "xa"), lab.NewNS(t, "xb")
	lab.Veth(t, a, "a0", b, "b0")
	a.IP("addr", "add", "198.18.0.1/24", "dev", "a0")
	b.IP("addr", "add", "198.18.0.2/24", "dev", "b0")
	b.Run("iptables", "-A", "INPUT", "-p", "112", "-j", "DROP")
	l := &tcxLab{a: a, b: b}
	if err := b.Do(func() error {
		ifi, err := net.InterfaceByName("b0")
		l.bIndex = ifi.Index
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *tcxLab) open(t *testing.T, h Hook) *Dataplane {
	t.Helper()
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-tcx-"))
	d, err := Open(Options{PinDir: dir, Attach: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// adverts sends n multicast adverts from a0 and a TCP frame after each,
// and checks that the Dataplane read all n adverts as events.
func (l *tcxLab) adverts(t *testing.T, d *Dataplane, n int) {
	t.Helper()
	adv := v3adv4()
	adv.src = netip.MustParseAddr("198.18.0.1")
	var frames [][]byte
	for range n {
		frames = append(frames, adv.frame(), tcpFrame())
	}
	evr, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer evr.Close()
	if err := sendFrames(l.a, "a0", frames); err != nil {
		t.Fatal(err)
	}
	evr.SetDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		var ev Event
		if err := evr.Read(&ev); err != nil {
			t.Fatalf("read advert %d of %d: %v", i+1, n, err)
		}
		if ev.Src != adv.src || int(ev.Ifindex) != l.bIndex {
			t.Errorf("event %+v, want from %v on ifindex %d", ev, adv.src, l.bIndex)
		}
	}
}

// TestAttachAutoUsesTCXBesideAnotherXDPProgram: an interface whose XDP slot
// another program holds (Cilium's XDP acceleration, a DDoS filter) gets
// xvrrp on TCX ingress under HookAuto; the other program keeps its slot and
// keeps seeing every frame; adverts that INPUT drops still reach xvrrp (TCX
// ingress runs before netfilter), so a backup still hears its master.
func TestAttachAutoUsesTCXBesideAnotherXDPProgram(t *testing.T) {
	l := newTCXLab(t)
	other, seen := lab.CountingProgram(t, ebpf.XDP, ebpf.AttachNone, 2 /* XDP_PASS */)
	var xl link.Link
	if err := l.b.Do(func() error {
		var err error
		xl, err = link.AttachXDP(link.XDPOptions{Program: other, Interface: l.bIndex})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xl.Close() })

	d := l.open(t, HookAuto)
	var mode AttachMode
	if err := l.b.Do(func() error {
		var err error
		mode, err = d.Attach("b0", IfaceOptions{})
		return err
	}); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if mode != ModeTCX || d.Mode("b0") != ModeTCX || mode.String() != "tcx" {
		t.Fatalf("mode %v (Mode %v), want tcx", mode, d.Mode("b0"))
	}
	if _, err := os.Stat(filepath.Join(d.pinDir, "b0", pinTCX)); err != nil {
		t.Errorf("TCX link not pinned as b0/%s: %v", pinTCX, err)
	}
	if _, err := os.Stat(filepath.Join(d.pinDir, "b0", pinXDP)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an XDP link pin exists beside the TCX one: %v", err)
	}
	d.mu.Lock()
	info, err := d.ifaces["b0"].prog.Info()
	d.mu.Unlock()
	if err != nil || info.Name != "xvrrp_tcx" {
		t.Errorf("program name %q (%v), want xvrrp_tcx: bpftool must tell the hooks apart", info.Name, err)
	}
	mustSet(t, d, InstanceKey{uint32(l.bIndex), 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})

	before := lab.Counted(t, seen)
	const n = 5
	l.adverts(t, d, n)
	if got := lab.Counted(t, seen) - before; got < 2*n {
		t.Errorf("the other XDP program saw %d frames, want >= %d: it must keep its slot and its traffic", got, 2*n)
	}
	c, err := d.Counters("b0")
	if err != nil {
		t.Fatal(err)
	}
	if c[ReasonAccepted] != n || c[ReasonNotVRRP] < n {
		t.Errorf("counters %v: want %d accepted and >= %d not_vrrp on TCX", c, n, n)
	}
	// The other program is still the one in the XDP slot.
	xinfo, err := xl.Info()
	if err != nil || xinfo.XDP() == nil || int(xinfo.XDP().Ifindex) != l.bIndex {
		t.Errorf("the other XDP link lost its interface: %+v %v", xinfo, err)
	}
	if err := l.b.Do(func() error { return d.Detach("b0") }); err != nil {
		t.Fatal(err)
	}
	if err := l.b.Do(func() error {
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.bIndex, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		if len(res.Programs) != 0 {
			t.Errorf("%d TCX programs left after Detach", len(res.Programs))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAttachXDPFailsWhenTheSlotIsTaken: HookXDP never takes another
// program's slot; it fails with one line that says what to do.
func TestAttachXDPFailsWhenTheSlotIsTaken(t *testing.T) {
	l := newTCXLab(t)
	other, _ := lab.CountingProgram(t, ebpf.XDP, ebpf.AttachNone, 2)
	var xl link.Link
	if err := l.b.Do(func() error {
		var err error
		xl, err = link.AttachXDP(link.XDPOptions{Program: other, Interface: l.bIndex})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xl.Close() })
	d := l.open(t, HookXDP)
	err := l.b.Do(func() error {
		_, err := d.Attach("b0", IfaceOptions{})
		return err
	})
	if !errors.Is(err, ErrXDPSlotTaken) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--attach auto or --attach tcx") {
		t.Fatalf("Attach = %q, want one line wrapping ErrXDPSlotTaken", err)
	}
	if xinfo, err := xl.Info(); err != nil || xinfo.XDP() == nil || int(xinfo.XDP().Ifindex) != l.bIndex {
		t.Errorf("the other XDP link lost its interface: %+v %v", xinfo, err)
	}
	if d.Mode("b0") != ModeNone {
		t.Errorf("Mode(b0) = %v after a failed attach", d.Mode("b0"))
	}
}

// TestTCXOrderXvrrpFirstOthersKeepWorking: xvrrp attaches at the head of
// TCX ingress (link.Head), ahead of a program attached before it; a program
// attached after it at the tail runs after it. Both see every frame, adverts
// included: xvrrp hands on what it passes (TCX_NEXT), it does not end the
// chain.
func TestTCXOrderXvrrpFirstOthersKeepWorking(t *testing.T) {
	l := newTCXLab(t)
	const tcxNext = -1
	first, seenFirst := lab.CountingProgram(t, ebpf.SchedCLS, ebpf.AttachTCXIngress, tcxNext)
	last, seenLast := lab.CountingProgram(t, ebpf.SchedCLS, ebpf.AttachTCXIngress, tcxNext)
	attach := func(p *ebpf.Program, a link.Anchor) link.Link {
		var tl link.Link
		if err := l.b.Do(func() error {
			var err error
			tl, err = link.AttachTCX(link.TCXOptions{Program: p, Interface: l.bIndex, Attach: ebpf.AttachTCXIngress, Anchor: a})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tl.Close() })
		return tl
	}
	attach(first, link.Head())
	d := l.open(t, HookTCX)
	if err := l.b.Do(func() error {
		mode, err := d.Attach("b0", IfaceOptions{})
		if err == nil && mode != ModeTCX {
			t.Errorf("mode %v, want tcx", mode)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	attach(last, link.Tail())
	mustSet(t, d, InstanceKey{uint32(l.bIndex), 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})

	var order []ebpf.ProgramID
	if err := l.b.Do(func() error {
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.bIndex, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		for _, p := range res.Programs {
			order = append(order, p.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := func(p *ebpf.Program) ebpf.ProgramID {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := info.ID()
		return pid
	}
	d.mu.Lock()
	xid := id(d.ifaces["b0"].prog)
	d.mu.Unlock()
	if want := []ebpf.ProgramID{xid, id(first), id(last)}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("TCX ingress order %v, want xvrrp, the earlier program, the later one %v", order, want)
	}

	b1, b2 := lab.Counted(t, seenFirst), lab.Counted(t, seenLast)
	const n = 5
	l.adverts(t, d, n)
	for name, got := range map[string]uint64{"earlier": lab.Counted(t, seenFirst) - b1, "later": lab.Counted(t, seenLast) - b2} {
		if got < 2*n {
			t.Errorf("the %s TCX program saw %d frames, want >= %d (adverts and TCP)", name, got, 2*n)
		}
	}
	// Dropped junk stops at xvrrp: the programs after it do not see it.
	junk := with(v3adv4(), func(a *advert) { a.csum = csumCorrupt })
	b1 = lab.Counted(t, seenFirst)
	if err := sendFrames(l.a, "a0", [][]byte{junk.frame()}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Eventually(5*time.Second, func() error {
		c, err := d.Counters("b0")
		if err != nil {
			return err
		}
		if c[ReasonBadChecksum] != 1 {
			return errors.New("bad checksum not counted yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := lab.Counted(t, seenFirst) - b1; got != 0 {
		t.Errorf("a program after xvrrp saw %d frames of the dropped advert", got)
	}
}

// TestCheckXDPSlotTellsOwnLinkFromAnotherProgram: issue 23 item 6.
// xvrrpd --attach xdp checks every interface's slot before touching the
// host: a free slot and one holding the link xvrrp pinned under the pin
// directory (a run killed with -9 leaves it; Attach takes it over) pass,
// another program's fails with ErrXDPSlotTaken naming the interface.
func TestCheckXDPSlotTellsOwnLinkFromAnotherProgram(t *testing.T) {
	l := newTCXLab(t)
	d := l.open(t, HookXDP)
	check := func() error {
		var err error
		if derr := l.b.Do(func() error { err = CheckXDPSlot(d.pinDir, "b0"); return nil }); derr != nil {
			t.Fatal(derr)
		}
		return err
	}
	if err := check(); err != nil {
		t.Fatalf("free slot: %v, want nil", err)
	}
	if err := l.b.Do(func() error { _, err := d.Attach("b0", IfaceOptions{}); return err }); err != nil {
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Fatalf("slot holding xvrrp's own pinned link: %v, want nil", err)
	}
	if err := l.b.Do(func() error { return d.Detach("b0") }); err != nil {
		t.Fatal(err)
	}
	other, _ := lab.CountingProgram(t, ebpf.XDP, ebpf.AttachNone, 2)
	if err := l.b.Do(func() error {
		xl, err := link.AttachXDP(link.XDPOptions{Program: other, Interface: l.bIndex})
		if err == nil {
			t.Cleanup(func() { xl.Close() })
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := check()
	if !errors.Is(err, ErrXDPSlotTaken) || !strings.Contains(err.Error(), "attach to b0: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("slot holding another program: %q, want one line naming b0 wrapping ErrXDPSlotTaken", err)
	}
	if _, err := os.Stat(filepath.Join(d.pinDir, "b0", pinXDP)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckXDPSlot left or made a pin: %v", err)
	}
}
