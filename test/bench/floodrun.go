package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// floodResult is what xvrrp-flood prints when it is done.
type floodResult struct {
	Sent    uint64  `json:"sent"`
	Seconds float64 `json:"seconds"`
	PPS     float64 `json:"pps"`
}

// rxPackets reads an interface's received-packet counter inside n.
func rxPackets(n *NS, ifname string) (uint64, error) {
	out, err := exec.Command("ip", "-n", n.Name, "-s", "-j", "link", "show", ifname).Output()
	if err != nil {
		return 0, fmt.Errorf("ip -s link show %s in %s: %w", ifname, n.Name, err)
	}
	var links []struct {
		Stats struct {
			RX struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("parse ip -s -j link output: %v", err)
	}
	return links[0].Stats.RX.Packets, nil
}

// xdpCounters sums the dataplane's per-reason counters over the daemon's
// interfaces (nil for keepalived).
func xdpCounters(d *Daemon) (map[string]uint64, error) {
	doc, err := d.Status()
	if err != nil || doc == nil {
		return nil, err
	}
	sum := map[string]uint64{}
	for _, ifc := range doc.Interfaces {
		for k, v := range ifc.Counters {
			sum[k] += v
		}
	}
	return sum, nil
}

// Flood runs scenario 3 for one daemon: 255 instances at 100 ms, an idle
// window, then the flood from a third host at the backup's MAC address.
func (r *Runner) Flood(ctx context.Context, kind Kind, c Config) error {
	ly := Layout{Ifaces: []string{"eth0"}, Instances: 255, Interval: 100 * time.Millisecond}
	scen := "flood 255×eth0 @100ms"
	r.logf("%s: %s, idle %v then flood %v", scen, kind, c.FloodIdle, c.FloodDuration)
	// The flooder's veth pays for each frame's receive (the kernel's
	// default wiring): the fabric then never drops, at the bridge or the
	// backup's queue, what the backup could not take; every flood frame
	// reaches the backup's XDP program, and the master's adverts are not
	// lost in a queue the flood filled (a lab artifact: a switch port
	// would not be saturated by this machine's rate).
	p, err := r.startPair(ctx, kind, ly, 3, nil, true)
	if err != nil {
		return fmt.Errorf("%s %s: %w", scen, kind, err)
	}
	defer p.close()
	mh, bh, fh := p.lan.Hosts[0], p.lan.Hosts[1], p.lan.Hosts[2]
	// Teach the bridge where the backup's MAC is, so the flood (unicast to
	// that MAC) reaches the backup and nobody else.
	if out, err := fh.Command("ping", "-c", "1", "-W", "2", bh.V4).CombinedOutput(); err != nil {
		return fmt.Errorf("ping the backup from the flood host: %v: %s", err, out)
	}
	if err := sleep(ctx, settle(ly.Interval)); err != nil {
		return err
	}
	// Two CPUs or more: the backup runs on CPU 0 and the flooder on CPU 1.
	// This kernel has no IRQ time accounting, so the softirq that receives a
	// flood frame is charged to whatever task it interrupts; with the
	// flooder paying for each frame's receive (shared-rx, above) on its own
	// CPU, the backup's figures are its own work, as on a host whose NIC
	// interrupts land on other cores than the daemon's.
	floodCPU := -1
	if runtime.NumCPU() >= 2 {
		if err := p.backup.PinTo(0); err != nil {
			return err
		}
		floodCPU = 1
		r.Results.Note(scen, "backup CPU flood/idle (on-CPU)", "backup pinned to CPU 0, flooder to CPU 1")
	}
	type usage struct {
		cpu   CPUTimes
		onCPU time.Duration
		wall  float64
	}
	window := func(d time.Duration, during func() error) (u usage, transitions int, err error) {
		mark := p.backup.LogSize()
		c0, err := p.backup.CPU()
		if err != nil {
			return u, 0, err
		}
		o0, err := p.backup.OnCPU()
		if err != nil {
			return u, 0, err
		}
		t0 := time.Now()
		if err := during(); err != nil {
			return u, 0, err
		}
		c1, err := p.backup.CPU()
		if err != nil {
			return u, 0, fmt.Errorf("backup died: %w: %s", err, p.backup.LogTail(1500))
		}
		o1, err := p.backup.OnCPU()
		if err != nil {
			return u, 0, err
		}
		a, b := p.backup.TransitionsSince(mark)
		return usage{c1.Sub(c0), o1 - o0, time.Since(t0).Seconds()}, a + b, nil
	}
	idle, idleTr, err := window(c.FloodIdle, func() error { return sleep(ctx, c.FloodIdle) })
	if err != nil {
		return fmt.Errorf("%s %s idle: %w", scen, kind, err)
	}
	x0, err := xdpCounters(p.backup)
	if err != nil {
		return err
	}
	rx0, err := rxPackets(bh.NS, "eth0")
	if err != nil {
		return err
	}
	var fr floodResult
	mc0, err := ReadMachineCPU()
	if err != nil {
		return err
	}
	flood, floodTr, err := window(c.FloodDuration, func() error {
		cmd := fh.Command(c.FloodBin, "--netns", fh.Name, "--iface", "eth0", "--dst-mac", bh.MAC, "--cpu", fmt.Sprint(floodCPU),
			"--master-ip", mh.V4, "--master-priority", fmt.Sprint(masterPriority), "--vip-base", "198.18.2.0",
			"--vrids", "255", "--interval", ly.Interval.String(), "--duration", c.FloodDuration.String())
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				if cmd.Process != nil {
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
			case <-done:
			}
		}()
		out, err := cmd.Output()
		close(done)
		if err != nil {
			return fmt.Errorf("xvrrp-flood: %v: %s", err, stderr.String())
		}
		return json.Unmarshal(out, &fr)
	})
	if err != nil {
		return fmt.Errorf("%s %s flood: %w", scen, kind, err)
	}
	mc1, _ := ReadMachineCPU()
	rx1, err := rxPackets(bh.NS, "eth0")
	if err != nil {
		return err
	}
	x1, err := xdpCounters(p.backup)
	if err != nil {
		return err
	}
	res := r.Results
	idleUser := 100 * idle.cpu.User / idle.wall
	floodUser := 100 * flood.cpu.User / flood.wall
	res.Set(scen, "backup user CPU idle", "% of a core", kind, idleUser)
	res.Set(scen, "backup user CPU under flood", "% of a core", kind, floodUser)
	// /proc counts in 10 ms ticks: an idle figure under one tick has no
	// meaningful ratio; the on-CPU rows below resolve it.
	ratio := math.NaN()
	if idle.cpu.User >= 1.0/clockTicks {
		ratio = floodUser / idleUser
	} else {
		res.Note(scen, "backup user CPU idle", fmt.Sprintf("%s: idle user CPU below one /proc tick over %v", kind, c.FloodIdle))
	}
	res.Set(scen, "backup user CPU flood/idle", "×", kind, ratio)
	idleOn := 100 * idle.onCPU.Seconds() / idle.wall
	floodOn := 100 * flood.onCPU.Seconds() / flood.wall
	res.Set(scen, "backup CPU idle (on-CPU, user + system)", "% of a core", kind, idleOn)
	res.Set(scen, "backup CPU under flood (on-CPU, user + system)", "% of a core", kind, floodOn)
	res.Set(scen, "backup CPU flood/idle (on-CPU)", "×", kind, floodOn/idleOn)
	res.Set(scen, "backup system CPU under flood", "% of a core", kind, 100*flood.cpu.System/flood.wall)
	res.Set(scen, "false transitions on backup (idle + flood)", "count", kind, float64(idleTr+floodTr))
	res.Set(scen, "flood sent", "kpps", kind, fr.PPS/1000)
	res.Set(scen, "whole machine busy during flood", "% of a core", kind, mc1.BusyCores(mc0))
	res.Set(scen, "flood received by backup eth0", "kpps", kind, float64(rx1-rx0)/flood.wall/1000)
	if kind == Xvrrpd {
		var names []string
		var dropped uint64
		for k, v := range x1 {
			if d := v - x0[k]; d > 0 && k != "accepted" && k != "not_vrrp" {
				dropped += d
				names = append(names, fmt.Sprintf("%s %d", k, d))
			}
		}
		res.Set(scen, "XDP counted (not accepted) during flood", "packets", kind, float64(dropped))
		if len(names) > 0 {
			res.Note(scen, "XDP counted (not accepted) during flood", strings.Join(names, ", "))
		}
		if acc, ok := x1["accepted"]; ok {
			res.Set(scen, "XDP accepted during flood", "packets", kind, float64(acc-x0["accepted"]))
		}
	}
	res.Note(scen, "backup user CPU flood/idle", "target xvrrpd ≤ 2×")
	res.Note(scen, "backup CPU flood/idle (on-CPU)", "target xvrrpd ≤ 2× (user time is part of it)")
	r.logf("  %s: user CPU idle %.2f%% flood %.2f%% (sys %.2f%%), on-CPU idle %.3f%% flood %.3f%%, transitions idle %d flood %d, flood %.0f pps sent, %.0f pps received; XDP %v",
		kind, idleUser, floodUser, 100*flood.cpu.System/flood.wall, idleOn, floodOn, idleTr, floodTr, fr.PPS, float64(rx1-rx0)/flood.wall, x1)
	return nil
}
