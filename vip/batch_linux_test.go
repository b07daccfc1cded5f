package vip

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestMmsghdrLayout(t *testing.T) {
	want := uintptr(64) // sizeof(struct mmsghdr) on 64-bit
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = 32
	}
	if got := unsafe.Sizeof(mmsghdr{}); got != want {
		t.Errorf("sizeof(mmsghdr) = %d, want %d", got, want)
	}
	if got := unsafe.Offsetof(mmsghdr{}.len); got != unsafe.Sizeof(unix.Msghdr{}) {
		t.Errorf("offsetof(mmsghdr.len) = %d, want sizeof(msghdr) %d", got, unsafe.Sizeof(unix.Msghdr{}))
	}
}

// batchPayloads returns n VRRP payloads from five instances (VRIDs 1-5)
// in turn, each with its sequence number in the checksum field, so that a
// frame on the wire says which advert it is.
func batchPayloads(n int) [][]byte {
	ps := make([][]byte, n)
	for i := range ps {
		p := append([]byte(nil), testVRRP...)
		p[1] = byte(1 + i%5)
		p[6], p[7] = byte(i>>8), byte(i)
		ps[i] = p
	}
	return ps
}

// bigReceiveBuffer lets c hold a whole batch unread.
func bigReceiveBuffer(t testing.TB, c *capture) {
	t.Helper()
	must(t, unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20))
}

// collect reads the next n VRRP frames to dst from c.
func (c *capture) collect(n int, dst netip.Addr) [][]byte {
	c.t.Helper()
	fs := make([][]byte, n)
	for i := range fs {
		fs[i] = c.next(fmt.Sprintf("advert %d of %d to %v", i+1, n, dst), func(f []byte) bool {
			return vrrpPayloadTo(f, dst) != nil
		})
	}
	return fs
}

// onOneCPU runs fn with the calling thread pinned to one CPU. A veth
// delivers each frame to the peer's backlog on the sending CPU; a sender
// migrating mid-batch while a backlog is deferred to ksoftirqd could see
// its frames captured out of order, which is not what these tests test.
func onOneCPU(t testing.TB, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, one unix.CPUSet
	must(t, unix.SchedGetaffinity(0, &all))
	for cpu := 0; cpu < len(all)*int(unsafe.Sizeof(all[0]))*8; cpu++ {
		if all.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	must(t, unix.SchedSetaffinity(0, &one))
	defer func() { must(t, unix.SchedSetaffinity(0, &all)) }()
	fn()
}

func noFailure(t testing.TB) func(int, netip.Addr, error) {
	return func(tag int, dst netip.Addr, err error) {
		t.Errorf("advert %d to %v not sent: %v", tag, dst, err)
	}
}

// primed is a Sender on a0 that neither refreshes nor retries neighbours
// during a test, with B's IPv4 address resolved without sending an advert.
func (p *pair) primed(t testing.TB) *Sender {
	t.Helper()
	s := p.newSender(t, SenderConfig{NeighbourRefresh: time.Hour, NeighbourRetry: time.Hour})
	s.PrimeNeighbour(p.bIP4)
	waitResolved(t, s, p.bIP4)
	return s
}

// waitResolved waits until s has peer's MAC cached.
func waitResolved(t testing.TB, s *Sender, peer netip.Addr) {
	t.Helper()
	waitFor(t, 5*time.Second, "unicast peer "+peer.String()+" resolved", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		e := s.neigh[peer]
		return e != nil && e.ok
	})
}

func TestQueueFlush(t *testing.T) {
	p := newPair(t)
	g4 := macOf(mustMAC(t, GroupIPv4))

	t.Run("QueueFlush_BatchIsWhatSendAdvertSends", func(t *testing.T) {
		const n = 150 // more than one sendmmsg
		for _, fam := range []struct {
			name    string
			group   netip.Addr
			src     netip.Addr
			unicast netip.Addr
		}{
			{name: "IPv4", group: GroupIPv4, src: p.aIP4, unicast: p.bIP4},
			{name: "IPv6", group: GroupIPv6, src: p.aLL},
		} {
			payloads := batchPayloads(n)
			// Every tenth IPv4 advert is to the unicast peer.
			dsts := make([]netip.Addr, n)
			for i := range dsts {
				dsts[i] = fam.group
				if fam.unicast.IsValid() && i%10 == 9 {
					dsts[i] = fam.unicast
				}
			}
			c := p.capture(t)
			bigReceiveBuffer(t, c)
			// The reference: the same adverts through SendAdvert on a fresh
			// Sender (the IPv4 identification starts at 1 on both).
			ref := p.primed(t)
			onOneCPU(t, func() {
				for i, pl := range payloads {
					must(t, ref.SendAdvert(dsts[i], fam.src, pl))
				}
			})
			want := make([][]byte, n)
			for i := range want {
				want[i] = c.next(fmt.Sprintf("%s SendAdvert %d", fam.name, i), func(f []byte) bool {
					return vrrpPayloadTo(f, dsts[i]) != nil
				})
			}
			s := p.primed(t)
			var sent int
			onOneCPU(t, func() {
				for i, pl := range payloads {
					must(t, s.QueueAdvert(dsts[i], fam.src, pl, i))
				}
				sent = s.Flush(noFailure(t))
			})
			if sent != n {
				t.Fatalf("%s: Flush sent %d of %d adverts", fam.name, sent, n)
			}
			for i := range n {
				got := c.next(fmt.Sprintf("%s queued advert %d", fam.name, i), func(f []byte) bool {
					return vrrpPayloadTo(f, dsts[i]) != nil
				})
				if !bytes.Equal(got, want[i]) {
					t.Fatalf("%s: advert %d on the wire\n%x\nwant what SendAdvert sent\n%x", fam.name, i, got, want[i])
				}
			}
			// The reference itself is a correct advert.
			if fam.group.Is4() {
				checkIPv4Advert(t, want[0], g4, p.aMAC, p.aIP4, GroupIPv4, 1, payloads[0])
				checkIPv4Advert(t, want[9], p.bMAC, p.aMAC, p.aIP4, p.bIP4, 10, payloads[9])
				checkIPv4Advert(t, want[n-2], g4, p.aMAC, p.aIP4, GroupIPv4, n-1, payloads[n-2])
			} else {
				checkIPv6Advert(t, want[n-1], macOf(mustMAC(t, GroupIPv6)), p.aMAC, p.aLL, GroupIPv6, payloads[n-1])
			}
		}
	})
	t.Run("QueueFlush_EmptySendsNothing", func(t *testing.T) {
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		if n := s.Flush(noFailure(t)); n != 0 {
			t.Fatalf("Flush of nothing sent %d", n)
		}
		must(t, s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, 1))
		must(t, s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, 2))
		if n := s.Flush(noFailure(t)); n != 2 {
			t.Fatalf("Flush sent %d of 2", n)
		}
		// The batch was emptied: flushing again sends nothing.
		if n := s.Flush(noFailure(t)); n != 0 {
			t.Fatalf("second Flush sent %d, want 0", n)
		}
		// Nothing else went out: after the two, the next advert on the
		// wire is the marker with the next identification.
		must(t, s.SendAdvert(GroupIPv4, p.aIP4, testVRRP))
		for id := uint16(1); id <= 3; id++ {
			checkIPv4Advert(t, c.next(fmt.Sprintf("advert %d", id), isVRRP), g4, p.aMAC, p.aIP4, GroupIPv4, id, testVRRP)
		}
	})
	t.Run("QueueFlush_UnresolvedPeerQueuesNothing", func(t *testing.T) {
		s := p.newSender(t, SenderConfig{ResolveTimeout: 100 * time.Millisecond, NeighbourRetry: time.Hour})
		ghost := netip.MustParseAddr("198.18.0.77")
		start := time.Now()
		err := s.QueueAdvert(ghost, p.aIP4, testVRRP, 7)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("QueueAdvert to an unresolved peer took %v", d)
		}
		var ne *NeighbourError
		if !errors.Is(err, ErrNeighbourUnresolved) || !errors.As(err, &ne) || ne.Peer != ghost || ne.Interface != "a0" {
			t.Fatalf("QueueAdvert to an unresolved peer: %v, want a NeighbourError for %v on a0", err, ghost)
		}
		// The same value SendAdvert returns for the peer.
		if e := s.SendAdvert(ghost, p.aIP4, testVRRP); e != err {
			t.Errorf("SendAdvert to the peer: %v, want QueueAdvert's error value %v", e, err)
		}
		if n := s.Flush(noFailure(t)); n != 0 {
			t.Fatalf("Flush after a refused QueueAdvert sent %d, want 0", n)
		}
	})
	t.Run("QueueFlush_EncodeErrorQueuesNothing", func(t *testing.T) {
		s := p.newSender(t, SenderConfig{})
		if err := s.QueueAdvert(GroupIPv4, p.aIP4, make([]byte, maxVRRPPayload+1), 1); !errors.Is(err, ErrPayloadTooLarge) || !strings.Contains(err.Error(), "a0") {
			t.Errorf("oversized payload: %v, want ErrPayloadTooLarge naming a0", err)
		}
		if err := s.QueueAdvert(GroupIPv4, p.aLL, testVRRP, 2); err == nil || !strings.Contains(err.Error(), "both be IPv4 or both IPv6") {
			t.Errorf("IPv6 source to an IPv4 group: %v, want a family mismatch error", err)
		}
		if n := s.Flush(noFailure(t)); n != 0 {
			t.Fatalf("Flush after refused QueueAdverts sent %d, want 0", n)
		}
	})
	t.Run("QueueFlush_ConcurrentBatchesKeepQueueOrder", func(t *testing.T) {
		const workers, rounds, per = 4, 25, 4
		c := p.capture(t)
		bigReceiveBuffer(t, c)
		s := p.newSender(t, SenderConfig{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					for i := range per {
						if err := s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, w<<16|r<<8|i); err != nil {
							t.Error(err)
						}
					}
					n := s.Flush(noFailure(t))
					mu.Lock()
					total += n
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if total != workers*rounds*per {
			t.Fatalf("Flushes sent %d adverts, want %d", total, workers*rounds*per)
		}
		// Frames leave in the order they were queued, which is the order
		// of their identifications.
		for i, f := range c.collect(total, GroupIPv4) {
			checkIPv4Advert(t, f, g4, p.aMAC, p.aIP4, GroupIPv4, uint16(i+1), testVRRP)
		}
	})
	t.Run("QueueFlush_CloseDropsQueued", func(t *testing.T) {
		s := p.newSender(t, SenderConfig{})
		for i := range 3 {
			must(t, s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, i))
		}
		must(t, s.Close())
		if n := s.Flush(noFailure(t)); n != 0 {
			t.Fatalf("Flush after Close sent %d", n)
		}
		// Queued after Close, an advert fails in Flush as SendAdvert would.
		must(t, s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, 9))
		var errs []error
		if n := s.Flush(func(tag int, _ netip.Addr, err error) { errs = append(errs, err) }); n != 0 {
			t.Fatalf("Flush on a closed Sender sent %d", n)
		}
		want := s.SendAdvert(GroupIPv4, p.aIP4, testVRRP)
		if len(errs) != 1 || !errors.Is(errs[0], unix.EBADF) || want == nil || errs[0].Error() != want.Error() {
			t.Fatalf("Flush on a closed Sender reported %v, want [%v]", errs, want)
		}
	})
}

// TestFlushLinkDown: with the interface down between QueueAdvert and
// Flush, every advert is reported failed with its tag, and the next batch
// after the link is up goes out.
func TestFlushLinkDown(t *testing.T) {
	p := newPair(t) // its own pair: a0 down drops its IPv6 addresses
	s := p.primed(t)
	const n = 100
	dstOf := func(i int) netip.Addr {
		if i%10 == 0 {
			return p.bIP4
		}
		return GroupIPv4
	}
	for i := range n {
		must(t, s.QueueAdvert(dstOf(i), p.aIP4, testVRRP, 1000+i))
	}
	p.A.IP("link", "set", "a0", "down")
	var tags []int
	sent := s.Flush(func(tag int, dst netip.Addr, err error) {
		if len(tags) < 3 || !errors.Is(err, unix.ENETDOWN) {
			t.Logf("advert %d: %v", tag, err)
		}
		tags = append(tags, tag)
		if want := dstOf(tag - 1000); dst != want {
			t.Errorf("advert %d reported for %v, want %v", tag, dst, want)
		}
		if !errors.Is(err, unix.ENETDOWN) || !strings.Contains(err.Error(), "on a0") || !strings.Contains(err.Error(), dst.String()) {
			t.Errorf("advert %d: %v, want ENETDOWN naming %v and a0", tag, err, dst)
		}
	})
	if sent != 0 || len(tags) != n {
		t.Fatalf("Flush with a0 down: %d sent, %d reported failed, want 0 and %d", sent, len(tags), n)
	}
	for i, tag := range tags {
		if tag != 1000+i {
			t.Fatalf("failures reported with tags %v, want 1000…%d in order", tags, 1000+n-1)
		}
	}
	// As after a failed SendAdvert, the unicast peer's MAC is read again
	// on its next advert.
	s.mu.Lock()
	e := s.neigh[p.bIP4]
	again := e != nil && e.ok && e.checkAt.IsZero()
	s.mu.Unlock()
	if !again {
		t.Errorf("unicast peer's entry after the failed send: %+v, want its MAC due for a re-read", e)
	}

	p.A.IP("link", "set", "a0", "up")
	c := p.capture(t)
	bigReceiveBuffer(t, c)
	for i := range n {
		must(t, s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, i))
	}
	if sent := s.Flush(noFailure(t)); sent != n {
		t.Fatalf("Flush with a0 up again sent %d of %d", sent, n)
	}
	// The failed batch used identifications 1…n.
	g4 := macOf(mustMAC(t, GroupIPv4))
	for i, f := range c.collect(n, GroupIPv4) {
		checkIPv4Advert(t, f, g4, p.aMAC, p.aIP4, GroupIPv4, uint16(n+1+i), testVRRP)
	}
}

func TestQueueFlushNoAllocation(t *testing.T) {
	p := newPair(t)
	// No refresh and no retry during the test: AllocsPerRun counts the
	// resolver goroutine's allocations too.
	s := p.primed(t)
	failed := noFailure(t)
	const k = 100 // two sendmmsg calls per Flush
	for _, c := range []struct{ dst, src netip.Addr }{
		{GroupIPv4, p.aIP4}, {p.bIP4, p.aIP4}, {GroupIPv6, p.aLL},
	} {
		n := testing.AllocsPerRun(50, func() {
			for i := range k {
				if err := s.QueueAdvert(c.dst, c.src, testVRRP, i); err != nil {
					t.Fatal(err)
				}
			}
			if sent := s.Flush(failed); sent != k {
				t.Fatalf("Flush to %v sent %d of %d", c.dst, sent, k)
			}
		})
		if n != 0 {
			t.Errorf("QueueAdvert×%d + Flush to %v allocates %v times per batch", k, c.dst, n)
		}
	}
}

// BenchmarkQueueFlush: per advert, QueueAdvert to the IPv4 group with a
// Flush every batch adverts (BenchmarkSendAdvert is the one-write path).
func BenchmarkQueueFlush(b *testing.B) {
	p := newPair(b)
	s := p.newSender(b, SenderConfig{})
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			b.ReportAllocs()
			queued := 0
			for b.Loop() {
				if err := s.QueueAdvert(GroupIPv4, p.aIP4, testVRRP, queued); err != nil {
					b.Fatal(err)
				}
				if queued++; queued == batch {
					if n := s.Flush(nil); n != batch {
						b.Fatalf("Flush sent %d of %d", n, batch)
					}
					queued = 0
				}
			}
			s.Flush(nil)
		})
	}
}

// TestAdvertSocketIsControlPriority: adverts leave with skb priority
// TC_PRIO_CONTROL (ahead of bulk traffic in pfifo_fast, prio and fq) and
// through the qdisc, not PACKET_QDISC_BYPASS, which would drop a burst a
// full TX ring cannot take and hide them from tcpdump on the interface.
func TestAdvertSocketIsControlPriority(t *testing.T) {
	p := newPair(t)
	s := p.newSender(t, SenderConfig{})
	prio, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_PRIORITY)
	if err != nil {
		t.Fatal(err)
	}
	if prio != tcPrioControl {
		t.Errorf("SO_PRIORITY = %d, want TC_PRIO_CONTROL (%d)", prio, tcPrioControl)
	}
	bypass, err := unix.GetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS)
	if err != nil {
		t.Fatal(err)
	}
	if bypass != 0 {
		t.Error("PACKET_QDISC_BYPASS is set: adverts skip the qdisc")
	}
}
