//go:build linux

package loader

import (
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
	ik, err := k.bpf()
	if err != nil {
		t.Fatal(err)
	}
	var pol bpf.XvrrpXvrrpPolicy
	if err := dp.shared.instances.Lookup(&ik, &pol); err != nil {
		t.Fatal(err)
	}
	pol.Aggregate.LastNs = before(t, pol.Aggregate.LastNs, d)
	pol.MasterBucket.LastNs = before(t, pol.MasterBucket.LastNs, d)
	if err := dp.shared.instances.Put(&ik, &pol); err != nil {
		t.Fatal(err)
	}
	var b bpf.XvrrpXvrrpBucket
	var rk bpf.XvrrpXvrrpRateKey
	it := dp.shared.rateSrc.Iterate()
	var keys []bpf.XvrrpXvrrpRateKey
	for it.Next(&rk, &b) {
		if rk.Instance == ik {
			keys = append(keys, rk)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	for _, rk := range keys {
		if err := dp.shared.rateSrc.Lookup(&rk, &b); err != nil {
			t.Fatal(err)
		}
		b.LastNs = before(t, b.LastNs, d)
		if err := dp.shared.rateSrc.Put(&rk, &b); err != nil {
			t.Fatal(err)
		}
	}
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

func sourceBuckets(t *testing.T, dp *Dataplane, k InstanceKey) int {
	t.Helper()
	ik, _ := k.bpf()
	var rk bpf.XvrrpXvrrpRateKey
	var b bpf.XvrrpXvrrpBucket
	n := 0
	it := dp.shared.rateSrc.Iterate()
	for it.Next(&rk, &b) {
		if rk.Instance == ik {
			n++
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
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
	// churn the LRU faster than the aggregate admits.
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
		t.Error("the followed master's adverts made an entry in rate_src; their bucket is the policy's")
	}
	if n := sourceBuckets(t, d, k); n != 4 {
		t.Errorf("rate_src holds %d buckets of the instance, want 4 (sources 1, 2, 4, 5)", n)
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
	ik, _ := k.bpf()
	rk := bpf.XvrrpXvrrpRateKey{Instance: ik}
	putAddr(&rk.Src, src)
	var b bpf.XvrrpXvrrpBucket
	return dp.shared.rateSrc.Lookup(&rk, &b) == nil
}
