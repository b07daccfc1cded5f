package vip

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/fsm"
)

// The send path per advert, as control/daemon runs it (fire → handle →
// sendAdvert): the master's Adver_Timer event steps the machine, each
// SendAdvert action is encoded by the codec into the instance's reused
// buffer and sent on a real AF_PACKET Sender bound to a veth in a network
// namespace (newPair: a0 198.18.0.1/24 ↔ b0 198.18.0.2/24).

// txPath is one master instance on a Sender.
type txPath struct {
	m        *fsm.Machine
	tmpl     advert.Advert // instance.tmpl in the daemon
	src, dst netip.Addr
	opts     advert.EncodeOptions
	s        *Sender
	buf      []byte // instance.buf in the daemon
	out      []fsm.Action
	sent     uint64
}

type txCase struct {
	name     string
	src, dst func(*pair) netip.Addr
	vips     []netip.Addr
}

var (
	vips4   = []netip.Addr{netip.MustParseAddr("198.18.51.1"), netip.MustParseAddr("198.18.51.2")}
	vips6   = []netip.Addr{netip.MustParseAddr("2001:db8:51::1"), netip.MustParseAddr("2001:db8:51::2")}
	txCases = []txCase{
		{"v3/IPv4/multicast", func(p *pair) netip.Addr { return p.aIP4 }, func(*pair) netip.Addr { return GroupIPv4 }, vips4},
		{"v3/IPv4/unicast", func(p *pair) netip.Addr { return p.aIP4 }, func(p *pair) netip.Addr { return p.bIP4 }, vips4},
		{"v3/IPv6/multicast", func(p *pair) netip.Addr { return p.aLL }, func(*pair) netip.Addr { return GroupIPv6 }, vips6},
	}
)

// newTxSender is a Sender on a0 that, for the duration of a test, neither
// refreshes nor re-probes neighbours (AllocsPerRun counts the resolver
// goroutine's allocations too), with B's address resolved.
func newTxSender(tb testing.TB, p *pair) *Sender {
	tb.Helper()
	s := p.newSender(tb, SenderConfig{NeighbourRefresh: time.Hour, NeighbourRetry: time.Hour, ResolveTimeout: time.Second})
	waitFor(tb, 5*time.Second, "unicast peer 198.18.0.2 resolved", func() bool {
		return s.SendAdvert(p.bIP4, p.aIP4, testVRRP) == nil
	})
	return s
}

func newTxPath(tb testing.TB, p *pair, s *Sender, c txCase) *txPath {
	tb.Helper()
	src, dst := c.src(p), c.dst(p)
	fc := fsm.Config{Name: "VI_bench", VRID: 51, Version: 3, Priority: fsm.PriorityOwner,
		AdvertInterval: 10 * time.Millisecond, PrimaryAddr: src}
	m, err := fsm.New(fc)
	if err != nil {
		tb.Fatal(err)
	}
	m.Handle(fsm.Event{Kind: fsm.EventStartup}, time.Unix(1_700_000_000, 0), nil)
	if m.State() != fsm.StateMaster {
		tb.Fatalf("%s: machine in %v after startup, want MASTER", c.name, m.State())
	}
	return &txPath{m: m, s: s, src: src, dst: dst, out: make([]fsm.Action, 0, 8),
		tmpl: advert.Advert{Version: 3, Type: advert.TypeAdvertisement, VRID: 51, Interval: 1, Addrs: c.vips}}
}

// step is one advert: the Adver_Timer fires, the machine steps, its
// SendAdvert is encoded and sent.
func (t *txPath) step() error {
	t.out = t.m.Handle(fsm.Event{Kind: fsm.EventTimer}, t.m.NextDeadline(), t.out[:0])
	for _, a := range t.out {
		if a.Kind != fsm.ActionSendAdvert {
			continue
		}
		t.tmpl.Priority = a.Priority
		b, err := t.tmpl.Append(t.buf[:0], t.src, t.dst, t.opts)
		if err != nil {
			return err
		}
		t.buf = b
		if err := t.s.SendAdvert(t.dst, t.src, b); err != nil {
			return err
		}
		t.sent++
	}
	return nil
}

func (t *txPath) check(tb testing.TB, name string, adverts uint64) {
	tb.Helper()
	if t.m.State() != fsm.StateMaster || t.sent < adverts {
		tb.Fatalf("%s: state %v, %d adverts sent, want MASTER and ≥ %d", name, t.m.State(), t.sent, adverts)
	}
}

// vrrpPayloadTo returns the VRRP payload of an IPv4 or IPv6 frame to dst
// (nil for any other frame).
func vrrpPayloadTo(f []byte, dst netip.Addr) []byte {
	if !isVRRP(f) {
		return nil
	}
	ip := f[ethHeaderLen:]
	if binary.BigEndian.Uint16(f[12:14]) == etherTypeIPv4 {
		if netip.AddrFrom4([4]byte(ip[16:20])) != dst {
			return nil
		}
		return ip[int(ip[0]&0x0f)*4 : binary.BigEndian.Uint16(ip[2:4])]
	}
	if netip.AddrFrom16([16]byte(ip[24:40])) != dst {
		return nil
	}
	return ip[ipv6HeaderLen : ipv6HeaderLen+int(binary.BigEndian.Uint16(ip[4:6]))]
}

// TestAllocs_TimerEncodeSendAllocateNothing: the master's per-advert path,
// timer step + encode + AF_PACKET send, allocates nothing, and what it sends
// is the advert the codec decodes on the other side of the veth.
func TestAllocs_TimerEncodeSendAllocateNothing(t *testing.T) {
	p := newPair(t)
	s := newTxSender(t, p)
	for _, c := range txCases {
		tp := newTxPath(t, p, s, c)
		capt := p.capture(t)
		must(t, tp.step())
		f := capt.next(c.name+" advert", func(f []byte) bool { return vrrpPayloadTo(f, tp.dst) != nil })
		var rx advert.Advert
		if err := advert.Decode(vrrpPayloadTo(f, tp.dst), tp.src, tp.dst, advert.DecodeOptions{}, &rx); err != nil {
			t.Fatalf("%s: the advert received on b0 does not decode: %v", c.name, err)
		}
		if rx.VRID != 51 || rx.Priority != fsm.PriorityOwner || rx.IntervalDuration() != 10*time.Millisecond || len(rx.Addrs) != len(c.vips) {
			t.Fatalf("%s: received %+v, want VRID 51, priority 255, 10ms, %d addresses", c.name, rx, len(c.vips))
		}
		if n := testing.AllocsPerRun(1000, func() {
			if err := tp.step(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: timer + encode + send allocates %v times per advert, want 0", c.name, n)
		}
		tp.check(t, c.name, 1001)
	}
}

// BenchmarkTimerEncodeSend: per advert sent by a master, Machine.Handle
// (EventTimer) + advert.Append into the reused buffer + Sender.SendAdvert
// on AF_PACKET over a veth. Needs root (it creates network namespaces).
func BenchmarkTimerEncodeSend(b *testing.B) {
	p := newPair(b)
	s := newTxSender(b, p)
	for _, c := range txCases {
		b.Run(c.name, func(b *testing.B) {
			tp := newTxPath(b, p, s, c)
			b.ReportAllocs()
			for b.Loop() {
				if err := tp.step(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			tp.check(b, c.name, uint64(b.N))
		})
	}
}
