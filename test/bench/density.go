package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DensityCase is one cell of scenario 1.
type DensityCase struct {
	Name     string // e.g. "255x1 100ms"
	VLANs    []int  // nil: the instances run on eth0
	Per      int    // instances per interface
	Interval time.Duration
}

// Layout returns the instances of the case.
func (c DensityCase) Layout() Layout {
	if len(c.VLANs) == 0 {
		return Layout{Ifaces: []string{"eth0"}, Instances: c.Per, Interval: c.Interval}
	}
	ly := Layout{Instances: c.Per, Interval: c.Interval}
	for _, v := range c.VLANs {
		ly.Ifaces = append(ly.Ifaces, fmt.Sprintf("eth0.%d", v))
	}
	return ly
}

// captureEvery is the VRID sampling of the jitter capture: every VRID up to
// 10,000 adverts/s, every 4th above, where tcpdump and the parser would
// otherwise take a tenth of this 2-core machine from the daemons measured.
// Gap statistics are per stream, so a sample of streams estimates them.
func captureEvery(ly Layout) int {
	if ly.Rate() > 10000 {
		return 4
	}
	return 1
}

// Density runs one cell for one daemon: master and backup on a fresh LAN,
// the initial election settled, then for d: the CPU of both daemons, the
// backup's transitions (every one is false: the master is healthy) and the
// gaps between adverts on the master's bridge port.
func (r *Runner) Density(ctx context.Context, c DensityCase, kind Kind, d time.Duration) error {
	ly := c.Layout()
	scen := "density " + c.Name
	r.logf("density %s: %s, %d instances", c.Name, kind, ly.Total())
	p, err := r.startPair(ctx, kind, ly, 2, c.VLANs, false)
	if err != nil {
		return fmt.Errorf("%s %s: %w", scen, kind, err)
	}
	defer p.close()
	if err := sleep(ctx, settle(ly.Interval)); err != nil {
		return err
	}
	jm := NewJitterMeter(ly.Interval)
	every := captureEvery(ly)
	vrids := ""
	if every > 1 {
		// The VRID is the second byte of VRRP, after a 20-byte IP header
		// (adverts carry no IP options).
		vrids = fmt.Sprintf(" and ip[21] %% %d = 0", every)
	}
	capt, err := p.lab.StartCapture(p.lan.Bridge, p.lan.Hosts[0].Port,
		fmt.Sprintf("(ip proto 112%s) or (vlan and ip proto 112%s)", vrids, vrids), jm.Add)
	if err != nil {
		return err
	}
	capts := []*Capture{capt}
	if p.lan.NoVLAN {
		for _, v := range c.VLANs {
			seg := uint16(v)
			ct, err := p.lab.StartCapture(p.lan.Bridge, SegmentPort(p.lan.Hosts[0], v), "ip proto 112"+vrids,
				func(pk Packet) { jm.AddOnSegment(pk, seg) })
			if err != nil {
				return err
			}
			capts = append(capts, ct)
		}
	}
	drops0, err := p.lan.QueueDrops()
	if err != nil {
		return err
	}
	mMark, bMark := p.master.LogSize(), p.backup.LogSize()
	m0, err := p.master.CPU()
	if err != nil {
		return err
	}
	b0, err := p.backup.CPU()
	if err != nil {
		return err
	}
	mc0, err := ReadMachineCPU()
	if err != nil {
		return err
	}
	t0 := time.Now()
	sw := WatchSteal()
	if err := sleep(ctx, d); err != nil {
		sw.Stop()
		return err
	}
	steal, stealWorst, stealWorstAt := sw.Stop()
	m1, err1 := p.master.CPU()
	b1, err2 := p.backup.CPU()
	wall := time.Since(t0).Seconds()
	mc1, _ := ReadMachineCPU()
	machine := mc1.BusyCores(mc0)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%s %s: a daemon died during the run: %v %v\nmaster: %s\nbackup: %s", scen, kind, err1, err2, p.master.LogTail(1500), p.backup.LogTail(1500))
	}
	drops1, err := p.lan.QueueDrops()
	if err != nil {
		return err
	}
	var dropped int64
	for _, ct := range capts {
		ct.Stop()
		dropped += max(ct.Dropped(), 0)
	}
	bToMaster, bOther := p.backup.TransitionsSince(bMark)
	_, mOther := p.master.TransitionsSince(mMark)
	mCPU := 100 * m1.Sub(m0).Total() / wall
	bCPU := 100 * b1.Sub(b0).Total() / wall
	jd := jm.Dist()
	res := r.Results
	res.Set(scen, "master CPU", "% of a core", kind, mCPU)
	res.Set(scen, "backup CPU", "% of a core", kind, bCPU)
	res.Set(scen, "false transitions on backup", "count", kind, float64(bToMaster+bOther))
	res.Set(scen, "whole machine busy (every process)", "% of a core", kind, machine)
	res.Set(scen, "frames the lab's queues dropped", "count", kind, float64(drops1-drops0))
	res.Set(scen, "CPU the hypervisor took (steal)", "% of the machine", kind, 100*steal)
	res.Set(scen, "steal in the worst 100 ms", "% of the machine", kind, 100*stealWorst)
	res.Set(scen, "advert gap error p50", "ms", kind, ms(jd.P50))
	res.Set(scen, "advert gap error p99", "ms", kind, ms(jd.P99))
	res.Set(scen, "advert gap error max", "ms", kind, ms(jd.Max))
	if p.lan.NoVLAN {
		res.Note(scen, "master CPU", "no 802.1Q in this kernel: 4 separate veths and bridges instead of VLANs")
	}
	wantStreams := ly.Total()
	if every > 1 {
		wantStreams = len(ly.Ifaces) * (ly.Instances / every)
		res.Note(scen, "advert gap error p99", fmt.Sprintf("gaps of every %dth VRID (%d streams): capturing all %d adverts/s would take the CPU being measured", every, wantStreams, int(ly.Rate())))
	}
	if jm.Streams() != wantStreams {
		res.Note(scen, "advert gap error p50", fmt.Sprintf("%s: %d of %d VRIDs seen on the wire", kind, jm.Streams(), wantStreams))
	}
	if dropped > 0 {
		res.Note(scen, "advert gap error p50", fmt.Sprintf("%s: capture dropped %d", kind, dropped))
	}
	if mOther > 0 {
		res.Note(scen, "false transitions on backup", fmt.Sprintf("%s master left MASTER %d times", kind, mOther))
	}
	if bToMaster+bOther > 0 || mOther > 0 {
		// What the next person needs to find the cause: when the
		// transitions started and why, and what each daemon warned about
		// (xvrrpd reports late timers, with how late).
		r.logf("    %s: the worst 100 ms of steal (%.0f%% of the machine) ended at %s", kind, 100*stealWorst, stealWorstAt.UTC().Format("15:04:05.000"))
		for _, d := range []struct {
			name string
			dm   *Daemon
			mark int64
		}{{"backup", p.backup, bMark}, {"master", p.master, mMark}} {
			for _, l := range d.dm.LinesSince(d.mark, 5, func(s string) bool {
				return d.dm.isTransition(s) || strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR")
			}) {
				r.logf("    %s %s: %s", kind, d.name, l)
			}
		}
	}
	key := fmt.Sprintf("%s %v", kind, ly.Interval)
	res.mu.Lock()
	res.CPUSeries[key] = append(res.CPUSeries[key], [2]float64{float64(ly.Total()), mCPU + bCPU})
	res.mu.Unlock()
	r.logf("  %s: queue drops %d, machine busy %.0f%% (steal %.1f%%, worst 100 ms %.0f%%), CPU master %.1f%% backup %.1f%%, backup transitions %d, gaps n=%d p50 %v p99 %v max %v, adverts %d in %d streams",
		kind, drops1-drops0, machine, 100*steal, 100*stealWorst, mCPU, bCPU, bToMaster+bOther, jd.N, jd.P50, jd.P99, jd.Max, jm.Adverts, jm.Streams())
	return nil
}
