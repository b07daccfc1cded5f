package fsm

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/advert"
)

// The receive path per advert, as control/daemon/receive.go runs it: the
// codec decodes the VRRP payload into the instance's reused advert.Advert,
// and the machine steps on the resulting EventAdvert. The target for
// the pair is ≤ 1 µs and 0 allocations; TestAllocs_DecodeAndStepAllocateNothing
// enforces the second, BenchmarkDecodeAndStep reports the first.

// rxPath is a BACKUP instance receiving its (higher-priority) master's
// adverts in steady state.
type rxPath struct {
	m        *Machine
	payload  []byte // the master's advert as it arrives on the wire
	src, dst netip.Addr
	opts     advert.DecodeOptions
	interval time.Duration
	rx       advert.Advert // reused, as instance.rx in the daemon
	out      []Action
	now      time.Time
}

type rxCase struct {
	name     string
	version  uint8
	interval time.Duration
	our      netip.Addr // backup's primary address
	master   netip.Addr // advert source
	dst      netip.Addr
	vips     []netip.Addr
}

var rxCases = []rxCase{
	{name: "v3/IPv4/10ms", version: 3, interval: 10 * time.Millisecond,
		our: ourIP, master: highIP, dst: advert.GroupIPv4,
		vips: []netip.Addr{netip.MustParseAddr("198.18.51.1"), netip.MustParseAddr("198.18.51.2")}},
	{name: "v3/IPv6/10ms", version: 3, interval: 10 * time.Millisecond,
		our: netip.MustParseAddr("fe80::10"), master: netip.MustParseAddr("fe80::20"), dst: advert.GroupIPv6,
		vips: []netip.Addr{netip.MustParseAddr("2001:db8:51::1"), netip.MustParseAddr("2001:db8:51::2")}},
	{name: "v2/IPv4/1s/auth", version: 2, interval: time.Second,
		our: ourIP, master: highIP, dst: advert.GroupIPv4,
		vips: []netip.Addr{netip.MustParseAddr("198.18.51.1")}},
}

func newRxPath(tb testing.TB, c rxCase) *rxPath {
	tb.Helper()
	m, err := New(cfg(func(cf *Config) {
		cf.Version, cf.AdvertInterval, cf.PrimaryAddr = c.version, c.interval, c.our
	}))
	if err != nil {
		tb.Fatal(err)
	}
	m.Handle(Event{Kind: EventStartup}, t0, nil)
	if m.State() != StateBackup {
		tb.Fatalf("%s: machine in %v after startup, want BACKUP", c.name, m.State())
	}
	// The master's advert, encoded by the codec the master would use.
	a := advert.Advert{Version: c.version, Type: advert.TypeAdvertisement, VRID: 51, Priority: 150, Addrs: c.vips}
	if c.version == 2 {
		a.Interval = uint16(c.interval / time.Second)
		a.AuthType, a.AuthData = advert.AuthPass, advert.Password("secret")
	} else {
		a.Interval = uint16(c.interval / (10 * time.Millisecond))
	}
	payload, err := a.Append(nil, c.master, c.dst, advert.EncodeOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	p := &rxPath{m: m, payload: payload, src: c.master, dst: c.dst, interval: c.interval,
		out: make([]Action, 0, 8), now: t0}
	// The first advert grows rx.Addrs and makes the sender the known master;
	// from then on every advert is the steady state.
	p.step(tb)
	return p
}

// step is one advert: decode + state-machine step, one interval after the
// previous one. It fails tb only on an error, not on the hot path's results.
func (p *rxPath) step(tb testing.TB) {
	p.now = p.now.Add(p.interval)
	if err := advert.Decode(p.payload, p.src, p.dst, p.opts, &p.rx); err != nil {
		tb.Fatal(err)
	}
	p.out = p.m.Handle(Event{Kind: EventAdvert, Advert: Advert{
		Src: p.src, Priority: p.rx.Priority, Interval: p.rx.IntervalDuration(), Version: p.rx.Version,
	}}, p.now, p.out[:0])
}

// check asserts that the adverts were processed as a backup's steady state:
// all received, none dropped, no transition, the down timer re-armed.
func (p *rxPath) check(tb testing.TB, name string, adverts uint64) {
	tb.Helper()
	st := p.m.Stats()
	dropped := st.DroppedOwnAddr + st.DroppedInactive
	if p.m.State() != StateBackup || st.AdvertsReceived < adverts || dropped != 0 || len(p.out) != 0 {
		tb.Fatalf("%s: state %v, %d adverts received (want ≥ %d), %d dropped, last actions %+v: not a backup's steady state",
			name, p.m.State(), st.AdvertsReceived, adverts, dropped, p.out)
	}
	if want := p.now.Add(p.m.MasterDownInterval()); !p.m.NextDeadline().Equal(want) {
		tb.Fatalf("%s: down timer at %v, want %v (the last advert re-arms it)", name, p.m.NextDeadline(), want)
	}
}

func TestAllocs_DecodeAndStepAllocateNothing(t *testing.T) {
	for _, c := range rxCases {
		p := newRxPath(t, c)
		if n := testing.AllocsPerRun(1000, func() { p.step(t) }); n != 0 {
			t.Errorf("%s: decode + step allocates %v times per advert, want 0", c.name, n)
		}
		p.check(t, c.name, 1000)
	}
}

// BenchmarkDecodeAndStep: per advert received by a backup from its master,
// advert.Decode into the reused advert then Machine.Handle(EventAdvert).
// Target: ≤ 1 µs and 0 allocs/op.
func BenchmarkDecodeAndStep(b *testing.B) {
	for _, c := range rxCases {
		b.Run(c.name, func(b *testing.B) {
			p := newRxPath(b, c)
			b.ReportAllocs()
			b.SetBytes(int64(len(p.payload)))
			for b.Loop() {
				p.step(b)
			}
			b.StopTimer()
			p.check(b, c.name, uint64(b.N))
		})
	}
}
