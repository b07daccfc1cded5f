package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// VIPsCase is one cell of the many-VIPs scenario: one instance
// holding N addresses in virtual_ipaddress_excluded hands over from host 1
// to host 2 while Bystanders instances advertising every BystanderInt run
// on the same hosts.
type VIPsCase struct {
	N            int
	Family       string // "4", "6" or "mixed" (every other address IPv6)
	Bystanders   int    // 1..maxBystanders
	BystanderInt time.Duration
}

// Name is the scenario column of the results table.
func (c VIPsCase) Name() string {
	fam := map[string]string{"4": "IPv4", "6": "IPv6", "mixed": "IPv4+IPv6"}[c.Family]
	// No comma: the name is a field of results.csv.
	return fmt.Sprintf("vips %d×%s beside %d@%v", c.N, fam, c.Bystanders, c.BystanderInt)
}

// bystanderVRIDs are the bystanders' VRIDs: 1 up, skipping the big
// instance's.
func (c VIPsCase) bystanderVRIDs() []int {
	var out []int
	for vrid := 1; len(out) < c.Bystanders; vrid++ {
		if vrid != vipsBigVRID {
			out = append(out, vrid)
		}
	}
	return out
}

// The shape of the scenario: the big instance's VRID and interval, and the
// bystanders (odd VRIDs mastered by host 1, even ones by host 2, so both
// the adding and the removing host carry some); one interface holds 255
// VRIDs of a family, one of them the big instance's.
const (
	vipsBigVRID     = 200
	vipsBigInterval = time.Second
	maxBystanders   = 254
	vipsTrackWeight = -150 // 200 - 150 < 100: the backup preempts
)

// Addrs lists the case's N addresses: IPv4 from 198.19.0.0/16, IPv6 from
// 2001:db8:1::/64 (the test ranges).
func (c VIPsCase) Addrs() []netip.Addr {
	out := make([]netip.Addr, c.N)
	for i := range out {
		v6 := c.Family == "6" || (c.Family == "mixed" && i%2 == 1)
		if v6 {
			var b [16]byte
			copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1})
			binary.BigEndian.PutUint32(b[12:], uint32(i+1))
			out[i] = netip.AddrFrom16(b)
		} else {
			out[i] = netip.AddrFrom4([4]byte{198, 19, byte((i + 1) >> 8), byte(i + 1)})
		}
	}
	return out
}

// vipsConf renders host's keepalived.conf (host 1 or 2). Host 1 tracks
// trackFile: writing 1 into it lowers its big instance's priority below
// host 2's, which preempts (RFC 5798 section 6.4.2).
func vipsConf(host int, c VIPsCase, addrs []netip.Addr, trackFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id vips-h%d\n    vrrp_version 3\n    vrrp_garp_master_delay 0\n    vrrp_garp_master_repeat 1\n}\n\n", host)
	prio := 100
	if host == 1 {
		prio = 200
		fmt.Fprintf(&b, "vrrp_track_file tf_big {\n    file %q\n    weight %d\n}\n\n", trackFile, vipsTrackWeight)
	}
	fmt.Fprintf(&b, "vrrp_instance BIG {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n",
		vipsBigVRID, prio, advertInt(vipsBigInterval))
	if host == 1 {
		b.WriteString("    track_file {\n        tf_big\n    }\n")
	}
	// VRRPv3 adverts must carry an address (keepalived requires one); the
	// N measured ones are excluded from the adverts.
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s/32\n    }\n", VIP(1, 1))
	b.WriteString("    virtual_ipaddress_excluded {\n")
	for _, a := range addrs {
		bits := 32
		if a.Is6() {
			bits = 128
		}
		fmt.Fprintf(&b, "        %s/%d\n", a, bits)
	}
	b.WriteString("    }\n}\n\n")
	for _, vrid := range c.bystanderVRIDs() {
		p := 100
		if (vrid%2 == 1) == (host == 1) {
			p = 200
		}
		fmt.Fprintf(&b, "vrrp_instance BY_%d {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n    virtual_ipaddress {\n        %s/32\n    }\n}\n\n",
			vrid, vrid, p, advertInt(c.BystanderInt), VIP(0, vrid))
	}
	return b.String()
}

// addrLog records every address event of a namespace for a set of
// addresses, timestamped on arrival, from an rtnetlink subscription whose
// buffer holds a 10,000-address burst.
type addrLog struct {
	mu      sync.Mutex
	want    map[netip.Addr]int
	added   []time.Time // per address: last add seen
	gone    []time.Time // per address: last removal seen
	present []bool
	nAdded  int // addresses present by the events
	evs     int
	lost    error
	done    chan struct{}
}

func newAddrLog(n *NS, addrs []netip.Addr) (*addrLog, error) {
	w := &addrLog{want: make(map[netip.Addr]int, len(addrs)), added: make([]time.Time, len(addrs)),
		gone: make([]time.Time, len(addrs)), present: make([]bool, len(addrs)), done: make(chan struct{})}
	for i, a := range addrs {
		w.want[a] = i
	}
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	ch := make(chan netlink.AddrUpdate, 4096)
	err = netlink.AddrSubscribeWithOptions(ch, w.done, netlink.AddrSubscribeOptions{Namespace: &h,
		ReceiveBufferSize: 64 << 20, ReceiveBufferForceSize: true,
		ErrorCallback: func(err error) {
			w.mu.Lock()
			if w.lost == nil {
				w.lost = err
			}
			w.mu.Unlock()
		}})
	if err != nil {
		return nil, fmt.Errorf("subscribe to addresses in %s: %w", n.Name, err)
	}
	go func() {
		for u := range ch {
			at := time.Now()
			a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			w.mu.Lock()
			if i, ok := w.want[a.Unmap()]; ok {
				w.evs++
				if u.NewAddr {
					if !w.present[i] {
						w.present[i] = true
						w.nAdded++
					}
					w.added[i] = at
				} else {
					if w.present[i] {
						w.present[i] = false
						w.nAdded--
					}
					w.gone[i] = at
				}
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *addrLog) close() { close(w.done) }

func (w *addrLog) count() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nAdded, w.lost
}

// span is the earliest and the latest add (or removal) at or after since
// among all addresses, and how many addresses have one.
func (w *addrLog) span(since time.Time, added bool) (first, last time.Time, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts := w.gone
	if added {
		ts = w.added
	}
	for _, t := range ts {
		if !t.Before(since) {
			n++
			if t.After(last) {
				last = t
			}
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
	}
	return first, last, n
}

// announceLog records, per address, the first gratuitous ARP (RFC 5227
// section 3) or unsolicited neighbour advertisement (RFC 4861 section
// 4.4) seen after a mark, and the first advert of the big instance at the
// new master's priority: the moment it decided.
type announceLog struct {
	mu       sync.Mutex
	want     map[netip.Addr]int
	since    time.Time
	first    []time.Time
	decided  time.Time
	bigPrio  uint8
	idle     *JitterMeter // bystanders before the mark
	handover *JitterMeter // bystanders after it
}

func (a *announceLog) add(p Packet) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if key, prio, ok := ParseAdvert(p.Data); ok {
		switch {
		case key.VRID == vipsBigVRID:
			if !a.since.IsZero() && a.decided.IsZero() && prio == a.bigPrio && p.At.After(a.since) {
				a.decided = p.At
			}
		case a.since.IsZero():
			a.idle.Add(p)
		default:
			a.handover.Add(p)
		}
		return
	}
	if a.since.IsZero() || p.At.Before(a.since) {
		return
	}
	ip, ok := announced(p.Data)
	if !ok {
		return
	}
	if i, ok := a.want[ip]; ok && a.first[i].IsZero() {
		a.first[i] = p.At
	}
}

func (a *announceLog) mark(t time.Time) {
	a.mu.Lock()
	a.since = t
	a.mu.Unlock()
}

func (a *announceLog) result() (decided, last time.Time, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.first {
		if !t.IsZero() {
			n++
			if t.After(last) {
				last = t
			}
		}
	}
	return a.decided, last, n
}

// announced returns the address a frame announces: the sender (= target)
// protocol address of a gratuitous ARP, or the target of an ICMPv6
// neighbour advertisement (type 136).
func announced(f []byte) (netip.Addr, bool) {
	if len(f) < 14 {
		return netip.Addr{}, false
	}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0806:
		p := f[14:]
		if len(p) < 28 || binary.BigEndian.Uint16(p[2:4]) != 0x0800 {
			return netip.Addr{}, false
		}
		spa, tpa := netip.AddrFrom4([4]byte(p[14:18])), netip.AddrFrom4([4]byte(p[24:28]))
		return spa, spa == tpa
	case 0x86dd:
		p := f[14:]
		if len(p) < 40+24 || p[6] != 58 || p[40] != 136 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16([16]byte(p[48:64])), true
	}
	return netip.Addr{}, false
}

// rssKiB sums VmRSS over the daemon's process tree.
func (d *Daemon) rssKiB() (int, error) {
	pids, err := d.tree()
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				v, _ := strconv.Atoi(f[1])
				sum += v
			}
		}
	}
	return sum, nil
}

// bystanderTransitions counts the transitions a daemon logged after mark
// for instances other than BIG.
func (d *Daemon) bystanderTransitions(mark int64) int {
	n := 0
	for _, line := range d.logSince(mark) {
		if strings.Contains(line, "BY_") && d.isTransition(line) {
			n++
		}
	}
	return n
}

// VIPs runs one cell for one daemon: host 1 starts alone and takes every
// instance (startup time: to all N addresses in and every instance
// MASTER), host 2 joins and takes its even-VRID bystanders, an idle stretch
// measures the bystanders' advert gaps, then track_file lowers host 1's big
// instance and host 2 takes it over. Timestamps: adverts and announcements
// from a capture of host 2's bridge port (kernel time), addresses from
// rtnetlink events in each host (time of arrival at the benchmark).
func (r *Runner) VIPs(ctx context.Context, c VIPsCase, kind Kind) error {
	scen := c.Name()
	r.logf("%s: %s", scen, kind)
	l, err := r.sub()
	if err != nil {
		return err
	}
	defer l.Close()
	lan, err := l.NewLAN(2, nil)
	if err != nil {
		return err
	}
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	for _, h := range lan.Hosts {
		// The big instance's IPv6 addresses are usable at once (no
		// duplicate address detection), as keepalived adds them.
		_ = h.Sysctl("net.ipv6.conf.eth0.accept_dad", "0")
	}
	addrs := c.Addrs()
	track := filepath.Join(l.Dir, "track-h1")
	if err := os.WriteFile(track, []byte("0\n"), 0o644); err != nil {
		return err
	}
	w1, err := newAddrLog(h1.NS, addrs)
	if err != nil {
		return err
	}
	defer w1.close()
	w2, err := newAddrLog(h2.NS, addrs)
	if err != nil {
		return err
	}
	defer w2.close()
	wait := 60*time.Second + time.Duration(c.N)*20*time.Millisecond
	instances := c.Bystanders + 1
	res := r.Results

	start := time.Now()
	d1, err := l.StartDaemon(r.Tools, kind, h1, vipsConf(1, c, addrs, track))
	if err != nil {
		return err
	}
	defer d1.Stop(30 * time.Second)
	err = poll(ctx, wait, 5*time.Millisecond, func() error {
		if d1.Exited() {
			return fmt.Errorf("%s exited", kind)
		}
		if n, lost := w1.count(); n < c.N || lost != nil {
			return fmt.Errorf("%s on %s: %d of %d addresses in (%v)", kind, h1.Name, n, c.N, lost)
		}
		return d1.WaitMasters(ctx, instances, 0)
	})
	if err != nil {
		return fmt.Errorf("%s %s startup: %w; log ends: %s", scen, kind, err, d1.LogTail(1500))
	}
	startup := time.Since(start)
	rss1, _ := d1.rssKiB()
	d2, err := l.StartDaemon(r.Tools, kind, h2, vipsConf(2, c, addrs, track))
	if err != nil {
		return err
	}
	defer d2.Stop(30 * time.Second)
	host2 := 0
	for _, vrid := range c.bystanderVRIDs() {
		if vrid%2 == 0 {
			host2++
		}
	}
	if err := d2.WaitMasters(ctx, host2, wait); err != nil {
		return fmt.Errorf("%s %s: host 2's bystanders: %w", scen, kind, err)
	}
	if err := sleep(ctx, settle(c.BystanderInt)); err != nil {
		return err
	}
	rss2, _ := d2.rssKiB()

	ann := &announceLog{want: w2.want, first: make([]time.Time, c.N), bigPrio: 100,
		idle: NewJitterMeter(c.BystanderInt), handover: NewJitterMeter(c.BystanderInt)}
	capt, err := l.StartCapture(lan.Bridge, h2.Port, "arp or icmp6 or ip proto 112", ann.add)
	if err != nil {
		return err
	}
	defer capt.Stop()
	m1, m2 := d1.LogSize(), d2.LogSize()
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	trigger := time.Now()
	ann.mark(trigger)
	if err := os.WriteFile(track, []byte("1\n"), 0o644); err != nil {
		return err
	}
	drops0, err := lan.QueueDrops()
	if err != nil {
		return err
	}
	err = poll(ctx, wait, 10*time.Millisecond, func() error {
		_, _, in2 := w2.span(trigger, true)
		_, _, out1 := w1.span(trigger, false)
		_, lastAnn, na := ann.result()
		// A daemon that lost some announcements sends no more of them
		// once its addresses are in: 5 s of silence ends the wait.
		if in2 < c.N || out1 < c.N || na < c.N && (lastAnn.IsZero() || time.Since(lastAnn) < 5*time.Second) {
			return fmt.Errorf("%s %s: after %v, %d of %d addresses added on host 2, %d removed on host 1, %d announced",
				scen, kind, time.Since(trigger).Round(time.Millisecond), in2, c.N, out1, na)
		}
		return nil
	})
	handoverErr := err
	// Bystanders keep running for a while after the last address moved.
	_ = sleep(ctx, 2*time.Second)
	capt.Stop()
	drops1, err := lan.QueueDrops()
	if err != nil {
		return err
	}
	decided, lastAnn, nAnn := ann.result()
	firstIn, lastIn, nIn := w2.span(trigger, true)
	firstOut, lastOut, nOut := w1.span(trigger, false)
	_, lost1 := w1.count()
	_, lost2 := w2.count()
	if decided.IsZero() {
		return fmt.Errorf("%s %s: host 2 never advertised the big instance as master: %v", scen, kind, handoverErr)
	}
	// Overlap: for each address, how long both hosts held it.
	var overlap time.Duration
	worst := -1 // the address of the longest overlap, for the log
	w1.mu.Lock()
	w2.mu.Lock()
	for i := range addrs {
		in, out := w2.added[i], w1.gone[i]
		if !in.IsZero() && !out.IsZero() && in.After(trigger) && (worst < 0 || out.Sub(in) > overlap) {
			overlap, worst = out.Sub(in), i
		}
	}
	var worstIn, worstOut time.Time
	if worst >= 0 {
		worstIn, worstOut = w2.added[worst], w1.gone[worst]
	}
	still := 0
	for i := range addrs {
		if w1.gone[i].IsZero() || w1.gone[i].After(decided.Add(3*time.Second)) {
			still++
		}
	}
	w2.mu.Unlock()
	w1.mu.Unlock()

	sec := func(t time.Time) float64 { return t.Sub(decided).Seconds() * 1000 }
	res.Set(scen, "startup: start → all addresses in and every instance MASTER", "ms", kind, ms(startup))
	res.Set(scen, "RSS of the master at startup", "MiB", kind, float64(rss1)/1024)
	res.Set(scen, "RSS of the backup", "MiB", kind, float64(rss2)/1024)
	res.Set(scen, "new master: decision → all addresses in", "ms", kind, sec(lastIn))
	res.Set(scen, "new master: decision → all announced", "ms", kind, sec(lastAnn))
	res.Set(scen, "handover: decision → all in and announced", "ms", kind, sec(maxTime(lastIn, lastAnn)))
	res.Set(scen, "old master: decision → all removed", "ms", kind, sec(lastOut))
	res.Set(scen, "old master's addresses 3 s after the decision", "count", kind, float64(still))
	res.Set(scen, "longest overlap of one address on both hosts", "ms", kind, ms(max(overlap, 0)))
	res.Set(scen, "addresses announced (GARP/NA seen)", "count", kind, float64(nAnn))
	res.Set(scen, "frames the lab's queues dropped during the handover", "count", kind, float64(drops1-drops0))
	res.Set(scen, "bystanders' false transitions", "count", kind, float64(d1.bystanderTransitions(m1)+d2.bystanderTransitions(m2)))
	idle, during := ann.idle.Dist(), ann.handover.Dist()
	res.Set(scen, "bystanders' advert gap error p99 idle", "ms", kind, ms(idle.P99))
	res.Set(scen, "bystanders' advert gap error p99 during handover", "ms", kind, ms(during.P99))
	res.Set(scen, "bystanders' advert gap error max during handover", "ms", kind, ms(during.Max))
	if dr := capt.Dropped(); dr > 0 {
		res.Note(scen, "addresses announced (GARP/NA seen)", fmt.Sprintf("%s: capture dropped %d", kind, dr))
	}
	if lost1 != nil || lost2 != nil {
		res.Note(scen, "new master: decision → all addresses in", fmt.Sprintf("%s: address events lost: %v %v", kind, lost1, lost2))
	}
	r.logf("  %s: decided %s after the trigger; in %d (first +%.0f, last +%.0f ms), announced %d (last +%.0f ms), removed %d (first +%.0f, last +%.0f ms), overlap %v (address %d: in +%.0f, out +%.0f ms), 3 s later %d left, startup %v, RSS %d/%d KiB, gap p99 idle %v during %v (max %v)",
		kind, decided.Sub(trigger).Round(time.Millisecond), nIn, sec(firstIn), sec(lastIn), nAnn, sec(lastAnn), nOut, sec(firstOut), sec(lastOut),
		overlap.Round(time.Millisecond), worst, sec(worstIn), sec(worstOut), still, startup.Round(time.Millisecond), rss1, rss2, idle.P99, during.P99, during.Max)
	if nAnn < c.N {
		// Not a failure of the run: what the daemon did is the figure.
		res.Note(scen, "new master: decision → all announced", fmt.Sprintf("%s: only %d of %d announced (its last announcement is the time)", kind, nAnn, c.N))
	}
	return handoverErr
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
