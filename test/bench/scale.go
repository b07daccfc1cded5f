package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gapWatch records, per advert stream, the gaps between consecutive
// adverts that end after a mark: how late each stream's adverts were while
// something else happened (a reload).
type gapWatch struct {
	mu    sync.Mutex
	last  map[AdvertKey]time.Time
	since time.Time
	worst map[AdvertKey]time.Duration // longest gap ending after since
}

func newGapWatch() *gapWatch {
	return &gapWatch{last: map[AdvertKey]time.Time{}, worst: map[AdvertKey]time.Duration{}}
}

func (g *gapWatch) add(p Packet, seg uint16) {
	key, prio, ok := ParseAdvert(p.Data)
	if !ok || prio == 0 {
		return
	}
	if key.VLAN == 0 {
		key.VLAN = seg
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, seen := g.last[key]; seen && !g.since.IsZero() && p.At.After(g.since) {
		g.worst[key] = max(g.worst[key], p.At.Sub(prev))
	}
	g.last[key] = p.At
}

func (g *gapWatch) mark(t time.Time) {
	g.mu.Lock()
	g.since = t
	g.mu.Unlock()
}

// late counts the streams other than skip whose longest gap after the mark
// exceeded limit, and returns the longest of those gaps.
func (g *gapWatch) late(skip AdvertKey, limit time.Duration) (n, streams int, worst time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, w := range g.worst {
		if k == skip {
			continue
		}
		streams++
		worst = max(worst, w)
		if w > limit {
			n++
		}
	}
	return n, streams, worst
}

// Scale measures startup and reload at scale for one daemon: a master alone starting
// ly's instances (1,020 over 4 VLANs) — time to every instance MASTER and
// every address in, RSS — then a reload (SIGHUP) whose configuration moves
// one instance's address: how long until the new address is in, and
// whether any other instance was disturbed (a transition, an address event,
// an advert gap over interval + 20 ms).
func (r *Runner) Scale(ctx context.Context, ly Layout, vlans []int, kind Kind) error {
	scen := fmt.Sprintf("scale %d instances @%v", ly.Total(), ly.Interval)
	r.logf("%s: %s", scen, kind)
	l, err := r.sub()
	if err != nil {
		return err
	}
	defer l.Close()
	lan, err := l.NewLAN(1, vlans)
	if err != nil {
		return err
	}
	h := lan.Hosts[0]
	var addrs []netip.Addr
	for i := range ly.Ifaces {
		for vrid := 1; vrid <= ly.Instances; vrid++ {
			addrs = append(addrs, netip.MustParseAddr(VIP(i, vrid)))
		}
	}
	// The reload moves VI_0_1 from its address (addrs[0]) to moved.
	moved := netip.MustParseAddr("198.18.99.1")
	w, err := newAddrLog(h.NS, append(addrs, moved))
	if err != nil {
		return err
	}
	defer w.close()
	gw := newGapWatch()
	var capts []*Capture
	if lan.NoVLAN {
		for _, v := range vlans {
			seg := uint16(v)
			c, err := l.StartCapture(lan.Bridge, SegmentPort(h, v), "ip proto 112", func(p Packet) { gw.add(p, seg) })
			if err != nil {
				return err
			}
			capts = append(capts, c)
		}
	} else {
		c, err := l.StartCapture(lan.Bridge, h.Port, "(ip proto 112) or (vlan and ip proto 112)", func(p Packet) { gw.add(p, 0) })
		if err != nil {
			return err
		}
		capts = append(capts, c)
	}
	defer func() {
		for _, c := range capts {
			c.Stop()
		}
	}()

	n := ly.Total()
	wait := 60*time.Second + time.Duration(n)*20*time.Millisecond
	conf := KeepalivedConf("scale", ly, masterPriority)
	start := time.Now()
	d, err := l.StartDaemon(r.Tools, kind, h, conf)
	if err != nil {
		return err
	}
	defer d.Stop(30 * time.Second)
	err = poll(ctx, wait, 5*time.Millisecond, func() error {
		if got, lost := w.count(); got < n || lost != nil {
			return fmt.Errorf("%s: %d of %d addresses in (%v)", kind, got, n, lost)
		}
		return d.WaitMasters(ctx, n, 0)
	})
	if err != nil {
		return fmt.Errorf("%s %s startup: %w; log ends: %s", scen, kind, err, d.LogTail(1500))
	}
	startup := time.Since(start)
	if err := sleep(ctx, 3*ly.Interval+time.Second); err != nil {
		return err
	}
	rss, _ := d.rssKiB()

	// The reload: VI_0_1's address moves; nothing else changes.
	old := fmt.Sprintf("        %s/32\n", VIP(0, 1))
	if !strings.Contains(conf, old) {
		return fmt.Errorf("%s: VI_0_1's address not in the configuration", scen)
	}
	conf2 := strings.Replace(conf, old, fmt.Sprintf("        %s/32\n", moved), 1)
	if err := os.WriteFile(filepath.Join(d.Dir, "keepalived.conf"), []byte(conf2), 0o644); err != nil {
		return err
	}
	mark := d.LogSize()
	sig := time.Now()
	gw.mark(sig)
	if err := d.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	var reloaded time.Duration
	err = poll(ctx, wait, 5*time.Millisecond, func() error {
		w.mu.Lock()
		in := w.present[len(addrs)]
		w.mu.Unlock()
		if !in {
			return fmt.Errorf("%s %s: the moved address is not in %v after the reload", scen, kind, time.Since(sig).Round(time.Millisecond))
		}
		return nil
	})
	reloaded = time.Since(sig)
	reloadErr := err
	// Watch the others for a few intervals after the reload.
	if err := sleep(ctx, 3*ly.Interval+time.Second); err != nil {
		return err
	}
	touched := 0
	w.mu.Lock()
	for i := 1; i < len(addrs); i++ {
		if w.added[i].After(sig) || w.gone[i].After(sig) {
			touched++
		}
	}
	w.mu.Unlock()
	transitions := 0
	for _, line := range d.logSince(mark) {
		if d.isTransition(line) && !strings.Contains(line, "VI_0_1 ") && !strings.Contains(line, "VI_0_1:") && !strings.Contains(line, "(VI_0_1)") {
			transitions++
		}
	}
	limit := ly.Interval + 20*time.Millisecond
	late, streams, worst := gw.late(AdvertKey{VLAN: uint16(firstVLAN(vlans)), VRID: 1}, limit)
	res := r.Results
	res.Set(scen, "startup: start → every instance MASTER and every address in", "ms", kind, ms(startup))
	res.Set(scen, "RSS", "MiB", kind, float64(rss)/1024)
	res.Set(scen, "reload moving one instance's address: SIGHUP → new address in", "ms", kind, ms(reloaded))
	res.Set(scen, "reload: other instances' addresses touched", "count", kind, float64(touched))
	res.Set(scen, "reload: other instances' transitions", "count", kind, float64(transitions))
	res.Set(scen, fmt.Sprintf("reload: other instances with an advert gap over interval + 20 ms (of %d)", n-1), "count", kind, float64(late))
	res.Set(scen, "reload: longest advert gap of the other instances", "ms", kind, ms(worst))
	if streams != n-1 {
		res.Note(scen, "reload: longest advert gap of the other instances", fmt.Sprintf("%s: %d of %d streams seen", kind, streams, n-1))
	}
	if lan.NoVLAN {
		res.Note(scen, "RSS", "no 802.1Q in this kernel: 4 separate veths and bridges instead of VLANs")
	}
	r.logf("  %s: startup %v, RSS %d KiB, reload %v, touched %d, transitions %d, late streams %d of %d (worst gap %v)",
		kind, startup.Round(time.Millisecond), rss, reloaded.Round(time.Millisecond), touched, transitions, late, streams, worst.Round(time.Millisecond))
	return reloadErr
}

func firstVLAN(vlans []int) int {
	if len(vlans) == 0 {
		return 0
	}
	return vlans[0]
}
