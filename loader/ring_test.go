//go:build linux

package loader

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// Ring record sizes, as the kernel lays them out: an 8-byte record header
// (BPF_RINGBUF_HDR_SZ) before the reserved bytes, rounded up to 8. The
// program reserves fixed-size records: struct xvrrp_event_small (header and
// XVRRP_SMALL_PAYLOAD bytes) for VRRP packets up to that size, struct
// xvrrp_event_large (header and XVRRP_MAX_VRRP_LEN bytes) above.
const (
	ringHdrBytes = 8
	smallPayload = 64 // XVRRP_SMALL_PAYLOAD
)

func recordBytes(payload int) int { return (ringHdrBytes + eventHdrSize + payload + 7) &^ 7 }

// TestEventSizesMatchC: the sizes the tests (and the reader's buffer) assume
// are the C program's.
func TestEventSizesMatchC(t *testing.T) {
	src, err := os.ReadFile("../bpf/xvrrp.bpf.c")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"XVRRP_SMALL_PAYLOAD": smallPayload, "XVRRP_MAX_VRRP_LEN": maxVRRPLen} {
		m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)$`).FindSubmatch(src)
		if m == nil {
			t.Errorf("no #define %s in bpf/xvrrp.bpf.c", name)
			continue
		}
		if got, _ := strconv.Atoi(string(m[1])); got != want {
			t.Errorf("C %s = %d, Go assumes %d", name, got, want)
		}
	}
	if eventHdrSize != 56 {
		t.Errorf("event header is %d bytes; the record sizes below assume 56", eventHdrSize)
	}
	if recordBytes(smallPayload) != 128 || recordBytes(maxVRRPLen) != 1544 {
		t.Errorf("records of %d and %d bytes, want 128 and 1544", recordBytes(smallPayload), recordBytes(maxVRRPLen))
	}
}

// runNoRead runs frame through the program copy RunFrame (o nil) or
// RunFrameWith (*o) would use, but leaves the ring alone, so records pile
// up. It works while an EventReader is open.
func runNoRead(t testing.TB, d *Dataplane, frame []byte, o *IfaceOptions) (Verdict, Reason) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.testProgLocked(loIndex, o)
	if err != nil {
		t.Fatal(err)
	}
	v, r, err := runProg(p, frame, loIndex)
	if err != nil {
		t.Fatal(err)
	}
	return v, r
}

// largeAdvert is a valid advert whose VRRP packet (8 + 4×40 bytes) takes a
// large record.
func largeAdvert(i int) advert {
	a := advertFrom(i)
	for j := range 40 {
		a.addrs = append(a.addrs, netip.AddrFrom4([4]byte{198, 18, 200, byte(j)}))
	}
	return a
}

// TestRingFull fills a one-page ring (the smallest the kernel allows)
// without reading it. Reservations that do not fit count ring_full, keep
// the accepted advert's verdict (XDP_PASS by default, XDP_DROP with
// ConsumeAccepted) and produce no record; the reader then gets exactly the
// records that fit, in order, Lost reports the others, and once drained the
// ring takes records again.
func TestRingFull(t *testing.T) {
	page := os.Getpagesize()
	d := openTestRing(t, page)
	// Lost sums the counters of attached interfaces: attach a loopback (in
	// a namespace of its own, so that it is ifindex 1 like the host's,
	// which the test runs pretend to receive on) and run its program copy.
	ns := lab.NewNS(t, "rf")
	if err := ns.Do(func() error { _, err := d.Attach("lo", IfaceOptions{}); return err }); err != nil {
		t.Fatal(err)
	}
	mustSet(t, d, InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})

	small, large := recordBytes(smallPayload), recordBytes(maxVRRPLen)
	if l := len(largeAdvert(0).vrrp()); l <= smallPayload {
		t.Fatalf("large advert has %d VRRP bytes, not more than %d", l, smallPayload)
	}
	if l := len(advertFrom(0).vrrp()); l > smallPayload {
		t.Fatalf("small advert has %d VRRP bytes, more than %d", l, smallPayload)
	}
	// The kernel keeps the producer less than the ring size ahead of the
	// consumer: page-1 bytes are usable.
	fit := (page - 1) / small
	// After this many small records a large one no longer fits.
	smallBeforeLarge := (page-1-large)/small + 1
	if smallBeforeLarge >= fit {
		t.Fatalf("page of %d bytes: %d small records fit, a large one stops fitting after %d", page, fit, smallBeforeLarge)
	}
	const overflow = 5

	start := monotonicNow(t)
	var want []advert // the adverts that got a record, in order
	src := 0
	run := func(a advert, o *IfaceOptions, verdict Verdict, reason Reason) {
		t.Helper()
		v, r := runNoRead(t, d, a.frame(), o)
		if v != verdict || r != reason {
			t.Fatalf("advert %d (%d VRRP bytes, %d records in the ring): got %v/%v, want %v/%v",
				src, len(a.vrrp()), len(want), v, r, verdict, reason)
		}
		if reason == ReasonAccepted {
			want = append(want, a)
		}
		src++
	}
	for range smallBeforeLarge {
		run(advertFrom(src), nil, VerdictPass, ReasonAccepted)
	}
	// A large record does not fit any more; a small one still does.
	run(largeAdvert(src), nil, VerdictPass, ReasonRingFull)
	for len(want) < fit {
		run(advertFrom(src), nil, VerdictPass, ReasonAccepted)
	}
	for range overflow {
		run(advertFrom(src), nil, VerdictPass, ReasonRingFull)
	}
	run(largeAdvert(src), nil, VerdictPass, ReasonRingFull)
	// A consuming interface drops the advert it could not record too.
	consume := IfaceOptions{ConsumeAccepted: true}
	run(advertFrom(src), &consume, VerdictDrop, ReasonRingFull)

	wantLost := uint64(overflow + 2)
	c, err := d.Counters("lo")
	if err != nil {
		t.Fatal(err)
	}
	var wantCounters Counters
	wantCounters[ReasonAccepted], wantCounters[ReasonRingFull] = uint64(fit), wantLost
	if c != wantCounters {
		t.Errorf("counters of lo = %v, want %v", c, wantCounters)
	}
	pc, err := d.probeCounters(consume)
	if err != nil {
		t.Fatal(err)
	}
	if pc[ReasonRingFull] != 1 {
		t.Errorf("ConsumeAccepted copy counted ring_full %d times, want 1", pc[ReasonRingFull])
	}

	rd, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if lost, err := rd.Lost(); err != nil || lost != wantLost {
		t.Errorf("Lost() = %d, %v; want %d", lost, err, wantLost)
	}
	// Everything is in the ring already; the deadline only bounds a bug.
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	var ev Event
	for i, a := range want {
		if err := rd.Read(&ev); err != nil {
			t.Fatalf("read event %d of %d: %v", i, len(want), err)
		}
		checkEvent(t, ev, a, [2]uint16{}, loIndex, start)
	}
	rd.SetDeadline(time.Now())
	if err := rd.Read(&ev); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the %d records that fit: %v (event %v→%v), want a deadline error", fit, err, ev.Src, ev.Dst)
	}

	// Drained, the ring records again, large records included, while the
	// reader is open.
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	for _, a := range []advert{largeAdvert(src), advertFrom(src + 1)} {
		before := monotonicNow(t)
		if v, r := runNoRead(t, d, a.frame(), nil); v != VerdictPass || r != ReasonAccepted {
			t.Fatalf("after draining: got %v/%v, want %v/%v", v, r, VerdictPass, ReasonAccepted)
		}
		if err := rd.Read(&ev); err != nil {
			t.Fatalf("read after draining: %v", err)
		}
		checkEvent(t, ev, a, [2]uint16{}, loIndex, before)
	}
	if lost, err := rd.Lost(); err != nil || lost != wantLost {
		t.Errorf("Lost() after draining = %d, %v; want %d still", lost, err, wantLost)
	}
}

// TestEventReaderReadDoesNotAllocate: once the reader is open, reading an
// event into a reused Event allocates nothing, whatever the record size
// (the first large record included).
func TestEventReaderReadDoesNotAllocate(t *testing.T) {
	d := openTestRing(t, 1<<18)
	mustSet(t, d, InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})
	// testing.AllocsPerRun(1, f) calls f twice, a warm-up and the measured
	// call, so each measurement reads two events. Sizes go small, large,
	// large, small, …: measured reads alternate large and small, and the
	// first measured read is the first large record.
	const measured = 40
	n := 2 * measured
	wantSrc := make([]netip.Addr, n)
	wantPayload := make([][]byte, n)
	for i := range n {
		a := advertFrom(i)
		if i%4 == 1 || i%4 == 2 {
			a = largeAdvert(i)
		}
		wantSrc[i], wantPayload[i] = a.src, a.vrrp()
		if v, r := runNoRead(t, d, a.frame(), nil); v != VerdictPass || r != ReasonAccepted {
			t.Fatalf("advert %d: got %v/%v, want %v/%v", i, v, r, VerdictPass, ReasonAccepted)
		}
	}

	rd, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	var ev Event
	var readErr error
	next, mismatches := 0, 0
	read := func() {
		if readErr != nil {
			return
		}
		if readErr = rd.Read(&ev); readErr != nil {
			return
		}
		if ev.Src != wantSrc[next] || !bytes.Equal(ev.Payload, wantPayload[next]) {
			mismatches++
		}
		next++
	}
	for i := range measured {
		if allocs := testing.AllocsPerRun(1, read); allocs != 0 {
			t.Errorf("read of event %d (%d VRRP bytes) made %v allocations, want 0", next-1, len(wantPayload[next-1]), allocs)
		}
		if readErr != nil {
			t.Fatalf("measurement %d, event %d: %v", i, next, readErr)
		}
	}
	if next != n || mismatches != 0 {
		t.Errorf("read %d events, %d not the advert sent; want %d, all matching", next, mismatches, n)
	}
}

// TestEventReaderPollingSuppressesWakeups: with SetPolling(true) the program
// submits records without waking the reader (BPF_RB_NO_WAKEUP), so a Read
// blocked on an empty ring sleeps to its deadline and then returns the
// record; with polling off the same record wakes it at once. Events opens
// with polling off even when a previous reader left it on.
func TestEventReaderPollingSuppressesWakeups(t *testing.T) {
	d := openTestRing(t, 1<<16)
	mustSet(t, d, InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})
	// A crashed reader's leftover: polling on in the pinned map.
	if err := setReaderPolls(d.shared.ringCtl, true); err != nil {
		t.Fatal(err)
	}
	rd, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	// readOne blocks in Read with the given deadline while one advert is
	// submitted, and says how long Read took.
	readOne := func(deadline time.Duration) time.Duration {
		t.Helper()
		type result struct {
			err error
			ev  Event
		}
		done := make(chan result, 1)
		start := time.Now()
		rd.SetDeadline(start.Add(deadline))
		go func() {
			var r result
			r.err = rd.Read(&r.ev)
			done <- r
		}()
		// Let Read reach its wait on the empty ring first.
		time.Sleep(20 * time.Millisecond)
		if v, r := runNoRead(t, d, advertFrom(1).frame(), nil); v != VerdictPass || r != ReasonAccepted {
			t.Fatalf("got %v/%v, want accepted", v, r)
		}
		r := <-done
		took := time.Since(start)
		if r.err != nil {
			t.Fatalf("Read: %v (after %v)", r.err, took)
		}
		if r.ev.Src != advertFrom(1).src {
			t.Fatalf("Read returned an advert from %v, want %v", r.ev.Src, advertFrom(1).src)
		}
		return took
	}

	const long = 5 * time.Second
	if took := readOne(long); took >= long {
		t.Errorf("polling off (as Events leaves it): Read took %v, the full deadline: the record did not wake it", took)
	}
	if err := rd.SetPolling(true); err != nil {
		t.Fatal(err)
	}
	// epoll counts whole milliseconds: a Read the record did not wake
	// returns at about the deadline, one it woke right after the 20 ms.
	const short = 300 * time.Millisecond
	if took := readOne(short); took < short/2 {
		t.Errorf("polling on: Read returned after %v, long before its %v deadline: the record woke it", took, short)
	}
	// The deadline that passed (still set) is reported once the ring is
	// drained.
	var ev Event
	if err := rd.Read(&ev); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after the timed-out one: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := rd.SetPolling(false); err != nil {
		t.Fatal(err)
	}
	if took := readOne(long); took >= long {
		t.Errorf("polling off again: Read took %v, the full deadline", took)
	}
}

// TestEventReaderWaitsInThePoller: a Read on an empty ring waits in Go's
// network poller ("IO wait"), not in a blocking system call: a thread that
// keeps entering long system calls keeps the runtime's sysmon waking every
// 20 µs to take its P back, which was a third of an idle backup's CPU. The
// record that arrives ends the wait; Close ends a wait with os.ErrClosed.
func TestEventReaderWaitsInThePoller(t *testing.T) {
	d := openTestRing(t, 1<<16)
	mustSet(t, d, InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})
	rd, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rd.SetDeadline(time.Now().Add(10 * time.Second))

	waitState := func(done <-chan error) string {
		t.Helper()
		buf := make([]byte, 1<<20)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("Read returned before anything was sent: %v", err)
			default:
			}
			n := runtime.Stack(buf, true)
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if !strings.Contains(g, "loader.(*EventReader).Read(") {
					continue
				}
				head, _, _ := strings.Cut(g, "\n")
				// "goroutine 7 [IO wait]:" or "[syscall]"; "[running]"
				// and "[runnable]" are on the way there.
				if st := head[strings.Index(head, "[")+1 : strings.Index(head, "]")]; st != "running" && st != "runnable" {
					return st
				}
			}
		}
		t.Fatal("no goroutine waiting in EventReader.Read after 5 s")
		return ""
	}

	var ev Event
	done := make(chan error, 1)
	go func() { done <- rd.Read(&ev) }()
	if st := waitState(done); !strings.HasPrefix(st, "IO wait") {
		t.Errorf("Read on an empty ring waits in state %q, want \"IO wait\" (Go's poller)", st)
	}
	if v, r := runNoRead(t, d, advertFrom(1).frame(), nil); v != VerdictPass || r != ReasonAccepted {
		t.Fatalf("got %v/%v, want accepted", v, r)
	}
	if err := <-done; err != nil || ev.Src != advertFrom(1).src {
		t.Fatalf("Read woken by a record: %v, advert from %v; want nil and %v", err, ev.Src, advertFrom(1).src)
	}

	go func() { done <- rd.Read(&ev) }()
	waitState(done)
	if err := rd.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read ended by Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Read within 5 s")
	}
	if rd.Pending() {
		t.Error("Pending() after Close = true")
	}
}
