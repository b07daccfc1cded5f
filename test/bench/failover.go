package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xvrrp/xvrrp/control/procstat"
)

// FailoverCase is how the master is taken away.
type FailoverCase string

// The two failover cases of scenario 2.
const (
	// CutLink takes the master's bridge port down: the backup must take
	// over after Master_Down_Interval (RFC 5798 section 6.4.2).
	CutLink FailoverCase = "link cut"
	// Terminate sends SIGTERM: the master resigns with a priority-0 advert
	// and the backup takes over after Skew_Time (RFC 5798 sections 6.4.3,
	// 6.4.2).
	Terminate FailoverCase = "SIGTERM"
)

// addrWatch records when an IPv4 address appears in a namespace, from an
// rtnetlink subscription (no polling delay).
type addrWatch struct {
	mu    sync.Mutex
	added map[string][]time.Time
	gone  map[string][]time.Time
	done  chan struct{}
}

func watchAddrs(n *NS) (*addrWatch, error) {
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		return nil, err
	}
	w := &addrWatch{added: map[string][]time.Time{}, gone: map[string][]time.Time{}, done: make(chan struct{})}
	ch := make(chan netlink.AddrUpdate, 256)
	err = netlink.AddrSubscribeWithOptions(ch, w.done, netlink.AddrSubscribeOptions{Namespace: &h, ReceiveBufferSize: 1 << 20})
	h.Close()
	if err != nil {
		return nil, fmt.Errorf("subscribe to addresses in %s: %w", n.Name, err)
	}
	go func() {
		for u := range ch {
			at := time.Now()
			ip := u.LinkAddress.IP.String()
			w.mu.Lock()
			if u.NewAddr {
				w.added[ip] = append(w.added[ip], at)
			} else {
				w.gone[ip] = append(w.gone[ip], at)
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *addrWatch) close() { close(w.done) }

// firstAfter returns the first event for ip at or after t.
func (w *addrWatch) firstAfter(ip string, t time.Time, added bool) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	evs := w.gone[ip]
	if added {
		evs = w.added[ip]
	}
	for _, e := range evs {
		if !e.Before(t) {
			return e, true
		}
	}
	return time.Time{}, false
}

// hasAddr reports whether ip is configured in n.
func hasAddr(n *NS, ip string) (bool, error) {
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		return false, err
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return false, err
	}
	defer nh.Close()
	addrs, err := nh.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if a.IP.String() == ip {
			return true, nil
		}
	}
	return false, nil
}

// garpWatch records gratuitous ARPs for one address seen on the wire.
type garpWatch struct {
	mu  sync.Mutex
	ip  net.IP
	ats []time.Time
}

func (g *garpWatch) add(p Packet) {
	if isGARP(p.Data, g.ip) {
		g.mu.Lock()
		g.ats = append(g.ats, p.At)
		g.mu.Unlock()
	}
}

func (g *garpWatch) firstAfter(t time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.ats {
		if !a.Before(t) {
			return a, true
		}
	}
	return time.Time{}, false
}

// isGARP: an ARP (RFC 826) whose sender and target protocol addresses are
// both ip (RFC 5227 section 3 / RFC 5798 section 6.4.1's gratuitous ARP).
func isGARP(frame []byte, ip net.IP) bool {
	ip4 := ip.To4()
	if len(frame) < 42 || ip4 == nil || frame[12] != 0x08 || frame[13] != 0x06 {
		return false
	}
	arp := frame[14:]
	return net.IP(arp[14:18]).Equal(ip4) && net.IP(arp[24:28]).Equal(ip4)
}

// linkSetter takes a link in a namespace up or down through a netlink handle
// opened once, so the moment of the cut is known to microseconds (an `ip`
// process would add milliseconds of fork and exec).
type linkSetter struct {
	h    *netlink.Handle
	link netlink.Link
}

func newLinkSetter(n *NS, name string) (*linkSetter, error) {
	nsh, err := netns.GetFromName(n.Name)
	if err != nil {
		return nil, err
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return nil, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("link %s in %s: %w", name, n.Name, err)
	}
	return &linkSetter{h: h, link: l}, nil
}

func (s *linkSetter) down() error { return s.h.LinkSetDown(s.link) }
func (s *linkSetter) up() error   { return s.h.LinkSetUp(s.link) }
func (s *linkSetter) close()      { s.h.Close() }

// Failover measures reps takeovers of one instance: the time from the cut
// (or the SIGTERM) until the backup owns the VIP (rtnetlink event in its
// namespace) and until its gratuitous ARP is on the wire (capture on its
// bridge port, kernel timestamps).
func (r *Runner) Failover(ctx context.Context, fc FailoverCase, interval time.Duration, kind Kind, reps int) error {
	ly := Layout{Ifaces: []string{"eth0"}, Instances: 1, Interval: interval}
	vip := VIP(0, 1)
	scen := fmt.Sprintf("failover %s @%v", fc, interval)
	r.logf("%s: %s, %d repetitions", scen, kind, reps)
	p, err := r.startPair(ctx, kind, ly, 2, nil, false)
	if err != nil {
		return fmt.Errorf("%s %s: %w", scen, kind, err)
	}
	defer p.close()
	mh, bh := p.lan.Hosts[0], p.lan.Hosts[1]
	aw, err := watchAddrs(bh.NS)
	if err != nil {
		return err
	}
	defer aw.close()
	gw := &garpWatch{ip: net.ParseIP(vip)}
	if _, err := p.lab.StartCapture(p.lan.Bridge, bh.Port, "arp", gw.add); err != nil {
		return err
	}
	rw := &resignWatch{}
	if fc == Terminate {
		if _, err := p.lab.StartCapture(p.lan.Bridge, mh.Port, "ip proto 112", rw.add); err != nil {
			return err
		}
	}
	port, err := newLinkSetter(p.lan.Bridge, mh.Port)
	if err != nil {
		return err
	}
	defer port.close()

	mdi := MasterDownInterval(interval, backupPriority)
	expect := mdi
	if fc == Terminate {
		expect = SkewTime(interval, backupPriority)
	}
	wait := 10*expect + 3*time.Second
	// The master must own the VIP again, and the backup have dropped it,
	// before the next repetition starts; then a few adverts go by.
	reconverge := func() error {
		err := poll(ctx, 30*time.Second+20*mdi, 5*time.Millisecond, func() error {
			mOK, err := hasAddr(mh.NS, vip)
			if err != nil {
				return err
			}
			bOK, err := hasAddr(bh.NS, vip)
			if err != nil {
				return err
			}
			if !mOK || bOK {
				return fmt.Errorf("not reconverged: VIP on master %v, on backup %v", mOK, bOK)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return sleep(ctx, max(200*time.Millisecond, 3*interval))
	}
	if err := sleep(ctx, settle(interval)); err != nil {
		return err
	}
	if err := reconverge(); err != nil {
		return fmt.Errorf("%s %s: before the first repetition: %w", scen, kind, err)
	}
	var vipTimes, garpTimes []time.Duration
	var splits []resignSplit
	missedGARP := 0
	for i := 0; i < reps; i++ {
		// A random phase against the master's advert timer, so the cut
		// samples every point of the interval.
		if err := sleep(ctx, rand.N(interval)); err != nil {
			return err
		}
		steal0, _ := readSteal()
		t0 := time.Now()
		switch fc {
		case CutLink:
			err = port.down()
		case Terminate:
			err = p.master.Signal(syscall.SIGTERM)
		}
		if err != nil {
			return fmt.Errorf("%s %s rep %d: %w", scen, kind, i, err)
		}
		var tVIP time.Time
		err := poll(ctx, wait, time.Millisecond, func() error {
			var ok bool
			if tVIP, ok = aw.firstAfter(vip, t0, true); !ok {
				return fmt.Errorf("backup did not take %s within %v", vip, wait)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s %s rep %d: %w\nbackup log: %s", scen, kind, i, err, p.backup.LogTail(1500))
		}
		vipTimes = append(vipTimes, tVIP.Sub(t0))
		steal1, _ := readSteal()
		repSteal := procstat.StealShare(steal1-steal0, time.Since(t0), runtime.NumCPU())
		var split resignSplit
		if fc == Terminate {
			split = r.splitResign(ctx, rw, p.backup, t0, tVIP)
			splits = append(splits, split)
		}
		// The GARP may trail the address by a little: give it a second.
		var tG time.Time
		if poll(ctx, time.Second, time.Millisecond, func() error {
			var ok bool
			if tG, ok = gw.firstAfter(t0); !ok {
				return fmt.Errorf("no GARP")
			}
			return nil
		}) == nil {
			garpTimes = append(garpTimes, tG.Sub(t0))
		} else {
			missedGARP++
		}
		over := tVIP.Sub(t0) > expect+5*time.Millisecond
		switch fc {
		case CutLink:
			if over {
				r.logf("  %s rep %d over target: VIP after %v; the hypervisor took %.0f%% of the machine meanwhile (steal)", kind, i, tVIP.Sub(t0), 100*repSteal)
			}
			err = port.up()
		case Terminate:
			if err = p.master.Wait(5 * time.Second); err == nil {
				if over {
					r.logf("  %s rep %d over target: %s; the master's stop took %s; the hypervisor took %.0f%% of the machine meanwhile (steal)", kind, i, split.describe(tVIP.Sub(t0)), stopTook(p.master.LogTail(600)), 100*repSteal)
				}
				p.master, err = p.lab.StartDaemon(r.Tools, kind, mh, KeepalivedConf("bench-master", ly, masterPriority))
				if err == nil {
					err = p.master.WaitReady(ctx, 1, 30*time.Second)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("%s %s rep %d: restore the master: %w", scen, kind, i, err)
		}
		if err := reconverge(); err != nil {
			return fmt.Errorf("%s %s rep %d: %w\nmaster log: %s", scen, kind, i, err, p.master.LogTail(1500))
		}
	}
	vd, gd := Summarize(vipTimes), Summarize(garpTimes)
	res := r.Results
	res.Set(scen, "VIP owned p50", "ms", kind, ms(vd.P50))
	res.Set(scen, "VIP owned p99", "ms", kind, ms(vd.P99))
	res.Set(scen, "VIP owned max", "ms", kind, ms(vd.Max))
	res.Set(scen, "GARP on wire p50", "ms", kind, ms(gd.P50))
	res.Set(scen, "GARP on wire p99", "ms", kind, ms(gd.P99))
	res.Set(scen, "GARP on wire max", "ms", kind, ms(gd.Max))
	if fc == Terminate {
		setResignRows(res, scen, kind, splits)
	}
	target := fmt.Sprintf("target p99 ≤ %.2f ms (%s + 5 ms), %d reps", ms(expect+5*time.Millisecond),
		map[FailoverCase]string{CutLink: "Master_Down_Interval", Terminate: "Skew_Time"}[fc], reps)
	res.Note(scen, "VIP owned p99", target)
	if missedGARP > 0 {
		res.Note(scen, "GARP on wire p50", fmt.Sprintf("%s: no GARP seen in %d reps", kind, missedGARP))
	}
	res.mu.Lock()
	key := fmt.Sprintf("%s %s", kind, scen[len("failover "):])
	res.Failover[key] = append(res.Failover[key], vipTimes...)
	res.mu.Unlock()
	r.logf("  %s: VIP p50 %v p99 %v max %v; GARP p50 %v p99 %v max %v (missed %d)", kind, vd.P50, vd.P99, vd.Max, gd.P50, gd.P99, gd.Max, missedGARP)
	return nil
}
