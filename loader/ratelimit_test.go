//go:build linux

package loader

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/bpf"
)

func runExpect(t *testing.T, d *Dataplane, frame []byte, reason Reason) {
	t.Helper()
	res, err := d.RunFrame(frame, loIndex)
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict := VerdictDrop
	if reason == ReasonAccepted {
		wantVerdict = VerdictPass
	}
	if res.Reason != reason || res.Verdict != wantVerdict || res.HasEvent != (reason == ReasonAccepted) {
		t.Fatalf("got %v/%v event %v, want %v/%v", res.Verdict, res.Reason, res.HasEvent, wantVerdict, reason)
	}
}

func fromSource(i int) []byte { return advertFrom(i).frame() }

// advertFrom is the valid IPv4 v3 advert of VRID 10 from the i-th of
// 62500 sources.
func advertFrom(i int) advert {
	a := v3adv4()
	a.src = netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(1 + i%250)})
	return a
}

// rewind moves every bucket of the instance back in time by d, which is
// what time passing looks like to the program: deterministic refill.
func rewind(t *testing.T, dp *Dataplane, k InstanceKey, d time.Duration) {
	t.Helper()
	e, ok := dp.policyIndex(k)
	if !ok {
		t.Fatalf("no instance %v", k)
	}
	var pol bpf.XvrrpXvrrpPolicy
	if err := dp.shared.policies.Lookup(e.policy, &pol); err != nil {
		t.Fatal(err)
	}
	pol.Aggregate.LastNs = before(t, pol.Aggregate.LastNs, d)
	pol.MasterBucket.LastNs = before(t, pol.MasterBucket.LastNs, d)
	if err := dp.shared.policies.Put(e.policy, &pol); err != nil {
		t.Fatal(err)
	}
	var row bpf.XvrrpXvrrpSources
	if err := dp.shared.sources.Lookup(e.sources, &row); err != nil {
		t.Fatal(err)
	}
	for i := range row.E {
		row.E[i].Bucket.LastNs = beforeInUse(t, row.E[i].Bucket.LastNs, d)
	}
	if err := dp.shared.sources.Put(e.sources, &row); err != nil {
		t.Fatal(err)
	}
}

// beforeInUse is before for a source table entry, where last_ns 0 marks a
// free entry: an entry in use stays in use however far it is rewound.
func beforeInUse(t *testing.T, lastNs uint64, d time.Duration) uint64 {
	t.Helper()
	if lastNs == 0 {
		return 0
	}
	return max(before(t, lastNs, d), 1)
}

// before moves a bucket's last refill d into the past, stopping at the
// clock's zero: CLOCK_MONOTONIC starts at boot, and a freshly booted
// machine has less than an hour behind it.
func before(t *testing.T, lastNs uint64, d time.Duration) uint64 {
	t.Helper()
	if lastNs == 0 {
		return 0 // never used: the program fills it at its first use
	}
	// Clamping at 0 would refill by the machine's uptime, not by d: on a
	// machine booted moments ago that is less than the test means.
	if lastNs < uint64(d) {
		t.Fatalf("cannot rewind a bucket by %v: it was last touched %v after boot", d, time.Duration(lastNs))
	}
	return lastNs - uint64(d)
}

// sourceRow is the source table of instance k.
func sourceRow(t *testing.T, dp *Dataplane, k InstanceKey) bpf.XvrrpXvrrpSources {
	t.Helper()
	e, ok := dp.policyIndex(k)
	if !ok {
		t.Fatalf("no instance %v", k)
	}
	var row bpf.XvrrpXvrrpSources
	if err := dp.shared.sources.Lookup(e.sources, &row); err != nil {
		t.Fatal(err)
	}
	return row
}

// sourceBuckets counts the entries in use of instance k's source table.
func sourceBuckets(t *testing.T, dp *Dataplane, k InstanceKey) int {
	t.Helper()
	n := 0
	for _, e := range sourceRow(t, dp, k).E {
		if e.Bucket.LastNs != 0 {
			n++
		}
	}
	return n
}

func TestRateLimitBurstFromOneSource(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 3, InstancePerSec: 1000, InstanceBurst: 1000}})
	for range 3 {
		runExpect(t, d, fromSource(0), ReasonAccepted)
	}
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	// Another source has its own bucket.
	runExpect(t, d, fromSource(1), ReasonAccepted)
	// The same source on another instance has its own bucket too.
	k2 := InstanceKey{loIndex, 11, IPv4}
	mustSet(t, d, k2, InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 3, InstancePerSec: 1000, InstanceBurst: 1000}})
	a := v3adv4()
	a.vrid, a.src = 11, netip.AddrFrom4([4]byte{198, 18, 1, 1})
	runExpect(t, d, a.frame(), ReasonAccepted)
}

func TestRateLimitManySpoofedSources(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 3, InstancePerSec: 1, InstanceBurst: 5}})
	for i := range 5 {
		runExpect(t, d, fromSource(i), ReasonAccepted)
	}
	for i := 5; i < 300; i++ {
		runExpect(t, d, fromSource(i), ReasonRateLimitedInstance)
	}
	// Rejected new sources never got a bucket: a spoofed flood does not
	// churn the source table faster than the aggregate admits.
	if n := sourceBuckets(t, d, k); n != 5 {
		t.Errorf("%d per-source buckets after the flood, want 5", n)
	}
	// A known source with tokens left is still bound by the aggregate.
	runExpect(t, d, fromSource(0), ReasonRateLimitedInstance)
	c, err := d.probeCounters(IfaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c[ReasonAccepted] != 5 || c[ReasonRateLimitedInstance] != 296 {
		t.Errorf("counters accepted=%d rate_limited_instance=%d, want 5 and 296", c[ReasonAccepted], c[ReasonRateLimitedInstance])
	}
}

func TestRateLimitRefillAfterTimePasses(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 2, InstancePerSec: 2, InstanceBurst: 3}})
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	runExpect(t, d, fromSource(1), ReasonAccepted)
	runExpect(t, d, fromSource(2), ReasonRateLimitedInstance)

	// One second later the source has one token back (rate 1/s), the
	// instance two (rate 2/s, capped by its burst of 3).
	rewind(t, d, k, time.Second+50*time.Millisecond)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	runExpect(t, d, fromSource(1), ReasonAccepted)
	runExpect(t, d, fromSource(2), ReasonRateLimitedInstance)

	// A long pause refills to the burst, not beyond (10 s: five times what
	// the instance's burst needs at its rate).
	rewind(t, d, k, 10*time.Second)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	runExpect(t, d, fromSource(1), ReasonAccepted)
	runExpect(t, d, fromSource(2), ReasonRateLimitedInstance)
}

// TestRateLimitRefillRealClock checks that the program reads the kernel's
// clock: an empty bucket admits again once real time has passed (polled
// with a generous deadline, not a fixed sleep).
func TestRateLimitRefillRealClock(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 50, SourceBurst: 1, InstancePerSec: 1000, InstanceBurst: 1000}})
	runExpect(t, d, fromSource(0), ReasonAccepted)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := d.RunFrame(fromSource(0), loIndex)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reason == ReasonAccepted {
			return
		}
		if res.Reason != ReasonRateLimitedSource {
			t.Fatalf("reason %v, want accepted or rate_limited_source", res.Reason)
		}
		if time.Now().After(deadline) {
			t.Fatal("bucket at 50/s did not refill within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSetInstanceResetsAggregateBucket(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	r := Rates{SourcePerSec: 1, SourceBurst: 10, InstancePerSec: 1, InstanceBurst: 1}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: r})
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonRateLimitedInstance)
	r.InstanceBurst = 2
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: r})
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonRateLimitedInstance)
}

func TestDefaultRates(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval time.Duration
		want     Rates
	}{
		{"OneSecond", time.Second, Rates{2, 8, 1, 16}},
		{"ThreeSeconds", 3 * time.Second, Rates{1, 8, 1, 16}},
		{"HundredMillis", 100 * time.Millisecond, Rates{13, 8, 3, 16}},
		{"TenMillis", 10 * time.Millisecond, Rates{125, 8, 25, 16}},
		{"BelowCentisecondClamped", time.Millisecond, Rates{125, 8, 25, 16}},
		{"ZeroClamped", 0, Rates{125, 8, 25, 16}},
		{"LongInterval", 40 * time.Second, Rates{1, 8, 1, 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := DefaultRates(c.interval); got != c.want {
				t.Errorf("DefaultRates(%v) = %+v, want %+v", c.interval, got, c.want)
			}
		})
	}
}

// TestRateLimitMasterBypassesTheAggregate: a flood of other sources empties
// the instance's aggregate bucket, yet adverts from the master the daemon
// follows (and spoofed copies of them) are still accepted, within their own
// source bucket, which lives in the policy: they never touch the LRU.
func TestRateLimitMasterBypassesTheAggregate(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	master := advertFrom(0)
	pol := InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 3, InstancePerSec: 1, InstanceBurst: 2}}
	mustSet(t, d, k, pol)
	runExpect(t, d, fromSource(1), ReasonAccepted)
	runExpect(t, d, fromSource(2), ReasonAccepted)
	runExpect(t, d, fromSource(3), ReasonRateLimitedInstance)
	// Without a master programmed, source 0 is starved by the flood.
	runExpect(t, d, master.frame(), ReasonRateLimitedInstance)

	pol.Master = master.src
	mustSet(t, d, k, pol) // the aggregate restarts full: spend it again
	runExpect(t, d, fromSource(4), ReasonAccepted)
	runExpect(t, d, fromSource(5), ReasonAccepted)
	runExpect(t, d, fromSource(6), ReasonRateLimitedInstance)
	for range 3 {
		runExpect(t, d, master.frame(), ReasonAccepted)
	}
	// Its own bucket still bounds it.
	runExpect(t, d, master.frame(), ReasonRateLimitedSource)
	runExpect(t, d, fromSource(7), ReasonRateLimitedInstance)
	if hasSourceBucket(t, d, k, master.src) {
		t.Error("the followed master's adverts made an entry in the source table; their bucket is the policy's")
	}
	if n := sourceBuckets(t, d, k); n != 4 {
		t.Errorf("the source table holds %d buckets of the instance, want 4 (sources 1, 2, 4, 5)", n)
	}
	// Time refills the master's bucket like any other.
	rewind(t, d, k, 3*time.Second)
	for range 3 {
		runExpect(t, d, master.frame(), ReasonAccepted)
	}
	runExpect(t, d, master.frame(), ReasonRateLimitedSource)
}

func hasSourceBucket(t *testing.T, dp *Dataplane, k InstanceKey, src netip.Addr) bool {
	t.Helper()
	var want [16]uint8
	putAddr(&want, src)
	for _, e := range sourceRow(t, dp, k).E {
		if e.Bucket.LastNs != 0 && e.Src == want {
			return true
		}
	}
	return false
}

// policyIndex is the table entries of instance k.
func (d *Dataplane) policyIndex(k InstanceKey) (tableEntry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.policyIndexUnlocked(k)
}

func (d *Dataplane) policyIndexUnlocked(k InstanceKey) (tableEntry, bool) {
	e, ok := d.tab.inst[k]
	return e, ok
}

// sourceSet is the set of the per-instance source table that src hashes to:
// the program's hash (admit in xvrrp.bpf.c), kept in step by the tests that
// use it.
func sourceSet(src netip.Addr) uint32 {
	var a [16]byte
	putAddr(&a, src)
	w := func(i int) uint32 { return binary.NativeEndian.Uint32(a[i*4:]) }
	return ((w(0) ^ w(1) ^ w(2) ^ w(3)) * 2654435761) >> 29
}

// TestRateLimitSourceTableReplacesTheLeastRecentlyUsed: a new source
// takes the way of its set that was used least recently, so a peer that
// keeps advertising keeps its bucket while spoofed sources come and go.
func TestRateLimitSourceTableReplacesTheLeastRecentlyUsed(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 3, InstancePerSec: 1000, InstanceBurst: 1000}})
	// Three sources of one set.
	var same []advert
	set := sourceSet(advertFrom(0).src)
	for i := 0; len(same) < 3; i++ {
		if a := advertFrom(i); sourceSet(a.src) == set {
			same = append(same, a)
		}
	}
	old, fresh, stranger := same[0], same[1], same[2]
	runExpect(t, d, old.frame(), ReasonAccepted)
	rewind(t, d, k, time.Second)
	runExpect(t, d, fresh.frame(), ReasonAccepted)
	runExpect(t, d, stranger.frame(), ReasonAccepted)
	if hasSourceBucket(t, d, k, old.src) || !hasSourceBucket(t, d, k, fresh.src) || !hasSourceBucket(t, d, k, stranger.src) {
		t.Errorf("after the third source of a set: buckets of the least recently used %v, the recent %v, the new %v; want false, true, true",
			hasSourceBucket(t, d, k, old.src), hasSourceBucket(t, d, k, fresh.src), hasSourceBucket(t, d, k, stranger.src))
	}
}

// TestRateLimitSpoofedFloodBoundedBySourceTable: any number of sources
// takes no more than the instance's source table.
func TestRateLimitSpoofedFloodBoundedBySourceTable(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: wideOpen})
	for i := range 300 {
		runExpect(t, d, fromSource(i), ReasonAccepted)
	}
	if n, max := sourceBuckets(t, d, k), len(bpf.XvrrpXvrrpSources{}.E); n != max {
		t.Errorf("%d source buckets after 300 sources, want the table's %d", n, max)
	}
	// The last source is among them: it was entered last.
	if !hasSourceBucket(t, d, k, advertFrom(299).src) {
		t.Error("the latest source has no bucket")
	}
}

// TestSetInstanceKeepsSourceBuckets: reprogramming an instance (a new
// master, new rates) restarts its aggregate but not the buckets of the
// sources it heard, so a flooding source cannot regain its burst whenever
// the daemon updates the policy.
func TestSetInstanceKeepsSourceBuckets(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	pol := InstancePolicy{Version: 3, Rates: Rates{SourcePerSec: 1, SourceBurst: 2, InstancePerSec: 1000, InstanceBurst: 1000}}
	mustSet(t, d, k, pol)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonAccepted)
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	pol.Master = advertFrom(1).src
	mustSet(t, d, k, pol)
	runExpect(t, d, fromSource(0), ReasonRateLimitedSource)
	// A deleted instance's table is emptied for the next one.
	if err := d.DeleteInstance(k); err != nil {
		t.Fatal(err)
	}
	if res, err := d.RunFrame(fromSource(0), loIndex); err != nil || res.Reason != ReasonUnknownVRID {
		t.Fatalf("after DeleteInstance: %v (%v), want unknown VRID", res.Reason, err)
	}
	mustSet(t, d, k, pol)
	runExpect(t, d, fromSource(0), ReasonAccepted)
}

// TestInterfaceSlotTakenBackWhenNoneIsFree: an interface with neither
// instances nor a program copy gives its slot to the next interface when
// every slot is in use; one with instances keeps it.
func TestInterfaceSlotTakenBackWhenNoneIsFree(t *testing.T) {
	d := openTest(t)
	mustSet(t, d, InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})
	d.mu.Lock()
	defer d.mu.Unlock()
	idle, err := d.ifslotLocked(1_000_001)
	if err != nil {
		t.Fatal(err)
	}
	lo := d.tab.ifslots[loIndex]
	d.tab.freeSlots = nil
	got, err := d.ifslotLocked(1_000_002)
	if err != nil || got != idle {
		t.Fatalf("slot %d (%v), want the idle interface's %d", got, err, idle)
	}
	var s uint32
	if err := d.shared.ifslots.Lookup(uint32(1_000_001), &s); err == nil {
		t.Errorf("ifslots still lists the idle interface (slot %d)", s)
	}
	// With an instance, the interface keeps its slot.
	k := InstanceKey{1_000_002, 10, IPv4}
	p := InstancePolicy{Version: 3, Rates: wideOpen}
	key, _ := k.bpf()
	val, err := p.bpf(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.setInstanceLocked(k, key, val); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ifslotLocked(1_000_003); !errors.Is(err, errTableFull) {
		t.Errorf("with no idle interface left: %v, want the table full", err)
	}
	if d.tab.ifslots[loIndex] != lo {
		t.Errorf("the loopback, which has an instance, lost its slot %d", lo)
	}
}
