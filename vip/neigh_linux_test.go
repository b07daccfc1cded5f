package vip

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// sendWithin runs SendAdvert and fails the test if it has not returned
// within d: SendAdvert must never wait for address resolution.
func sendWithin(t testing.TB, d time.Duration, s *Sender, dst, src netip.Addr) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.SendAdvert(dst, src, testVRRP) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		err := <-done
		t.Fatalf("SendAdvert to %v blocked for %v (deadline %v): %v", dst, time.Since(start).Round(time.Millisecond), d, err)
		return err
	}
}

// waitSent sends adverts to a unicast dst until one goes out; until then
// each must fail at once with ErrNeighbourUnresolved.
func waitSent(t testing.TB, s *Sender, dst, src netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := sendWithin(t, 200*time.Millisecond, s, dst, src)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNeighbourUnresolved) {
			t.Fatalf("advert to %v: %v", dst, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("advert to %v still skipped after 5s: %v", dst, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An unreachable unicast peer costs SendAdvert nothing: every advert to it
// returns ErrNeighbourUnresolved at once, while the Sender's lock stays free
// for the other instances' adverts, and only one probe is in flight.
func TestSendAdvertUnresolvedPeerDoesNotBlock(t *testing.T) {
	p := newPair(t)
	s := p.newSender(t, SenderConfig{}) // ResolveTimeout and NeighbourRetry 1 s
	ghost := netip.MustParseAddr("198.18.0.77")
	ghost6 := netip.MustParseAddr("2001:db8::77")
	// Another instance multicasting on the same Sender meanwhile.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if err := sendWithin(t, 200*time.Millisecond, s, GroupIPv4, p.aIP4); err != nil {
				t.Errorf("multicast advert beside the unresolved peer: %v", err)
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	// 10 ms adverts for 1.3 s: past ResolveTimeout, when the resolver gives
	// up, and into NeighbourRetry.
	var first, last error
	var worst time.Duration
	for start := time.Now(); time.Since(start) < 1300*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		for _, pr := range [][2]netip.Addr{{ghost, p.aIP4}, {ghost6, netip.MustParseAddr("2001:db8::1")}} {
			dst := pr[0]
			t0 := time.Now()
			err := sendWithin(t, 200*time.Millisecond, s, dst, pr[1])
			worst = max(worst, time.Since(t0))
			if !errors.Is(err, ErrNeighbourUnresolved) {
				t.Fatalf("advert to absent peer %v: %v, want ErrNeighbourUnresolved", dst, err)
			}
			if dst == ghost {
				if first == nil {
					first = err
				}
				last = err
			}
		}
	}
	t.Logf("slowest skipped advert: %v", worst)
	var ne *NeighbourError
	if !errors.As(first, &ne) || ne.Reason != "no MAC address yet, resolution started" {
		t.Errorf("first advert: %v, want resolution started", first)
	}
	if !errors.As(last, &ne) || ne.Reason != "no ARP reply within 1s (kernel neighbour state INCOMPLETE)" {
		t.Errorf("advert after ResolveTimeout: %v, want the resolver's verdict", last)
	}
	t.Logf("operator sees: %v", last)
	// One probe per peer: none repeated while it was in flight, none
	// during NeighbourRetry.
	if n := s.neighProbes.Load(); n != 2 {
		t.Errorf("%d probes for two absent peers in one ResolveTimeout, want 2", n)
	}
}

// A resolved peer's MAC comes from the cache: no netlink request per
// advert, and one background refresh per NeighbourRefresh however many
// adverts are sent meanwhile.
func TestSendAdvertNeighbourCache(t *testing.T) {
	p := newPair(t)
	s := p.newSender(t, SenderConfig{NeighbourRefresh: 300 * time.Millisecond})
	c := p.capture(t)
	waitSent(t, s, p.bIP4, p.aIP4)
	checkIPv4Advert(t, c.next("unicast advert", isVRRP), p.bMAC, p.aMAC, p.aIP4, p.bIP4, 1, testVRRP)
	lookups, probes := s.neighLookups.Load(), s.neighProbes.Load()
	for range 1000 {
		must(t, s.SendAdvert(p.bIP4, p.aIP4, testVRRP))
	}
	if l, pr := s.neighLookups.Load(), s.neighProbes.Load(); l != lookups || pr != probes {
		t.Fatalf("1000 adverts to a cached peer: %d neighbour table reads and %d probes, want none", l-lookups, pr-probes)
	}
	// Past NeighbourRefresh: a burst of adverts all go out with the cached
	// MAC and start exactly one re-read.
	time.Sleep(350 * time.Millisecond)
	for range 200 {
		must(t, sendWithin(t, 200*time.Millisecond, s, p.bIP4, p.aIP4))
	}
	waitFor(t, 5*time.Second, "the refresh", func() bool { return s.neighLookups.Load() > lookups })
	time.Sleep(50 * time.Millisecond)
	if l := s.neighLookups.Load(); l != lookups+1 {
		t.Errorf("%d neighbour table reads for one refresh, want 1", l-lookups)
	}
	// A failed write (link down) has the entry re-read on the next advert.
	lookups = s.neighLookups.Load()
	p.A.IP("link", "set", "a0", "down")
	if err := sendWithin(t, 200*time.Millisecond, s, p.bIP4, p.aIP4); err == nil || errors.Is(err, ErrNeighbourUnresolved) {
		t.Fatalf("advert on a down link: %v, want the write error", err)
	}
	_ = sendWithin(t, 200*time.Millisecond, s, p.bIP4, p.aIP4)
	waitFor(t, 5*time.Second, "a re-read after the failed write", func() bool { return s.neighLookups.Load() > lookups })
}

// A replaced peer (same address, new MAC) gets the adverts once the kernel
// learns its MAC (here from its gratuitous ARP) and the cache refreshes.
func TestSendAdvertNeighbourMACChange(t *testing.T) {
	p := newPair(t)
	s := p.newSender(t, SenderConfig{NeighbourRefresh: 200 * time.Millisecond})
	waitSent(t, s, p.bIP4, p.aIP4)
	newMAC := [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	p.B.IP("link", "set", "b0", "address", fmtMAC(newMAC))
	var ann *Announcer
	must(t, p.B.Do(func() error {
		var err error
		ann, err = NewAnnouncer(AnnouncerConfig{Ifindex: p.bIdx})
		return err
	}))
	defer ann.Close()
	must(t, ann.Announce([]VIP{{Prefix: netip.PrefixFrom(p.bIP4, 24)}}))
	c := p.capture(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			_ = s.SendAdvert(p.bIP4, p.aIP4, testVRRP)
		}
	})
	defer wg.Wait()
	defer close(stop)
	f := c.next("advert to the new MAC", func(f []byte) bool {
		return isVRRP(f) && string(f[:6]) == string(newMAC[:])
	})
	if got := net.HardwareAddr(f[:6]); got.String() != fmtMAC(newMAC) {
		t.Fatalf("advert to %v, want %v", got, fmtMAC(newMAC))
	}
}

// BenchmarkSendAdvertUnicast sends to a resolved unicast peer: the
// neighbour cache answers, no netlink round trip, no allocation.
func BenchmarkSendAdvertUnicast(b *testing.B) {
	p := newPair(b)
	s := p.newSender(b, SenderConfig{})
	waitFor(b, 5*time.Second, "peer resolved", func() bool { return s.SendAdvert(p.bIP4, p.aIP4, testVRRP) == nil })
	b.ReportAllocs()
	var worst time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := s.SendAdvert(p.bIP4, p.aIP4, testVRRP); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(float64(worst.Microseconds()), "max-µs")
}

// BenchmarkSendAdvertUnresolved sends to a peer nobody answers for: every
// call must return at once with ErrNeighbourUnresolved.
func BenchmarkSendAdvertUnresolved(b *testing.B) {
	p := newPair(b)
	s := p.newSender(b, SenderConfig{})
	ghost := netip.MustParseAddr("198.18.0.77")
	b.ReportAllocs()
	var worst time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := s.SendAdvert(ghost, p.aIP4, testVRRP); err == nil {
			b.Fatal("advert to an absent peer succeeded")
		}
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(float64(worst.Microseconds()), "max-µs")
}
