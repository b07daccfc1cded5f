package daemon

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/control/track"
	"github.com/xvrrp/xvrrp/loader"
	"github.com/xvrrp/xvrrp/vip"
)

// Status returns the complete current status document. It is what the
// control socket serves, what metrics are computed from at scrape time and
// what the SIGUSR dumps print.
//
// What it asks the kernel (the host's links and addresses: two netlink
// dumps) it asks before taking d.mu: a dump waits whenever another process
// holds rtnl_lock (a namespace with hundreds of addresses being deleted
// holds it for a long while), and under d.mu that wait held every advert
// and timer of the daemon, while the timers' own lateness report saw
// nothing (the scheduler took them on time).
func (d *Daemon) Status() *status.Document {
	host := readHost()
	d.mu.Lock()
	defer d.mu.Unlock()
	doc := &status.Document{
		Version:    d.opts.Version,
		RouterID:   d.cfg.Global.RouterID,
		ConfigFile: d.opts.ConfigFile,
		PID:        os.Getpid(),
		Started:    d.started,
		Reload:     d.reload,
		Warnings:   slices.Clone(d.warns),
	}
	if doc.RouterID == "" {
		doc.RouterID, _ = os.Hostname()
	}
	names := make([]string, 0, len(d.byName))
	for n := range d.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		doc.Instances = append(doc.Instances, d.instanceStatus(d.byName[n], host.addrs))
	}
	gnames := make([]string, 0, len(d.groups))
	for n := range d.groups {
		gnames = append(gnames, n)
	}
	slices.Sort(gnames)
	for _, n := range gnames {
		g := d.groups[n]
		sg := status.SyncGroup{Name: n, State: g.g.State().String()}
		for _, m := range g.members {
			sg.Members = append(sg.Members, m.cfg.Name)
		}
		doc.SyncGroups = append(doc.SyncGroups, sg)
	}
	inames := make([]string, 0, len(d.ifaces))
	for n := range d.ifaces {
		inames = append(inames, n)
	}
	slices.Sort(inames)
	for _, n := range inames {
		ifc := d.ifaces[n]
		si := status.Interface{Name: n, Index: ifc.index, Missing: !ifc.present}
		if ifc.attached() && ifc.present && host.attached(ifc.index, n) {
			// What the kernel says, not what was done: an interface
			// deleted a moment ago has nothing attached any more.
			si.Attach = ifc.mode.String()
			si.XDPMode = si.Attach
		}
		if c, err := d.dp.Counters(n); err == nil {
			si.Counters = map[string]uint64{}
			for _, reason := range loader.Reasons() {
				si.Counters[reason.String()] = c[reason]
			}
		}
		doc.Interfaces = append(doc.Interfaces, si)
	}
	doc.Dataplane.PinDir = d.opts.PinDir
	d.staticStatus(doc)
	doc.Timers = status.Timers{LateBatches: d.late.batches, MaxLateness: status.Duration(d.late.max)}
	if c, err := d.dp.TotalCounters(); err == nil {
		doc.Dataplane.RingLost = c[loader.ReasonRingFull]
	}
	return doc
}

func (d *Daemon) instanceStatus(r *instance, present map[string]struct{}) status.Instance {
	m := r.m
	st := status.Instance{
		Name:                 r.cfg.Name,
		Interface:            r.cfg.Interface,
		VRID:                 r.cfg.VRID,
		Family:               r.familyName(),
		Version:              r.cfg.Version,
		Unicast:              r.cfg.Unicast(),
		State:                m.State().String(),
		Since:                r.since,
		Reason:               r.reason,
		BasePriority:         r.cfg.Priority,
		EffectivePriority:    int(m.EffectivePriority()),
		AdvertInterval:       status.Duration(r.cfg.AdvertInterval),
		MasterAdvertInterval: status.Duration(m.MasterAdverInterval()),
		MasterDownInterval:   status.Duration(m.MasterDownInterval()),
		FaultReasons:         m.FaultReasons(),
		Transitions:          slices.Clone(r.transitions),
		LastAdvert:           r.lastAdvert,
		Errors:               map[string]uint64{},
	}
	if r.group != nil {
		st.SyncGroup = r.group.cfg.Name
	}
	switch {
	case m.State() == fsm.StateMaster:
		st.Master = "self"
	default:
		if a, p := m.Master(); a.IsValid() {
			st.Master, st.MasterPriority = a.String(), int(p)
		}
	}
	stats := m.Stats()
	st.AdvertsSent, st.AdvertsReceived = stats.AdvertsSent, stats.AdvertsReceived
	st.SplitBrains, st.LowerPrioReannouncements = stats.LowerPriorityReceived, r.reannounced
	// The master's repeats the XDP program recorded (repeats) count as
	// received, and the latest is the last advert heard.
	extra, last := d.pendingRepeats(r, time.Now())
	st.AdvertsReceived += extra
	if last.After(st.LastAdvert) {
		st.LastAdvert = last
	}
	for why, n := range r.refused {
		if n > 0 {
			st.Errors[advert.Reason(why).Metric()] = n
		}
	}
	for k, n := range r.errs {
		if n > 0 {
			st.Errors[errKindNames[k]] = n
		}
	}
	for _, v := range r.vips {
		_, ok := present[v.Dev+" "+v.Prefix.Addr().String()]
		st.VIPs = append(st.VIPs, status.VIP{Address: v.Prefix.String(), Dev: v.Dev, NoTrack: v.NoTrack, Present: ok})
	}
	for kv, n := range r.counts {
		st.TransitionCounts = append(st.TransitionCounts, status.TransitionCount{From: kv.from, To: kv.to, Cause: kv.cause, Count: n})
	}
	slices.SortFunc(st.TransitionCounts, func(a, b status.TransitionCount) int {
		return strings.Compare(a.From+a.To+a.Cause, b.From+b.To+b.Cause)
	})
	d.routeStatus(r, &st)
	st.Trackers = d.trackers.instanceTrackers(r)
	return st
}

// hostView is what Status asks the kernel: the links (name and whether XDP
// is attached, by index) and the addresses as "dev addr" keys, to report
// what is really there (not merely believed to be). A failed dump leaves
// its part empty: nothing is claimed present.
type hostView struct {
	links map[int]hostLink
	addrs map[string]struct{}
}

type hostLink struct {
	name string
	xdp  bool
}

func (h hostView) attached(index int, name string) bool {
	l, ok := h.links[index]
	return ok && l.name == name && l.xdp
}

// readHost takes two dumps (every link, every address), whatever the number
// of instances and VIPs.
func readHost() hostView {
	h := hostView{links: map[int]hostLink{}, addrs: map[string]struct{}{}}
	links, err := netlink.LinkList()
	if err != nil {
		return h
	}
	for _, l := range links {
		a := l.Attrs()
		h.links[a.Index] = hostLink{name: a.Name, xdp: a.Xdp != nil && a.Xdp.Attached}
	}
	addrs, err := vip.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return h
	}
	for _, a := range addrs {
		if l, ok := h.links[a.LinkIndex]; ok {
			h.addrs[l.name+" "+a.IP.String()] = struct{}{}
		}
	}
	return h
}

// instanceTrackers reports r's trackers for status (under d.mu).
func (t *trackerSet) instanceTrackers(r *instance) []status.Tracker {
	var out []status.Tracker
	for _, ref := range r.refs() {
		u := t.update(ref)
		c := track.Contribute(u, ref.ContributionWeight())
		st := status.Tracker{Kind: kindName(ref.Kind), Name: ref.Name, Weight: ref.Weight, Delta: c.Delta, Fault: c.Fault, Detail: u.Reason}
		switch {
		case u.Insecure != "":
			st.Status, st.Insecure, st.Detail = "insecure", true, u.Insecure
		case u.Init:
			st.Status = "init"
		case ref.Kind == track.KindFile:
			st.Status = "ok"
			if c.Fault {
				st.Status = "failed"
			}
			if st.Detail == "" {
				st.Detail = fmt.Sprintf("value %d", u.Value)
			}
		case u.OK:
			st.Status = "ok"
		default:
			st.Status = "failed"
		}
		if ref.Kind == track.KindScript && t.run != nil {
			if s := t.run.scripts[ref.Name]; s != nil {
				ss := s.Status()
				st.LastRun = ss.LastRun
				if ss.LastError != "" && st.Detail == "" {
					st.Detail = ss.LastError
				}
				if n := t.run.stats[ref.Name]; n != nil {
					st.Failures = map[string]uint64{"timeout": n.timeout.Load(), "exit_code": n.exitCode.Load(), "exec_error": n.execError.Load()}
					counted := n.timeout.Load() + n.exitCode.Load() + n.execError.Load()
					if ss.Failures > counted {
						// Runs refused by the security check fail without
						// reaching the executor.
						st.Failures["insecure"] = ss.Failures - counted
					}
				}
			}
		}
		out = append(out, st)
	}
	return out
}

func kindName(k track.Kind) string {
	switch k {
	case track.KindScript:
		return "script"
	case track.KindFile:
		return "file"
	case track.KindProcess:
		return "process"
	}
	return "interface"
}
