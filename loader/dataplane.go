//go:build linux

// Package loader is everything of xvrrp that touches the kernel's BPF side:
// it loads the receive program (package bpf), attaches it to interfaces (XDP
// or TCX ingress),
// pins its maps under a bpffs directory, programs the instance table, reads
// accepted adverts from the ring buffer and reads the per-reason counters.
// It knows nothing of VRRP states: the daemon decides, the loader executes.
//
// Layout under Options.PinDir (default /sys/fs/bpf/xvrrp):
//
//	ifslots  vrids  policies  sources        the instance table (table.go)
//	events  ring_ctl  heard                  shared by every interface
//	<ifname>/stats                           per-CPU counters of one interface
//	<ifname>/link                            the XDP link of one interface, or
//	<ifname>/tcx                             its TCX ingress link (Options.Attach)
//
// Each attached interface runs its own copy of the program with its own
// counters (MapReplacements share the other maps), so counters are per
// interface without a lookup on the fast path, and per-interface options are
// load-time constants.
package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xvrrp/xvrrp/bpf"
)

// DefaultPinDir is where maps and links are pinned unless Options say
// otherwise. Two daemons on one host (one per network namespace) need two
// directories: bpffs is shared across network namespaces.
const DefaultPinDir = "/sys/fs/bpf/xvrrp"

// DefaultRingBytes is the ring buffer size unless Options say otherwise:
// 8192 common adverts (128 bytes each with the record header).
const DefaultRingBytes = 1 << 20

// Options configure Open.
type Options struct {
	// PinDir is the bpffs directory holding xvrrp's pins; default
	// DefaultPinDir. It must be on a bpffs; /sys/fs/bpf is mounted when it
	// is not.
	PinDir string
	// RingBytes sizes the event ring: a power of two and a multiple of the
	// page size; default DefaultRingBytes. An existing pinned ring of
	// another size is replaced.
	RingBytes int
	// Attach is the hook Attach may use; HookAuto (the zero value) takes
	// XDP when the interface's XDP slot is free and TCX ingress otherwise.
	Attach Hook
}

// Dataplane owns xvrrp's BPF objects. Its methods are safe for concurrent
// use.
type Dataplane struct {
	mu         sync.Mutex
	pinDir     string
	attachHook Hook
	spec       *ebpf.CollectionSpec
	shared     sharedMaps
	ifaces     map[string]*ifaceProg
	probes     map[probeKey]*ifaceProg // program copies BPF_PROG_TEST_RUN uses (tests, benchmarks)
	ring       *RingReader
	reader     *EventReader // the open EventReader, if any
	heard      *HeardTable  // mapped by Heard, if it was called
	tab        instanceTable
	closed     bool
}

// probeKey names a program copy that is attached nowhere, built for frames
// arriving on ifindex.
type probeKey struct {
	opts    IfaceOptions
	hook    hook
	ifindex uint32
}

type sharedMaps struct {
	ifslots, vrids, policies, sources, events, ringCtl, heard *ebpf.Map
}

func (s *sharedMaps) replacements() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{
		bpf.XvrrpMapIfslots:  s.ifslots,
		bpf.XvrrpMapVrids:    s.vrids,
		bpf.XvrrpMapPolicies: s.policies,
		bpf.XvrrpMapSources:  s.sources,
		bpf.XvrrpMapEvents:   s.events,
		bpf.XvrrpMapRingCtl:  s.ringCtl,
		bpf.XvrrpMapHeard:    s.heard,
	}
}

func (s *sharedMaps) close() {
	for _, m := range []*ebpf.Map{s.ifslots, s.vrids, s.policies, s.sources, s.events, s.ringCtl, s.heard} {
		if m != nil {
			m.Close()
		}
	}
}

// Open loads xvrrp's maps (reusing the pinned ones a previous run left, so
// a restart keeps the instance table and replaces the program atomically),
// after checking that the kernel and the process have what is needed.
func Open(opts Options) (*Dataplane, error) {
	if opts.PinDir == "" {
		opts.PinDir = DefaultPinDir
	}
	if opts.RingBytes == 0 {
		opts.RingBytes = DefaultRingBytes
	}
	if err := checkRingBytes(opts.RingBytes); err != nil {
		return nil, err
	}
	if err := checkPrivileges(opts.PinDir); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w (run as root)", err)
	}
	if err := checkKernel(); err != nil {
		return nil, err
	}
	if err := ensureBPFFS(opts.PinDir); err != nil {
		return nil, err
	}
	spec, err := bpf.LoadXvrrp()
	if err != nil {
		return nil, fmt.Errorf("parse embedded XDP object: %w", err)
	}
	spec.Maps[bpf.XvrrpMapEvents].MaxEntries = uint32(opts.RingBytes)
	if err := setClock(spec); err != nil {
		return nil, err
	}

	d := &Dataplane{
		pinDir:     opts.PinDir,
		attachHook: opts.Attach,
		spec:       spec,
		ifaces:     map[string]*ifaceProg{},
		probes:     map[probeKey]*ifaceProg{},
	}
	for _, s := range []struct {
		name string
		dst  **ebpf.Map
	}{
		{bpf.XvrrpMapIfslots, &d.shared.ifslots},
		{bpf.XvrrpMapVrids, &d.shared.vrids},
		{bpf.XvrrpMapPolicies, &d.shared.policies},
		{bpf.XvrrpMapSources, &d.shared.sources},
		{bpf.XvrrpMapEvents, &d.shared.events},
		{bpf.XvrrpMapRingCtl, &d.shared.ringCtl},
		{bpf.XvrrpMapHeard, &d.shared.heard},
	} {
		m, err := openPinnedMap(spec.Maps[s.name], filepath.Join(opts.PinDir, s.name))
		if err != nil {
			d.shared.close()
			return nil, err
		}
		*s.dst = m
	}
	// The hash tables of earlier versions (instance table and per-source
	// buckets): the running program of a previous run holds them open
	// until Attach replaces it.
	for _, stale := range []string{"instances", "rate_src"} {
		_ = os.Remove(filepath.Join(opts.PinDir, stale))
	}
	if err := d.loadTable(); err != nil {
		d.shared.close()
		return nil, err
	}
	return d, nil
}

// openPinnedMap reuses the map pinned at path when it has spec's layout and
// otherwise creates one and pins it there, replacing a stale pin left by a
// different xvrrp version.
func openPinnedMap(spec *ebpf.MapSpec, path string) (*ebpf.Map, error) {
	if m, err := ebpf.LoadPinnedMap(path, nil); err == nil {
		if spec.Compatible(m) == nil {
			return m, nil
		}
		m.Close()
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("replace incompatible pinned map %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open pinned map %s: %w (remove it if it is not xvrrp's)", path, err)
	}
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, fmt.Errorf("create BPF map %s: %w", spec.Name, explainErrno(err))
	}
	if err := m.Pin(path); err != nil {
		m.Close()
		return nil, fmt.Errorf("pin BPF map at %s: %w", path, err)
	}
	return m, nil
}

// Close detaches every interface this Dataplane attached (and those a
// previous run left pinned under PinDir), unpins everything and removes
// PinDir.
func (d *Dataplane) Close() error {
	return d.close(false)
}

// CloseLeavePinned closes the Dataplane's file descriptors but leaves the
// pinned maps and links, so XDP keeps filtering while the daemon restarts;
// the next Open and Attach with the same PinDir take over the pins and
// replace the program atomically.
func (d *Dataplane) CloseLeavePinned() error {
	return d.close(true)
}

func (d *Dataplane) close(leavePinned bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.reader != nil {
		d.reader.closeLocked()
	}
	if d.ring != nil {
		errs = append(errs, d.ring.Close())
		d.ring = nil
	}
	if d.heard != nil {
		errs = append(errs, d.heard.close())
	}
	for name, p := range d.ifaces {
		if leavePinned {
			p.close()
		} else {
			errs = append(errs, p.detach())
		}
		delete(d.ifaces, name)
	}
	for o, p := range d.probes {
		p.close()
		delete(d.probes, o)
	}
	d.shared.close()
	if !leavePinned {
		errs = append(errs, detachStalePins(d.pinDir))
		if err := os.RemoveAll(d.pinDir); err != nil {
			errs = append(errs, fmt.Errorf("remove pin directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// errClosed is returned by methods called after Close.
var errClosed = fmt.Errorf("xvrrp dataplane: %w", os.ErrClosed)
