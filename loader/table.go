//go:build linux

package loader

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xvrrp/xvrrp/bpf"
)

// instanceTable is the loader's record of the instance table it programmed
// (the maps ifslots, vrids, policies and sources; see their comment in
// xvrrp.bpf.c): which interface has which slot and which instance which
// entries. It is rebuilt from the pinned maps at Open, so a restart finds
// the table of the previous run. Guarded by Dataplane.mu.
type instanceTable struct {
	ifslots map[uint32]uint32 // ifindex → slot, 1 and up
	inst    map[InstanceKey]tableEntry
	// Free entries. Policies are reused first in, first out: a program
	// that read a policy entry just before SetInstance switched away from
	// it finishes with the frame long before the entry comes round again.
	freeSlots, freePolicies, freeSources []uint32
}

type tableEntry struct{ policy, sources uint32 }

// vridsPerSlot is how many vrids entries an interface slot has: VRID
// (0-255) times family (IPv4, IPv6).
const vridsPerSlot = 512

func vridKey(slot uint32, k InstanceKey) uint32 {
	f := uint32(0)
	if k.Family == IPv6 {
		f = 1
	}
	return slot*vridsPerSlot + uint32(k.VRID)*2 + f
}

func compareInstanceKeys(a, b InstanceKey) int {
	return cmp.Or(cmp.Compare(a.Ifindex, b.Ifindex), cmp.Compare(a.VRID, b.VRID), cmp.Compare(a.Family, b.Family))
}

// loadTable rebuilds d.tab from the (possibly pinned) maps.
func (d *Dataplane) loadTable() error {
	t := instanceTable{ifslots: map[uint32]uint32{}, inst: map[InstanceKey]tableEntry{}}
	maxSlots := d.shared.vrids.MaxEntries() / vridsPerSlot
	usedSlot := map[uint32]bool{0: true}
	var ifindex, slot uint32
	it := d.shared.ifslots.Iterate()
	for it.Next(&ifindex, &slot) {
		if slot == 0 || slot >= maxSlots || usedSlot[slot] {
			continue // not written by xvrrp: the slot is given anew
		}
		t.ifslots[ifindex], usedSlot[slot] = slot, true
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the interface slots: %w", err)
	}
	usedPolicy := map[uint32]bool{0: true} // vrids' 0 is "no instance"
	usedSources := map[uint32]bool{}
	for ifindex, slot := range t.ifslots {
		for vrid := 1; vrid <= 255; vrid++ {
			for _, f := range []Family{IPv4, IPv6} {
				k := InstanceKey{Ifindex: ifindex, VRID: uint8(vrid), Family: f}
				var v bpf.XvrrpXvrrpVrid
				if err := d.shared.vrids.Lookup(vridKey(slot, k), &v); err != nil {
					return fmt.Errorf("read the instance table: %w", err)
				}
				if v.Policy == 0 {
					continue
				}
				var pol bpf.XvrrpXvrrpPolicy
				if v.Policy >= d.shared.policies.MaxEntries() || usedPolicy[v.Policy] {
					continue
				}
				if err := d.shared.policies.Lookup(v.Policy, &pol); err != nil {
					return fmt.Errorf("read the instance table: %w", err)
				}
				want, _ := k.bpf()
				if pol.Key != want || pol.Sources >= d.shared.sources.MaxEntries() || usedSources[pol.Sources] {
					continue // not a table xvrrp wrote: SetInstance writes it anew
				}
				usedPolicy[v.Policy], usedSources[pol.Sources] = true, true
				t.inst[k] = tableEntry{policy: v.Policy, sources: pol.Sources}
			}
		}
	}
	for i := uint32(1); i < maxSlots; i++ {
		if !usedSlot[i] {
			t.freeSlots = append(t.freeSlots, i)
		}
	}
	for i := uint32(1); i < d.shared.policies.MaxEntries(); i++ {
		if !usedPolicy[i] {
			t.freePolicies = append(t.freePolicies, i)
		}
	}
	for i := uint32(0); i < d.shared.sources.MaxEntries(); i++ {
		if !usedSources[i] {
			t.freeSources = append(t.freeSources, i)
		}
	}
	d.tab = t
	return nil
}

// errTableFull is wrapped when a table has no free entry.
var errTableFull = errors.New("the instance table is full")

// ifslotLocked is the slot of the interface with index ifindex, given on
// first use. A slot stays with its interface for the Dataplane's life (the
// interface's program copy has it as a constant) and across restarts (the
// pinned ifslots); when none is free, one of an interface with neither
// instances nor a program copy of this Dataplane is taken back.
func (d *Dataplane) ifslotLocked(ifindex uint32) (uint32, error) {
	if s, ok := d.tab.ifslots[ifindex]; ok {
		return s, nil
	}
	if len(d.tab.freeSlots) == 0 {
		d.reclaimSlotLocked()
	}
	if len(d.tab.freeSlots) == 0 {
		return 0, fmt.Errorf("interface index %d: every one of %d interface slots is in use: %w", ifindex, d.shared.vrids.MaxEntries()/vridsPerSlot-1, errTableFull)
	}
	s := d.tab.freeSlots[0]
	if err := d.shared.ifslots.Put(ifindex, s); err != nil {
		return 0, fmt.Errorf("record the slot of interface index %d: %w", ifindex, explainErrno(err))
	}
	d.tab.freeSlots = d.tab.freeSlots[1:]
	d.tab.ifslots[ifindex] = s
	return s, nil
}

// reclaimSlotLocked frees the slot of one interface that has no instance
// and no program copy of this Dataplane (attached or probe).
func (d *Dataplane) reclaimSlotLocked() {
	busy := map[uint32]bool{}
	for k := range d.tab.inst {
		busy[k.Ifindex] = true
	}
	for _, p := range d.ifaces {
		busy[uint32(p.index)] = true
	}
	for k := range d.probes {
		busy[k.ifindex] = true
	}
	for ifindex, s := range d.tab.ifslots {
		if busy[ifindex] {
			continue
		}
		if err := d.shared.ifslots.Delete(ifindex); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		delete(d.tab.ifslots, ifindex)
		d.tab.freeSlots = append(d.tab.freeSlots, s)
		return
	}
}

// setInstanceLocked writes val to a free policies entry and switches the
// instance's vrids entry to it; a new instance first gets its emptied
// sources row.
func (d *Dataplane) setInstanceLocked(k InstanceKey, key bpf.XvrrpXvrrpInstanceKey, val bpf.XvrrpXvrrpPolicy) error {
	slot, err := d.ifslotLocked(k.Ifindex)
	if err != nil {
		return err
	}
	e, exists := d.tab.inst[k]
	if !exists {
		if len(d.tab.freeSources) == 0 {
			return fmt.Errorf("%d instances: %w", len(d.tab.inst), errTableFull)
		}
		e.sources = d.tab.freeSources[0]
		if err := d.shared.sources.Put(e.sources, &bpf.XvrrpXvrrpSources{}); err != nil {
			return explainErrno(err)
		}
		d.tab.freeSources = d.tab.freeSources[1:]
	}
	if len(d.tab.freePolicies) == 0 {
		return fmt.Errorf("%d instances: %w", len(d.tab.inst), errTableFull)
	}
	pi := d.tab.freePolicies[0]
	val.Key, val.Sources = key, e.sources
	// val's buckets are zero: aggregate and master bucket restart (full at
	// the next advert).
	if err := d.shared.policies.Put(pi, &val); err != nil {
		d.tab.freeSources = appendIf(!exists, d.tab.freeSources, e.sources)
		return explainErrno(err)
	}
	d.tab.freePolicies = d.tab.freePolicies[1:]
	if err := d.shared.vrids.Put(vridKey(slot, k), bpf.XvrrpXvrrpVrid{Policy: pi}); err != nil {
		d.tab.freePolicies = append(d.tab.freePolicies, pi)
		d.tab.freeSources = appendIf(!exists, d.tab.freeSources, e.sources)
		return explainErrno(err)
	}
	if exists {
		d.tab.freePolicies = append(d.tab.freePolicies, e.policy)
	}
	e.policy = pi
	d.tab.inst[k] = e
	return nil
}

func appendIf(cond bool, s []uint32, v uint32) []uint32 {
	if cond {
		return append(s, v)
	}
	return s
}

// deleteInstanceLocked clears the instance's vrids entry and frees its
// entries.
func (d *Dataplane) deleteInstanceLocked(k InstanceKey) error {
	e, ok := d.tab.inst[k]
	if !ok {
		return nil
	}
	slot := d.tab.ifslots[k.Ifindex]
	if err := d.shared.vrids.Put(vridKey(slot, k), bpf.XvrrpXvrrpVrid{}); err != nil {
		return err
	}
	delete(d.tab.inst, k)
	d.tab.freePolicies = append(d.tab.freePolicies, e.policy)
	d.tab.freeSources = append(d.tab.freeSources, e.sources)
	return nil
}
