//go:build linux

package loader

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// run runs frame and checks the reason; repeats and accepted adverts pass
// (the default interface options), everything else is dropped.
func runReason(t *testing.T, d *Dataplane, frame []byte, want Reason) Result {
	t.Helper()
	res, err := d.RunFrame(frame, loIndex)
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict := VerdictDrop
	if want == ReasonAccepted || want == ReasonMasterRepeat {
		wantVerdict = VerdictPass
	}
	if res.Reason != want || res.Verdict != wantVerdict || res.HasEvent != (want == ReasonAccepted) {
		t.Fatalf("got %v/%v event %v, want %v/%v", res.Verdict, res.Reason, res.HasEvent, wantVerdict, want)
	}
	return res
}

// TestXDPRecordsTheFollowedMastersRepeats (RFC 5798 §6.4.2: a backup only
// restarts its Master_Down_Timer on its master's advert): once the daemon
// expects a repeat of its master's advert, the program records each one in
// the heard table (time, count) instead of queuing it, ahead of the rate
// limits; anything else still goes through the ring.
func TestXDPRecordsTheFollowedMastersRepeats(t *testing.T) {
	d := openTest(t)
	h, err := d.Heard()
	if err != nil {
		t.Fatal(err)
	}
	if h2, _ := d.Heard(); h2 != h {
		t.Fatal("Heard mapped the table twice")
	}
	const slot = 7
	master := v3adv4()
	k := InstanceKey{loIndex, master.vrid, IPv4}
	// A master bucket of one advert: repeats must not need it.
	mustSet(t, d, k, InstancePolicy{Version: 3, Master: master.src, Slot: slot,
		Rates: Rates{SourcePerSec: 1, SourceBurst: 1, InstancePerSec: 1, InstanceBurst: 1}})

	// Expecting nothing, the master's advert is queued as always.
	runReason(t, d, master.frame(), ReasonAccepted)
	if last, n := h.Heard(slot); last != 0 || n != 0 {
		t.Fatalf("heard %v/%d before any repeat was expected", last, n)
	}

	h.Expect(slot, [8]byte(master.vrrp()[:8]), 0)
	before := monotonicNow(t)
	for range 5 {
		runReason(t, d, master.frame(), ReasonMasterRepeat)
	}
	// Repeats time the backup's failover: stamped with the precise clock.
	last, n := h.Heard(slot)
	if n != 5 || last < before || last > monotonicNow(t) {
		t.Fatalf("heard count %d at %v, want 5 within [%v, now]", n, last, before)
	}
	if l, n := h.Heard(slot + 1); l != 0 || n != 0 {
		t.Fatalf("another slot recorded %v/%d", l, n)
	}

	// What the master changes is not a repeat: a new priority, priority 0
	// (its bucket is spent, so these are rate limited, not recorded).
	runReason(t, d, with(master, func(a *advert) { a.prio = 150 }).frame(), ReasonRateLimitedSource)
	runReason(t, d, with(master, func(a *advert) { a.prio = 0 }).frame(), ReasonRateLimitedSource)
	// The same header bytes over other addresses fail the checksum first.
	other := with(master, func(a *advert) { a.addrs = []netip.Addr{netip.MustParseAddr("198.18.0.200")} })
	forged := other.frame()
	copy(forged[len(forged)-len(other.vrrp()):], master.vrrp()[:8])
	runReason(t, d, forged, ReasonBadChecksum)
	if _, n := h.Heard(slot); n != 5 {
		t.Fatalf("heard count %d after adverts that are not repeats, want 5", n)
	}

	// A copy from another source is not the master's (v2: no pseudo-header,
	// so the header bytes are identical).
	v2 := v2adv4()
	k2 := InstanceKey{loIndex, v2.vrid, IPv4}
	mustSet(t, d, k2, InstancePolicy{Version: 2, Master: v2.src, Slot: slot + 1, Rates: wideOpen})
	h.Expect(slot+1, [8]byte(v2.vrrp()[:8]), 0)
	runReason(t, d, v2.frame(), ReasonMasterRepeat)
	stranger := with(v2, func(a *advert) { a.src = netip.MustParseAddr("198.18.0.3") })
	if string(stranger.vrrp()[:8]) != string(v2.vrrp()[:8]) {
		t.Fatal("test setup: v2 header bytes differ between sources")
	}
	runReason(t, d, stranger.frame(), ReasonAccepted)

	// Expecting nothing again, everything goes through the ring.
	h.Expect(slot, [8]byte{}, 0)
	mustSet(t, d, k, InstancePolicy{Version: 3, Master: master.src, Slot: slot, Rates: wideOpen})
	runReason(t, d, master.frame(), ReasonAccepted)
	if _, n := h.Heard(slot); n != 5 {
		t.Fatalf("heard count %d after the expectation was withdrawn, want 5", n)
	}

	c, err := d.probeCounters(IfaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c[ReasonMasterRepeat] != 6 {
		t.Errorf("master_repeat counter %d, want 6", c[ReasonMasterRepeat])
	}
}

func TestSetInstanceRejectsSlotOutsideTheHeardTable(t *testing.T) {
	d := openTest(t)
	err := d.SetInstance(InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen, Slot: MaxSlots})
	if err == nil || !strings.Contains(err.Error(), "heard slot") {
		t.Fatalf("SetInstance with slot %d = %v, want a heard slot error", MaxSlots, err)
	}
}

// TestHeardAfterCloseIsInert: the daemon's timers may still look after the
// dataplane closed; that must not touch unmapped memory.
func TestHeardAfterCloseIsInert(t *testing.T) {
	d := openTest(t)
	h, err := d.Heard()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	h.Expect(1, [8]byte{0x31}, time.Second)
	if last, n := h.Heard(1); last != 0 || n != 0 {
		t.Fatalf("Heard after Close = %v/%d", last, n)
	}
	if _, err := d.Heard(); err == nil {
		t.Fatal("Heard on a closed dataplane succeeded")
	}
}

// TestXDPDropsStrangersWhileTheMasterIsOnTime: while the followed master's
// latest repeat is younger than the on-time window, other sources' adverts
// are dropped (RFC 5798 §6.4.2: they would change nothing a backup does);
// once it is older, they pass to the rate limits again; without an
// expectation the window means nothing.
func TestXDPDropsStrangersWhileTheMasterIsOnTime(t *testing.T) {
	d := openTest(t)
	h, err := d.Heard()
	if err != nil {
		t.Fatal(err)
	}
	const slot = 3
	master := advertFrom(0)
	k := InstanceKey{loIndex, master.vrid, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Master: master.src, Slot: slot, Rates: wideOpen})
	// A window longer than any uptime: "no repeat yet" must not read as a
	// repeat at boot time, which would be on time on every machine.
	const longerThanUptime = time.Duration(1 << 62)
	h.Expect(slot, [8]byte(master.vrrp()[:8]), longerThanUptime)
	// No repeat yet: the window starts at the first one.
	runReason(t, d, fromSource(1), ReasonAccepted)
	runReason(t, d, master.frame(), ReasonMasterRepeat)
	runReason(t, d, fromSource(2), ReasonMasterOnTime)
	runReason(t, d, with(advertFrom(3), func(a *advert) { a.prio = 255 }).frame(), ReasonMasterOnTime)
	runReason(t, d, with(advertFrom(4), func(a *advert) { a.prio = 0 }).frame(), ReasonMasterOnTime)
	// Bad adverts are still what they are.
	runReason(t, d, with(advertFrom(5), func(a *advert) { a.csum = csumCorrupt }).frame(), ReasonBadChecksum)

	// The master missed its window: strangers pass again. The window
	// shrinks to nothing rather than the repeat moving back in time:
	// CLOCK_MONOTONIC starts at boot, and a machine up for less than the
	// window has no earlier time to move to. (Nothing, not a nanosecond:
	// the program's clock may not have ticked since the repeat.)
	h.Expect(slot, [8]byte(master.vrrp()[:8]), 0)
	runReason(t, d, fromSource(2), ReasonAccepted)
	h.Expect(slot, [8]byte(master.vrrp()[:8]), time.Hour)

	// A repeat restarts the window; withdrawing the expectation ends it.
	runReason(t, d, master.frame(), ReasonMasterRepeat)
	runReason(t, d, fromSource(6), ReasonMasterOnTime)
	h.Expect(slot, [8]byte{}, time.Hour)
	runReason(t, d, fromSource(6), ReasonAccepted)
}
