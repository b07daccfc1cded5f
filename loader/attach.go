//go:build linux

package loader

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/bpf"
)

// AttachMode says how the receive program runs on an interface.
type AttachMode int

const (
	ModeNone    AttachMode = iota // not attached
	ModeNative                    // XDP in the driver (XDP_FLAGS_DRV_MODE)
	ModeGeneric                   // XDP after the skb is built (XDP_FLAGS_SKB_MODE)
	ModeTCX                       // TCX ingress (Linux 6.6), first of the interface's TCX programs
)

func (m AttachMode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	case ModeTCX:
		return "tcx"
	}
	return "none"
}

// Hook chooses where Attach runs the receive program (Options.Attach).
// Both hooks run before netfilter, so a firewall dropping VRRP cannot hide
// adverts from xvrrpd on either.
type Hook int

const (
	// HookAuto: XDP (native, else generic) when the interface's XDP slot is
	// free, TCX ingress when another program holds it. It never detaches
	// or replaces a program xvrrp does not own.
	HookAuto Hook = iota
	// HookXDP: XDP only; an interface whose XDP slot is taken fails.
	HookXDP
	// HookTCX: TCX ingress only.
	HookTCX
)

func (h Hook) String() string {
	switch h {
	case HookXDP:
		return "xdp"
	case HookTCX:
		return "tcx"
	}
	return "auto"
}

// ParseHook reads auto, xdp or tcx (xvrrpd --attach).
func ParseHook(s string) (Hook, error) {
	for _, h := range []Hook{HookAuto, HookXDP, HookTCX} {
		if s == h.String() {
			return h, nil
		}
	}
	return HookAuto, fmt.Errorf("attach mode %q: use auto, xdp or tcx", s)
}

// ErrXDPSlotTaken is wrapped by Attach's error when another program holds
// the interface's XDP slot and the Dataplane may only use XDP (HookXDP).
var ErrXDPSlotTaken = errors.New("the interface already has another XDP program: run xvrrpd with --attach auto or --attach tcx to receive on TCX ingress beside it, or remove it (ip link set dev <ifname> xdp off) if nothing needs it")

// CheckXDPSlot returns an error wrapping ErrXDPSlotTaken when another
// program holds the XDP slot of the interface named ifname (in the
// caller's network namespace): one not attached through the link a run of
// xvrrp pinned under pinDir for it, which Attach would take over. It only
// reads: xvrrpd --attach xdp calls it for every interface before it touches
// the host, so that a slot taken on its last interface does not fail the
// start after the first ones were attached.
func CheckXDPSlot(pinDir, ifname string) error {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("attach to %s: %w", ifname, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return nil
	}
	if pinDir == "" {
		pinDir = DefaultPinDir
	}
	path := filepath.Join(pinDir, PinName(ifname), pinXDP)
	if own, err := link.LoadPinnedLink(path, nil); err == nil {
		info, err := own.Info()
		own.Close()
		if err == nil && info.XDP() != nil && int(info.XDP().Ifindex) == l.Attrs().Index {
			return nil
		}
	}
	return fmt.Errorf("attach to %s: %w (program id %d)", ifname, ErrXDPSlotTaken, x.ProgId)
}

// Pin names of the two kinds of link under <PinDir>/<ifname>: "link" (the
// XDP link, the name of earlier versions, so an upgrade takes it over) and
// "tcx".
const (
	pinXDP = "link"
	pinTCX = "tcx"
)

// IfaceOptions are per-interface choices, fixed into the program copy that
// runs on the interface. Attach again with other options to change them: the
// program is replaced atomically.
type IfaceOptions struct {
	// DropUnknownVRID drops VRRP adverts whose VRID has no instance here
	// instead of passing them to the stack (counted either way).
	DropUnknownVRID bool
	// ConsumeAccepted drops accepted adverts after copying them to the
	// ring (XDP_DROP), so the stack and tcpdump no longer see them.
	ConsumeAccepted bool
}

// hook is where a program copy runs: the XDP hook or TCX ingress. Both are
// entry points of the same C source over the same stages.
type hook int

const (
	hookXDP hook = iota
	hookTCX
)

func (h hook) String() string {
	if h == hookTCX {
		return "TCX"
	}
	return "XDP"
}

// ifaceProg is one program copy with its own counters: attached to an
// interface (link set) or only used by RunFrame (a probe).
type ifaceProg struct {
	name  string
	index int
	opts  IfaceOptions
	prog  *ebpf.Program
	stats *ebpf.Map
	link  link.Link
	hook  hook
	mode  AttachMode
	dir   string // <PinDir>/<ifname>, "" for probes
}

func (p *ifaceProg) close() {
	if p.link != nil {
		p.link.Close()
	}
	p.prog.Close()
	p.stats.Close()
}

// detach removes the program from the interface and its pins.
func (p *ifaceProg) detach() error {
	var errs []error
	if p.link != nil {
		if err := p.link.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin %s link of %s: %w", p.hook, p.name, err))
		}
	}
	if err := p.stats.Unpin(); err != nil {
		errs = append(errs, fmt.Errorf("unpin counters of %s: %w", p.name, err))
	}
	p.close() // closing the last reference to the link detaches the program
	if p.dir != "" {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p.dir, err))
		}
	}
	return errors.Join(errs...)
}

// loadProg loads a program copy for the interface with index ifindex with
// the shared maps and the given counters map. The interface's slot in the
// instance table (allocated here if it has none) is a constant of the copy.
func (d *Dataplane) loadProg(o IfaceOptions, stats *ebpf.Map, h hook, ifindex uint32) (*ebpf.Program, error) {
	slot, err := d.ifslotLocked(ifindex)
	if err != nil {
		return nil, err
	}
	spec := d.spec.Copy()
	for name, v := range map[string]uint32{
		bpf.XvrrpVarXvrrpIfindex: ifindex,
		bpf.XvrrpVarXvrrpIfslot:  slot,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	for name, v := range map[string]bool{
		bpf.XvrrpVarXvrrpDropUnknownVrid: o.DropUnknownVRID,
		bpf.XvrrpVarXvrrpConsumeAccepted: o.ConsumeAccepted,
	} {
		var b uint8
		if v {
			b = 1
		}
		if err := spec.Variables[name].Set(b); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	repl := d.shared.replacements()
	repl[bpf.XvrrpMapStats] = stats
	// Only the hook's entry point is loaded: the other one would cost a
	// verification and a program nobody runs.
	objs := struct {
		XDP *ebpf.Program `ebpf:"xvrrp_xdp"`
	}{}
	objsTC := struct {
		TCX *ebpf.Program `ebpf:"xvrrp_tcx"`
	}{}
	var dst any = &objs
	if h == hookTCX {
		dst = &objsTC
	}
	if err := spec.LoadAndAssign(dst, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("kernel verifier rejected the %s program (report this with the kernel version): %+v", h, ve)
		}
		return nil, fmt.Errorf("load %s program: %w", h, explainErrno(err))
	}
	if h == hookTCX {
		return objsTC.TCX, nil
	}
	return objs.XDP, nil
}

// Attach runs the receive program on the interface named ifname (in the
// caller's network namespace) on the hook Options.Attach allows: XDP,
// natively when the driver supports it and generically otherwise, or TCX
// ingress; it reports which. Attaching an interface that is already
// attached (by this Dataplane or, pinned, by a previous run) replaces the
// program atomically: no frame goes unfiltered.
func (d *Dataplane) Attach(ifname string, o IfaceOptions) (AttachMode, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return ModeNone, fmt.Errorf("attach to %s: no interface named %s in this network namespace: %w", ifname, ifname, err)
	}
	return d.attach(ifi, o)
}

// AttachIndex is Attach for the interface with the given index (in the
// caller's network namespace). It returns the interface's name, which is
// what Detach, Mode and Counters take, and under which its pins live.
func (d *Dataplane) AttachIndex(index int, o IfaceOptions) (string, AttachMode, error) {
	if index <= 0 {
		return "", ModeNone, fmt.Errorf("attach to interface index %d: an interface index is positive", index)
	}
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return "", ModeNone, fmt.Errorf("attach to interface index %d: no interface with that index in this network namespace: %w", index, err)
	}
	mode, err := d.attach(ifi, o)
	return ifi.Name, mode, err
}

// ownPinnedLink opens the link a previous run pinned under dir for hook h
// on the interface with the given index, if there is one. One left by an
// interface of the same name that is gone is unpinned: it filters nothing.
func ownPinnedLink(dir string, h hook, index int) link.Link {
	name := pinXDP
	if h == hookTCX {
		name = pinTCX
	}
	l, err := link.LoadPinnedLink(filepath.Join(dir, name), nil)
	if err != nil {
		return nil
	}
	info, err := l.Info()
	var on uint32
	if err == nil {
		if x := info.XDP(); x != nil {
			on = x.Ifindex
		} else if t := info.TCX(); t != nil {
			on = t.Ifindex
		}
	}
	if on != uint32(index) {
		_ = l.Unpin()
		l.Close()
		return nil
	}
	return l
}

func (d *Dataplane) attach(ifi *net.Interface, o IfaceOptions) (AttachMode, error) {
	ifname := ifi.Name
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ModeNone, errClosed
	}
	dir := filepath.Join(d.pinDir, PinName(ifname))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ModeNone, fmt.Errorf("attach to %s: create %s: %w", ifname, dir, err)
	}
	old := d.ifaces[ifname]
	if old != nil && old.index != ifi.Index {
		// The interface was re-created: the old link's device is gone.
		// Its counters stay pinned and carry on below.
		if old.link != nil {
			_ = old.link.Unpin()
		}
		old.close()
		delete(d.ifaces, ifname)
		old = nil
	}
	var stats *ebpf.Map
	var err error
	if old != nil {
		stats, err = old.stats.Clone()
	} else {
		stats, err = openPinnedMap(d.spec.Maps[bpf.XvrrpMapStats], filepath.Join(dir, bpf.XvrrpMapStats))
	}
	if err != nil {
		return ModeNone, fmt.Errorf("attach to %s: %w", ifname, err)
	}
	p := &ifaceProg{name: ifname, index: ifi.Index, opts: o, stats: stats, dir: dir}

	// Which hook: the one already in use by this Dataplane or a previous
	// run (its link is swapped, atomically), else the first Options.Attach
	// allows that works.
	var taken link.Link
	switch {
	case old != nil:
		p.hook = old.hook
	default:
		for _, h := range d.hooks() {
			if l := ownPinnedLink(dir, h, ifi.Index); l != nil {
				p.hook, taken = h, l
				break
			}
		}
	}
	if old != nil || taken != nil {
		if p.prog, err = d.loadProg(o, stats, p.hook, uint32(ifi.Index)); err != nil {
			if taken != nil {
				taken.Close()
			}
			stats.Close()
			return ModeNone, fmt.Errorf("attach to %s: %w", ifname, err)
		}
		l := taken
		if old != nil {
			l = old.link
		}
		if err := l.Update(p.prog); err != nil {
			if taken != nil {
				taken.Close()
			}
			p.close()
			return ModeNone, fmt.Errorf("replace the %s program on %s: %w", p.hook, ifname, err)
		}
		p.link = l
		if old != nil {
			old.link = nil
			old.close()
		}
	} else if err := d.attachNew(p, ifi.Index); err != nil {
		stats.Close()
		return ModeNone, fmt.Errorf("attach to %s: %w", ifname, err)
	}
	// A pinned link of the hook this Dataplane may not use (an earlier
	// run with another --attach) is xvrrp's own: it goes once the new one
	// runs, so no frame goes unfiltered meanwhile.
	for _, h := range []hook{hookXDP, hookTCX} {
		if h == p.hook {
			continue
		}
		if l := ownPinnedLink(dir, h, ifi.Index); l != nil {
			_ = l.Unpin()
			l.Close()
		}
	}
	if p.hook == hookTCX {
		p.mode = ModeTCX
	} else {
		p.mode = queryMode(ifi.Index)
	}
	d.ifaces[ifname] = p
	return p.mode, nil
}

// hooks lists the hooks Options.Attach allows, preferred first.
func (d *Dataplane) hooks() []hook {
	switch d.attachHook {
	case HookXDP:
		return []hook{hookXDP}
	case HookTCX:
		return []hook{hookTCX}
	}
	return []hook{hookXDP, hookTCX}
}

// attachNew loads p's program for the first hook that attaches and pins
// its link; it fills p.prog, p.link and p.hook, or closes what it loaded.
func (d *Dataplane) attachNew(p *ifaceProg, index int) error {
	var errs []error
	for _, h := range d.hooks() {
		prog, err := d.loadProg(p.opts, p.stats, h, uint32(index))
		if err != nil {
			return err
		}
		var l link.Link
		pin := pinXDP
		if h == hookTCX {
			l, err = attachTCX(prog, index)
			pin = pinTCX
		} else {
			l, err = attachXDP(prog, index)
		}
		if err != nil {
			prog.Close()
			if h == hookXDP && errors.Is(err, ErrXDPSlotTaken) && d.attachHook == HookAuto {
				// Another program's slot: never ours to take. TCX next.
				errs = append(errs, err)
				continue
			}
			return errors.Join(append(errs, err)...)
		}
		if err := l.Pin(filepath.Join(p.dir, pin)); err != nil {
			l.Close()
			prog.Close()
			return fmt.Errorf("pin link at %s: %w", filepath.Join(p.dir, pin), err)
		}
		p.prog, p.link, p.hook = prog, l, h
		return nil
	}
	return errors.Join(errs...)
}

// attachTCX puts prog first among the interface's TCX ingress programs
// (link.Head): xvrrp decides only about IP protocol 112 and hands every
// other frame on unchanged (TCX_NEXT), so going first costs the programs
// after it nothing, while a program before it could redirect or drop the
// adverts (RFC 5798 §6.4.2: a backup that misses them takes over). A
// program attached later with Head goes before it: that is its owner's
// choice.
func attachTCX(prog *ebpf.Program, index int) (link.Link, error) {
	l, err := link.AttachTCX(link.TCXOptions{Program: prog, Interface: index, Attach: ebpf.AttachTCXIngress, Anchor: link.Head()})
	if err != nil {
		return nil, fmt.Errorf("TCX ingress (needs Linux 6.6 or later): %w", explainErrno(err))
	}
	return l, nil
}

func attachXDP(prog *ebpf.Program, index int) (link.Link, error) {
	l, errNative := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: link.XDPDriverMode})
	if errNative == nil {
		return l, nil
	}
	if errors.Is(errNative, unix.EBUSY) || errors.Is(errNative, unix.EEXIST) {
		return nil, fmt.Errorf("%w (%w)", ErrXDPSlotTaken, errNative)
	}
	l, errGeneric := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: link.XDPGenericMode})
	if errGeneric == nil {
		return l, nil
	}
	if errors.Is(errGeneric, unix.EBUSY) || errors.Is(errGeneric, unix.EEXIST) {
		return nil, fmt.Errorf("%w (%w)", ErrXDPSlotTaken, errGeneric)
	}
	return nil, fmt.Errorf("native mode: %w; generic mode: %w", explainErrno(errNative), explainErrno(errGeneric))
}

// queryMode asks the kernel how XDP runs on the interface.
func queryMode(index int) AttachMode {
	l, err := netlink.LinkByIndex(index)
	if err != nil || l.Attrs().Xdp == nil {
		return ModeNone
	}
	switch l.Attrs().Xdp.AttachMode {
	case nl.XDP_ATTACHED_DRV:
		return ModeNative
	case nl.XDP_ATTACHED_SKB:
		return ModeGeneric
	}
	return ModeNone
}

// Detach removes the program from ifname and its pins.
func (d *Dataplane) Detach(ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.ifaces[ifname]
	if p == nil {
		return fmt.Errorf("detach from %s: not attached by this daemon", ifname)
	}
	delete(d.ifaces, ifname)
	if err := p.detach(); err != nil {
		return fmt.Errorf("detach from %s: %w", ifname, err)
	}
	return nil
}

// Mode reports how XDP runs on ifname, ModeNone when this Dataplane has not
// attached it.
func (d *Dataplane) Mode(ifname string) AttachMode {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.ifaces[ifname]; p != nil {
		return p.mode
	}
	return ModeNone
}

// detachStalePins detaches the links a previous run pinned under dir that
// this run did not take over.
// PinName is the directory under the pin directory that holds an
// interface's pins: its name, with every '.' (VLAN interfaces: eth0.10)
// turned into ':', because bpffs refuses names with a dot and interface
// names cannot contain a colon, so no two interfaces share one.
func PinName(ifname string) string { return strings.ReplaceAll(ifname, ".", ":") }

func detachStalePins(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("list pins in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, name := range []string{pinXDP, pinTCX} {
			pin := filepath.Join(dir, e.Name(), name)
			l, err := link.LoadPinnedLink(pin, nil)
			if err != nil {
				continue
			}
			if err := l.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpin stale link %s: %w", pin, err))
			}
			l.Close()
		}
	}
	return errors.Join(errs...)
}
