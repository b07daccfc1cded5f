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

// TestXDPRepeatFloodKeepsTheTicksStamp: the followed master repeats once an
// interval, a flood of copies of its advert thousands of times a tick. A
// repeat that comes while the recorded stamp is at most a tick older than
// the program's tick clock keeps that stamp and is only counted, so a flood
// pays for the precise clock about once a tick; a repeat more than 2 ticks
// after the stamp is stamped again; and a master whose interval is not over
// 4 ticks (on-time window 1.5 intervals, not over 6 ticks) has every repeat
// stamped, however close together they come.
func TestXDPRepeatFloodKeepsTheTicksStamp(t *testing.T) {
	d := openTest(t)
	h, err := d.Heard()
	if err != nil {
		t.Fatal(err)
	}
	// The tick the loader calibrated the program's clock with.
	tick, err := coarseTick()
	if err != nil {
		t.Fatal(err)
	}
	probe, err := loadClockProbe(d.spec)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	jiffies := func() uint64 {
		j, _, err := readClocks(probe)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	master := v3adv4()
	hdr := [8]byte(master.vrrp()[:8])
	k := InstanceKey{loIndex, master.vrid, IPv4}
	const keepOver = 6                 // ticks of on-time window; the program's XVRRP_KEEP_STAMP_TICKS
	atOneSecond := 3 * time.Second / 2 // the window of a master at 1 s adverts

	// twoRepeats records two repeats back to back in a fresh slot of a
	// master with window onTime, and returns the slot and the two stamps.
	// The first, on a slot never stamped, is stamped precisely. Two
	// repeats that straddle a tick prove nothing about one tick: those are
	// tried again.
	slot := uint32(100)
	twoRepeats := func(onTime time.Duration) (uint32, time.Duration, time.Duration) {
		t.Helper()
		for range 50 {
			slot++
			mustSet(t, d, k, InstancePolicy{Version: 3, Master: master.src, Slot: slot, Rates: wideOpen})
			h.Expect(slot, hdr, onTime)
			j := jiffies()
			before := monotonicNow(t)
			runReason(t, d, master.frame(), ReasonMasterRepeat)
			first, n1 := h.Heard(slot)
			runReason(t, d, master.frame(), ReasonMasterRepeat)
			next, n2 := h.Heard(slot)
			after := monotonicNow(t)
			if n1 != 1 || n2 != 2 {
				t.Fatalf("window %v: counts %d then %d, want 1 then 2", onTime, n1, n2)
			}
			if first < before || first > after {
				t.Fatalf("window %v: first repeat stamped %v, want within [%v, %v]", onTime, first, before, after)
			}
			if jiffies() == j {
				return slot, first, next
			}
		}
		t.Fatal("no two repeats within one tick in 50 tries")
		return 0, 0, 0
	}

	// A master at 1 s adverts, and one just over the bound: the second
	// repeat in the tick keeps the first's stamp.
	for _, onTime := range []time.Duration{atOneSecond, keepOver*tick + 1} {
		if _, first, next := twoRepeats(onTime); next != first {
			t.Errorf("window %v: second repeat in the tick stamped %v, want the first's %v", onTime, next, first)
		}
	}

	// More than 2 ticks later the stamp is renewed.
	s, first, _ := twoRepeats(atOneSecond)
	time.Sleep(3 * tick) // 2 ticks and one for the timer interrupt's lateness
	before := monotonicNow(t)
	runReason(t, d, master.frame(), ReasonMasterRepeat)
	if last, n := h.Heard(s); n != 3 || last <= first || last < before || last > monotonicNow(t) {
		t.Fatalf("repeat %v after a stamp at %v: stamped %v (count %d), want a new stamp after %v, count 3", 3*tick, first, last, n, before)
	}

	// A flood over several ticks: every copy counted, at most one stamp per
	// tick it spans, and the stamp never more than 2 ticks (and one for the
	// timer interrupt) older than the copy.
	stamps := map[time.Duration]bool{}
	j0 := jiffies()
	n0 := uint64(3)
	sent := 0
	for end := monotonicNow(t) + 5*tick; ; sent++ {
		before := monotonicNow(t)
		if before > end {
			break
		}
		runReason(t, d, master.frame(), ReasonMasterRepeat)
		last, _ := h.Heard(s)
		if before-last >= 3*tick {
			t.Fatalf("copy at %v kept a stamp of %v: %v old, want under 2 ticks (%v) and the interrupt's lateness", before, last, before-last, 2*tick)
		}
		stamps[last] = true
	}
	spanned := jiffies() - j0 + 1
	if _, n := h.Heard(s); n != n0+uint64(sent) {
		t.Errorf("count %d after %d copies, want %d", n, sent, n0+uint64(sent))
	}
	if uint64(len(stamps)) > spanned {
		t.Errorf("%d copies over %d ticks stamped %d times, want at most once a tick", sent, spanned, len(stamps))
	}
	t.Logf("%d copies over %d ticks: %d stamps", sent, spanned, len(stamps))

	// A master at the bound or at a shorter interval: every repeat is
	// stamped, the second in the same tick too.
	for _, onTime := range []time.Duration{keepOver * tick, 0} {
		if _, first, next := twoRepeats(onTime); next <= first {
			t.Errorf("window %v: second repeat in the tick stamped %v, want after the first's %v", onTime, next, first)
		}
	}
}
