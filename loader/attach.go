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

// AttachMode says how XDP runs on an interface.
type AttachMode int

const (
	ModeNone    AttachMode = iota // not attached
	ModeNative                    // in the driver (XDP_FLAGS_DRV_MODE)
	ModeGeneric                   // after the skb is built (XDP_FLAGS_SKB_MODE)
)

func (m AttachMode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "none"
}

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
			errs = append(errs, fmt.Errorf("unpin XDP link of %s: %w", p.name, err))
		}
	}
	if err := p.stats.Unpin(); err != nil {
		errs = append(errs, fmt.Errorf("unpin counters of %s: %w", p.name, err))
	}
	p.close() // closing the last reference to the link detaches XDP
	if p.dir != "" {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p.dir, err))
		}
	}
	return errors.Join(errs...)
}

// loadProg loads a program copy for one interface with the shared maps and
// the given counters map.
func (d *Dataplane) loadProg(o IfaceOptions, stats *ebpf.Map, h hook) (*ebpf.Program, error) {
	spec := d.spec.Copy()
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

// Attach runs the XDP program on the interface named ifname (in the
// caller's network namespace), natively when the driver supports it and
// generically otherwise, and reports which. Attaching an interface that is
// already attached (by this Dataplane or, pinned, by a previous run)
// replaces the program atomically: no frame goes unfiltered.
func (d *Dataplane) Attach(ifname string, o IfaceOptions) (AttachMode, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return ModeNone, fmt.Errorf("attach xdp to %s: no interface named %s in this network namespace: %w", ifname, ifname, err)
	}
	return d.attach(ifi, o)
}

// AttachIndex is Attach for the interface with the given index (in the
// caller's network namespace). It returns the interface's name, which is
// what Detach, Mode and Counters take, and under which its pins live.
func (d *Dataplane) AttachIndex(index int, o IfaceOptions) (string, AttachMode, error) {
	if index <= 0 {
		return "", ModeNone, fmt.Errorf("attach xdp to interface index %d: an interface index is positive", index)
	}
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return "", ModeNone, fmt.Errorf("attach xdp to interface index %d: no interface with that index in this network namespace: %w", index, err)
	}
	mode, err := d.attach(ifi, o)
	return ifi.Name, mode, err
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
		return ModeNone, fmt.Errorf("attach xdp to %s: create %s: %w", ifname, dir, err)
	}
	old := d.ifaces[ifname]
	var stats *ebpf.Map
	var err error
	if old != nil && old.index == ifi.Index {
		stats, err = old.stats.Clone()
	} else {
		stats, err = openPinnedMap(d.spec.Maps[bpf.XvrrpMapStats], filepath.Join(dir, bpf.XvrrpMapStats))
	}
	if err != nil {
		return ModeNone, fmt.Errorf("attach xdp to %s: %w", ifname, err)
	}
	prog, err := d.loadProg(o, stats, hookXDP)
	if err != nil {
		stats.Close()
		return ModeNone, fmt.Errorf("attach xdp to %s: %w", ifname, err)
	}
	p := &ifaceProg{name: ifname, index: ifi.Index, opts: o, prog: prog, stats: stats, dir: dir}

	linkPin := filepath.Join(dir, "link")
	if old != nil && old.index == ifi.Index {
		if err := old.link.Update(prog); err != nil {
			p.close()
			return ModeNone, fmt.Errorf("replace xdp program on %s: %w", ifname, err)
		}
		p.link, old.link = old.link, nil
		old.close()
	} else if l, err := link.LoadPinnedLink(linkPin, nil); err == nil {
		// A previous run's link: swap the program under it.
		if err := l.Update(prog); err != nil {
			l.Close()
			p.close()
			return ModeNone, fmt.Errorf("replace pinned xdp program on %s: %w", ifname, err)
		}
		p.link = l
	} else {
		l, err := attachXDP(prog, ifi.Index)
		if err != nil {
			p.close()
			return ModeNone, fmt.Errorf("attach xdp to %s: %w", ifname, err)
		}
		if err := l.Pin(linkPin); err != nil {
			l.Close()
			p.close()
			return ModeNone, fmt.Errorf("attach xdp to %s: pin link at %s: %w", ifname, linkPin, err)
		}
		p.link = l
	}
	p.mode = queryMode(ifi.Index)
	d.ifaces[ifname] = p
	return p.mode, nil
}

func attachXDP(prog *ebpf.Program, index int) (link.Link, error) {
	l, errNative := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: link.XDPDriverMode})
	if errNative == nil {
		return l, nil
	}
	l, errGeneric := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: link.XDPGenericMode})
	if errGeneric == nil {
		return l, nil
	}
	if errors.Is(errGeneric, unix.EBUSY) || errors.Is(errGeneric, unix.EEXIST) {
		return nil, fmt.Errorf("the interface already has another XDP program (remove it: ip link set dev <ifname> xdp off): %w", errGeneric)
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
		return fmt.Errorf("detach xdp from %s: not attached by this daemon", ifname)
	}
	delete(d.ifaces, ifname)
	if err := p.detach(); err != nil {
		return fmt.Errorf("detach xdp from %s: %w", ifname, err)
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
		pin := filepath.Join(dir, e.Name(), "link")
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			continue
		}
		if err := l.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin stale link %s: %w", pin, err))
		}
		l.Close()
	}
	return errors.Join(errs...)
}
